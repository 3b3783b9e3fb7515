"""The parameter dictionary as clean, typed values.

The upstream preload CSVs (``ParameterDefs.csv``, ``ParameterDictionary.csv``,
``ParameterFunctions.csv``, ``BinSizes.csv``, ``nominal_depths.csv``) are read by
:mod:`stream_engine.preload.loader` into these classes; nothing above ``preload/`` sees CSV.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

DEFAULT_BIN_MINUTES = 1440


# -- parameter-function-map sources ------------------------------------------------------------
#
# A function map is ``{argument: source}``. Each source is one of the classes below; a list in
# the dictionary becomes a :class:`Choice` (alternatives in priority order, ``"None"`` in the list
# makes the argument optional).


@dataclass(frozen=True, slots=True)
class Constant:
    """A literal number (or list of numbers) given in the map."""

    value: Any


@dataclass(frozen=True, slots=True)
class Calibration:
    """``CC_<name>``: a calibration coefficient (or deployment location: CC_lat, CC_lon, CC_depth)."""

    name: str  # full name, including the CC_ prefix


@dataclass(frozen=True, slots=True)
class ParameterRef:
    """``PD<n>``: a parameter, taken from the same stream if it has it, else from another stream."""

    id: int


@dataclass(frozen=True, slots=True)
class ProductRef:
    """``dpi_<ID>``: any parameter whose data product identifier is ``<ID>``."""

    dpi: str


@dataclass(frozen=True, slots=True)
class StreamParameterRef:
    """``<stream>.PD<n>``: parameter ``n`` from a named stream."""

    stream: str
    id: int


@dataclass(frozen=True, slots=True)
class Choice:
    """A priority list of sources; with ``optional`` the argument may be left to its default."""

    options: tuple[Source, ...]
    optional: bool = False


Source = Constant | Calibration | ParameterRef | ProductRef | StreamParameterRef | Choice


# -- dictionary entries ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Parameter:
    """One ``PD<n>`` entry."""

    id: int
    name: str
    netcdf_name: str
    parameter_type: str  # quantity, function, array<quantity>, category<int8:str>, boolean, ...
    value_encoding: str  # int8 ... uint64, float32, float64, string, bool
    units: str = ""
    fill_value: Any = None  # typed for value_encoding; see loader for how unreliable values are fixed
    display_name: str = ""
    long_name: str = ""
    standard_name: str = ""
    description: str = ""
    data_product_identifier: str = ""
    data_level: str = ""
    dimensions: tuple[str, ...] = ()
    function_id: int | None = None
    function_map: dict[str, Source] | None = None
    code_set: str = ""
    #: Float values meaning "missing" besides NaN (:func:`~stream_engine.preload.fill_values.float_sentinels`).
    sentinels: tuple[float, ...] = ()

    @property
    def is_function(self) -> bool:
        """A derived product, computed by a parameter function; never stored."""
        return self.function_id is not None

    @property
    def is_array(self) -> bool:
        return self.parameter_type.startswith("array")

    @property
    def dtype(self) -> np.dtype:
        """The numpy dtype of the value encoding (strings are unicode ``U``)."""
        return dtype_of_encoding(self.value_encoding)

    @property
    def pd(self) -> str:
        return f"PD{self.id}"


@dataclass(frozen=True, slots=True)
class ParameterFunction:
    """One ``PFID<n>`` entry: a Python function (named by owner module and name) or a numexpr expression."""

    id: int
    name: str
    function_type: str  # PythonFunction, NumexprFunction, ...
    function: str  # function name, or the numexpr expression
    owner: str = ""  # e.g. ion_functions.data.ctd_functions
    args: tuple[str, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    description: str = ""

    @property
    def qualified_name(self) -> str:
        return f"{self.owner}.{self.function}" if self.owner else self.function


@dataclass(frozen=True, slots=True)
class StreamDefinition:
    """One ``DICT<n>`` entry: a stream and its parameters."""

    id: int
    name: str
    parameter_ids: tuple[int, ...]
    temporal_parameter: int | None = 7  # PD7 is 'time'
    source_streams: tuple[str, ...] = ()  # non-empty for virtual streams
    stream_type: str = ""
    stream_content: str = ""
    bin_minutes: int = DEFAULT_BIN_MINUTES

    @property
    def is_virtual(self) -> bool:
        return bool(self.source_streams)

    @property
    def bin_seconds(self) -> int:
        return self.bin_minutes * 60


_ENCODING_DTYPES = {
    "int8": "i1",
    "int16": "i2",
    "int32": "i4",
    "int64": "i8",
    "uint8": "u1",
    "uint16": "u2",
    "uint32": "u4",
    "uint64": "u8",
    "float32": "f4",
    "float64": "f8",
    "bool": "?",
    "boolean": "?",
    "string": "U",
    "str": "U",
}


def dtype_of_encoding(encoding: str) -> np.dtype:
    """numpy dtype for a preload value encoding; unknown encodings raise ``ValueError``."""
    try:
        return np.dtype(_ENCODING_DTYPES[encoding.strip().lower()])
    except KeyError:
        raise ValueError(f"unknown preload value encoding {encoding!r}") from None


@dataclass(slots=True)
class Preload:
    """The whole dictionary: parameters, streams, functions, bin sizes and nominal depths.

    Built by :func:`stream_engine.preload.loader.load_preload`; ``problems`` lists what the loader
    found wrong in the source data (reported by ``stream-engine preload check``), never raised.
    """

    parameters: dict[int, Parameter]
    streams: dict[str, StreamDefinition]
    functions: dict[int, ParameterFunction]
    nominal_depths: dict[str, float] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    source: str = ""
    _by_dpi: dict[str, tuple[Parameter, ...]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        by_dpi: dict[str, list[Parameter]] = {}
        for p in self.parameters.values():
            if p.data_product_identifier:
                by_dpi.setdefault(p.data_product_identifier, []).append(p)
        self._by_dpi = {k: tuple(v) for k, v in by_dpi.items()}

    def parameter(self, ident: int | str) -> Parameter:
        """A parameter by id (``7`` or ``"PD7"``); unknown ids raise ``KeyError``."""
        pid = int(ident[2:]) if isinstance(ident, str) and ident.upper().startswith("PD") else int(ident)
        try:
            return self.parameters[pid]
        except KeyError:
            raise KeyError(f"no parameter PD{pid} in the preload dictionary") from None

    def stream(self, name: str) -> StreamDefinition:
        """A stream definition by name; unknown names raise ``KeyError``."""
        try:
            return self.streams[name]
        except KeyError:
            raise KeyError(f"no stream {name!r} in the preload dictionary") from None

    def stream_parameters(self, name: str) -> list[Parameter]:
        """The parameters of a stream, in dictionary order."""
        return [self.parameters[i] for i in self.stream(name).parameter_ids if i in self.parameters]

    def by_dpi(self, dpi: str) -> tuple[Parameter, ...]:
        """Parameters carrying a data product identifier (e.g. ``"PRACSAL_L2"``)."""
        return self._by_dpi.get(dpi, ())

    def function(self, function_id: int) -> ParameterFunction:
        try:
            return self.functions[function_id]
        except KeyError:
            raise KeyError(f"no parameter function PFID{function_id} in the preload dictionary") from None
