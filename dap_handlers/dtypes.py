"""How numpy dtypes are sent over DAP2.

DAP2 has the base types Byte (unsigned 8-bit), Int16, UInt16, Int32, UInt32, Float32, Float64,
String and Url; there is no Int8, Int64, UInt64, Char or boolean. The map below never narrows a
value silently:

=====================  ===========  ==========================================================
numpy dtype            DAP2 type    on the wire (XDR, big-endian)
=====================  ===========  ==========================================================
float64                Float64      8 bytes
float32                Float32      4 bytes
float16                Float32      widened, exact
int32 / uint32         Int32/UInt32 4 bytes
int16 / uint16         Int16/UInt16 widened to 4 bytes (DAP2 XDR rule)
int8                   Int16        widened to 4 bytes; netCDF-C reads it as ``short``
uint8                  Byte         1 byte, arrays padded to a multiple of 4
bool                   Byte         0 or 1
int64 / uint64         Float64      exact up to 2**53; the DAS adds ``dap_source_type``
                                    (``"int64"``/``"uint64"``) so a reader can tell, and a
                                    value beyond +-2**53 aborts the response instead of being
                                    rounded (a truncated body, never a wrong number)
str (``U``), object,   String       UTF-8; length word, bytes, padding to 4
bytes (``S``)
=====================  ===========  ==========================================================

netCDF-C maps the unsigned DAP2 types onto the signed netCDF-3 types of the same width, so the
DAS gives every Byte/UInt16/UInt32 variable ``_Unsigned = "true"``; netCDF4-python and xarray then
return the unsigned values (pydap returns them unsigned anyway).

Anything else (complex, datetime64, structured) is refused with a ``TypeError`` naming the dtype:
convert times to float64 seconds (``seconds since 1900-01-01``) before building a variable.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Largest integer magnitude a float64 holds exactly.
EXACT_FLOAT64_INT = 2**53


@dataclass(frozen=True, slots=True)
class DapType:
    """A DAP2 base type and its XDR encoding.

    Attributes
    ----------
    name : str
        DAP2 type name as written in the DDS/DAS (``"Float64"``).
    wire : numpy.dtype or None
        Big-endian dtype of one element on the wire; ``None`` for String.
    """

    name: str
    wire: np.dtype | None

    @property
    def is_string(self) -> bool:
        return self.wire is None

    @property
    def is_byte(self) -> bool:
        return self.name == "Byte"

    @property
    def wire_size(self) -> int:
        """Bytes per element on the wire (0 for String, whose size varies)."""
        return 0 if self.wire is None else self.wire.itemsize


FLOAT64 = DapType("Float64", np.dtype(">f8"))
FLOAT32 = DapType("Float32", np.dtype(">f4"))
INT32 = DapType("Int32", np.dtype(">i4"))
UINT32 = DapType("UInt32", np.dtype(">u4"))
INT16 = DapType("Int16", np.dtype(">i4"))
UINT16 = DapType("UInt16", np.dtype(">u4"))
BYTE = DapType("Byte", np.dtype("u1"))
STRING = DapType("String", None)

_BY_DTYPE: dict[str, DapType] = {
    "f8": FLOAT64,
    "f4": FLOAT32,
    "f2": FLOAT32,
    "i4": INT32,
    "u4": UINT32,
    "i2": INT16,
    "u2": UINT16,
    "i1": INT16,
    "u1": BYTE,
    "b1": BYTE,
    "i8": FLOAT64,
    "u8": FLOAT64,
}


def is_string_dtype(dtype: np.dtype) -> bool:
    """True for the dtypes sent as DAP String (``U``, ``S`` and ``object``)."""
    return dtype.kind in "USO"


def is_wide_integer(dtype: np.dtype) -> bool:
    """True for int64/uint64, which DAP2 carries as Float64 (exact up to 2**53)."""
    return dtype.kind in "iu" and dtype.itemsize == 8


def dap_type(dtype: np.dtype | type | str) -> DapType:
    """The DAP2 type that carries values of ``dtype``.

    Raises
    ------
    TypeError
        For dtypes DAP2 cannot carry (complex, datetime64, structured, ...).
    """
    dtype = np.dtype(dtype)
    if is_string_dtype(dtype):
        return STRING
    key = f"{dtype.kind}{dtype.itemsize}"
    try:
        return _BY_DTYPE[key]
    except KeyError:
        raise TypeError(
            f"dtype {dtype} cannot be served over DAP2; convert it to a numeric or string dtype "
            "(times as float64 seconds since 1900-01-01)"
        ) from None
