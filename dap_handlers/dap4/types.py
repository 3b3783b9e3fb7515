"""How numpy dtypes are sent over DAP4: every integer width natively, little-endian.

DAP4 has Int8/UInt8 to Int64/UInt64, Float32/Float64 and String, so unlike DAP2 nothing is
widened except float16 (to Float32, exact) and bool (to UInt8, 0 or 1). Fixed-size values go to
the wire as themselves in little-endian order (the chunk headers say so); a String is an 8-byte
little-endian byte count followed by its UTF-8 bytes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dap_handlers.dtypes import is_string_dtype


@dataclass(frozen=True, slots=True)
class Dap4Type:
    """A DAP4 atomic type: its name in the DMR and the little-endian dtype of one element on the
    wire (``None`` for String)."""

    name: str
    wire: np.dtype | None

    @property
    def is_string(self) -> bool:
        return self.wire is None

    @property
    def wire_size(self) -> int:
        """Bytes per element on the wire (0 for String, whose size varies)."""
        return 0 if self.wire is None else self.wire.itemsize


STRING = Dap4Type("String", None)
_BY_KIND: dict[str, Dap4Type] = {
    "f8": Dap4Type("Float64", np.dtype("<f8")),
    "f4": Dap4Type("Float32", np.dtype("<f4")),
    "f2": Dap4Type("Float32", np.dtype("<f4")),
    "i8": Dap4Type("Int64", np.dtype("<i8")),
    "u8": Dap4Type("UInt64", np.dtype("<u8")),
    "i4": Dap4Type("Int32", np.dtype("<i4")),
    "u4": Dap4Type("UInt32", np.dtype("<u4")),
    "i2": Dap4Type("Int16", np.dtype("<i2")),
    "u2": Dap4Type("UInt16", np.dtype("<u2")),
    "i1": Dap4Type("Int8", np.dtype("i1")),
    "u1": Dap4Type("UInt8", np.dtype("u1")),
    "b1": Dap4Type("UInt8", np.dtype("u1")),
}


def dap4_type(dtype: np.dtype | type | str) -> Dap4Type:
    """The DAP4 type that carries values of ``dtype``.

    Raises
    ------
    TypeError
        For dtypes DAP4 cannot carry (complex, datetime64, structured, ...).
    """
    dtype = np.dtype(dtype)
    if is_string_dtype(dtype):
        return STRING
    try:
        return _BY_KIND[f"{dtype.kind}{dtype.itemsize}"]
    except KeyError:
        raise TypeError(f"dtype {dtype} cannot be served over DAP4") from None
