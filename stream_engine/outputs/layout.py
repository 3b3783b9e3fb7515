"""What an export file holds: variable names, metadata and the order they are written in.

An :class:`ExportLayout` is built once per export from the query's plans and output variables
(no data is read); writers then receive the query's chunks, keyed by output name, and look each
variable up here.
Names and per-variable attributes are those the DAP datasets serve (``netcdf_name`` else
``name``; units, long_name, standard_name, ``_FillValue``, dictionary ids, provenance of every
product), so an export and the DAP view of the same stream describe a variable identically.
Products the plan cannot compute at all are left out and listed, with the reason, in the global
``unavailable_parameters`` attribute.

Position variables: the coordinates the query's chunks carry (``Plan.positions``: ``lat``/``lon``/
``depth`` of a fixed platform's deployment, a glider's interpolated GPS position,
``int_ctd_pressure``...) are written per record with the attributes DAP gives them
(:attr:`ExportLayout.positions`), and every data variable's ``coordinates`` names them. When the
plan has no ``lat``/``lon`` (no deployment location), each file gets scalar ``lat``/``lon`` from
its deployment instead (missing when unknown), so every file is a CF ``timeSeries``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from stream_engine.assets import NTP_UNIX_OFFSET
from stream_engine.engine.plan import PRODUCT, RAW
from stream_engine.outputs import attributes
from stream_engine.store.base import DEPLOYMENT, TIME

if TYPE_CHECKING:
    from stream_engine.assets import Deployment
    from stream_engine.engine.plan import Plan, PositionInput
    from stream_engine.engine.query_run import OutputVariable
    from stream_engine.outputs.flags import FlagColumn
    from stream_engine.preload.model import Parameter, Preload

LAT, LON = "lat", "lon"
POSITION_ATTRIBUTES: dict[str, dict[str, Any]] = {
    LAT: {"long_name": "Latitude", "standard_name": "latitude", "units": "degrees_north",
          "axis": "Y", "coverage_content_type": "coordinate"},
    LON: {"long_name": "Longitude", "standard_name": "longitude", "units": "degrees_east",
          "axis": "X", "coverage_content_type": "coordinate"},
}
COORDINATES = "time lat lon"
#: The standard name table the exports' names are checked against (the one the pinned IOOS
#: compliance checker ships).
STANDARD_NAME_VOCABULARY = "CF Standard Name Table v93"


@dataclass(frozen=True, slots=True)
class ExportVariable:
    """One exported variable: its output ``name`` (the key of its values in the query's chunks),
    its dictionary entry, and for products their provenance attributes and inputs."""

    name: str
    parameter: Parameter | None
    provenance: Mapping[str, Any] = field(default_factory=dict)
    ancillary: tuple[str, ...] = ()
    flag: Mapping[str, Any] = field(default_factory=dict)

    def attributes(self, dtype: np.dtype, coordinates: str = COORDINATES) -> dict[str, Any]:
        """Attributes for values of ``dtype`` (``_FillValue``, ``flag_values`` and ``flag_masks``
        typed like the data), naming ``coordinates`` (:attr:`ExportLayout.coordinates`)."""
        if self.parameter is None:
            attrs: dict[str, Any] = {"long_name": self.name}
            for name, value in self.flag.items():
                typed = isinstance(value, np.ndarray) and dtype.kind in "iu"
                attrs[name] = value.astype(dtype) if typed else value
        else:
            attrs = attributes.parameter_attributes(self.parameter, dtype.kind)
            if "_FillValue" in attrs:
                attrs["_FillValue"] = dtype.type(attrs["_FillValue"])
        attrs["coordinates"] = coordinates
        attrs["coverage_content_type"] = self.content_type
        if self.ancillary:
            attrs["ancillary_variables"] = " ".join(self.ancillary)
        attrs.update(self.provenance)
        return attrs

    @property
    def content_type(self) -> str:
        """ISO 19115-1 ``coverage_content_type``: measurements and products, or timestamps and
        other bookkeeping the instrument or the pipeline adds."""
        units = self.units
        named = self.parameter.name if self.parameter is not None else self.name
        if self.flag:
            return "qualityInformation"
        if units.startswith("seconds since") or named.endswith("_timestamp"):
            return "auxiliaryInformation"
        return "physicalMeasurement"

    @property
    def units(self) -> str:
        return self.parameter.units if self.parameter is not None else ""

    @property
    def fill(self) -> Any:
        return attributes.fill_value(self.parameter) if self.parameter is not None else None


@dataclass(frozen=True, slots=True)
class ExportPosition:
    """A coordinate written per record (float64): its name in the chunks and its attributes."""

    name: str
    attributes: Mapping[str, Any]

    @property
    def units(self) -> str:
        return str(self.attributes.get("units", ""))


@dataclass(frozen=True, slots=True)
class ExportLayout:
    """The variables of an export in writing order, and what the files need besides data."""

    plan: Plan
    variables: tuple[ExportVariable, ...]
    unavailable: tuple[tuple[Parameter, str], ...]
    deployments: tuple[Deployment, ...]
    request_uuid: str = ""
    positions: tuple[ExportPosition, ...] = ()

    @property
    def per_record_position(self) -> bool:
        """Whether ``lat`` and ``lon`` come per record from the chunks (else scalar per file)."""
        names = {p.name for p in self.positions}
        return LAT in names and LON in names

    @property
    def coordinates(self) -> str:
        """The ``coordinates`` attribute of data variables (CF order: time, lat, lon, vertical)."""
        return attributes.coordinates([LAT, LON, *(p.name for p in self.positions)])

    @property
    def key(self) -> Any:
        return self.plan.key

    def deployment(self, number: int) -> Deployment | None:
        """The deployment numbered ``number`` (``None`` if the asset events lack it)."""
        return next((d for d in self.deployments if d.number == number), None)

    def file_stem(self, deployment: int, first: float, last: float) -> str:
        """OOI file name without extension:
        ``deployment0001_<refdes>-<method>-<stream>_<start>-<end>``."""
        key = self.plan.key
        return (f"deployment{deployment:04d}_{key.refdes}-{key.method}-{key.stream}_"
                f"{compact_time(first)}-{compact_time(last)}")

    def global_attributes(self, deployment: int, count: int, first: float, last: float) -> dict[str, Any]:
        """CF-1.8/ACDD-1.3 globals of the file of one deployment holding ``count`` records."""
        from stream_engine.store.base import StreamCoverage

        coverage = StreamCoverage(self.plan.key, count, first, last)
        products = sum(1 for v in self.variables if v.provenance)
        found = self.deployment(deployment)
        attrs = attributes.global_attributes(
            coverage, [found] if found is not None else [],
            stored=len(self.variables) - products, products=products,
            unavailable=list(self.unavailable), not_stored=[],
        )
        attrs["summary"] = attrs["summary"].replace("served as a virtual dataset", "exported")
        attrs["featureType"] = "timeSeries"
        attrs["cdm_data_type"] = "Station"
        attrs["deployment"] = int(deployment)
        attrs["standard_name_vocabulary"] = STANDARD_NAME_VOCABULARY
        attrs["keywords"] = ", ".join(v.name for v in self.variables)
        attrs["creator_type"] = "institution"
        attrs["publisher_type"] = "institution"
        attrs["license"] = "OOI data are free and open (https://oceanobservatories.org/data-policy/)"
        attrs["processing_level"] = "L2"
        if count > 1 and last > first:
            attrs["time_coverage_duration"] = f"PT{last - first:.6g}S"
            attrs["time_coverage_resolution"] = f"PT{(last - first) / (count - 1):.6g}S"
        if self.request_uuid:
            attrs["requestUUID"] = self.request_uuid
        attrs.pop("deployments", None)
        return attrs


def compact_time(ntp: float) -> str:
    """``20190501T000000.500000`` (the OOI file-name form: microseconds, no ``Z``)."""
    moment = np.datetime64(int(round((ntp - NTP_UNIX_OFFSET) * 1e6)), "us").astype(object)
    return str(moment.strftime("%Y%m%dT%H%M%S.%f"))


def _provenance(var: OutputVariable, plans: Sequence[Plan]) -> tuple[dict[str, Any], tuple[str, ...]]:
    """Provenance attributes and ancillary inputs of a product (empty for stored values)."""
    plan = next((p for p in plans if p.key == var.stream), None)
    step = None if plan is None or var.parameter_id is None else plan.product(var.parameter_id)
    if plan is None or step is None:
        return {}, ()
    return attributes.provenance_attributes(step, plan), tuple(
        str(arg.parameter) for arg in step.arguments if arg.kind in (RAW, PRODUCT) and arg.parameter)


def build_layout(preload: Preload, plans: Sequence[Plan], variables: Sequence[OutputVariable],
                 deployments: Sequence[Deployment], request_uuid: str = "",
                 flags: Mapping[str, FlagColumn] | None = None) -> ExportLayout:
    """The layout of an export of a query's output variables.

    Parameters
    ----------
    preload
        The dictionary the plans were resolved with.
    plans
        The primary stream's plan first, then those of further streams.
    variables
        The query's output variables (:class:`~stream_engine.engine.query_run.OutputVariable`),
        named as its chunks name them; ``time`` always comes first in the files, then
        ``deployment``. Parameters a plan cannot produce are left out (listed in the global
        ``unavailable_parameters``).
    deployments
        The primary stream's deployments (their locations become ``lat``/``lon`` and geospatial
        globals).
    request_uuid
        Written as the ``requestUUID`` global attribute when given.
    flags
        The quality flag columns among ``variables`` (:func:`~stream_engine.outputs.flags.flag_columns`),
        exported after the variable each flags, which names them in ``ancillary_variables``.
        Other output variables without a parameter are coordinates (``positions``) or left out.
    """
    flags = flags or {}
    primary = plans[0]
    served = {v.name for v in variables if v.parameter is None and v.stream == primary.key}
    positions = tuple(ExportPosition(pos.name, _position_attributes(pos, primary))
                      for pos in primary.positions if pos.name in served)
    by_parameter = {(v.stream, v.parameter.name): v.name for v in variables if v.parameter is not None}
    chosen: list[ExportVariable] = []
    unavailable: list[tuple[Parameter, str]] = []
    flagged: dict[str, list[str]] = {}
    for name, column in flags.items():
        flagged.setdefault(column.tested, []).append(name)
    for var in variables:
        if var.name in (TIME, DEPLOYMENT, LAT, LON) or var.parameter is None:
            continue
        plan = next((p for p in plans if p.key == var.stream), primary)
        reason = plan.reason(var.parameter.id)
        if reason is not None:
            unavailable.append((var.parameter, reason))
            continue
        provenance, inputs = _provenance(var, plans)
        ancillary = tuple(dict.fromkeys([*(by_parameter[(var.stream, name)] for name in inputs
                                           if (var.stream, name) in by_parameter),
                                         *flagged.get(var.name, ())]))
        if var.stream != primary.key:
            provenance = {**provenance, "source_stream": var.stream.path,
                          "instrument": var.stream.refdes}
        chosen.append(ExportVariable(var.name, var.parameter, provenance, ancillary))
        chosen.extend(ExportVariable(name, None, flag=flags[name].attributes) for name in flagged.get(var.name, ()))
    return ExportLayout(primary, tuple(chosen), tuple(unavailable), tuple(deployments), request_uuid,
                        positions)


def _position_attributes(position: PositionInput, plan: Plan) -> dict[str, Any]:
    """DAP's attributes of a coordinate, plus its ISO 19115 content type."""
    attrs = attributes.position_attributes(position, plan)
    attrs["_FillValue"] = np.float64(np.nan)
    attrs["coverage_content_type"] = "coordinate"
    return attrs


def time_attributes() -> dict[str, Any]:
    """CF attributes of the NTP ``time`` variable."""
    return {"long_name": "Time, UTC", "standard_name": "time", "units": attributes.TIME_UNITS,
            "calendar": "gregorian", "axis": "T", "ooi_parameter_id": "PD7",
            "coverage_content_type": "coordinate"}


def deployment_attributes() -> dict[str, Any]:
    """Attributes of ``deployment`` (no ``coordinates``: it is not a measurement)."""
    attrs = attributes.deployment_attributes()
    attrs.pop("coordinates", None)
    attrs["units"] = "1"
    attrs["coverage_content_type"] = "auxiliaryInformation"
    return attrs


def iso_times(ntp: np.ndarray) -> np.ndarray:
    """NTP seconds as ISO 8601 UTC strings with millisecond precision (``...T00:00:00.000Z``)."""
    unix_ns = np.round((np.asarray(ntp, dtype=np.float64) - NTP_UNIX_OFFSET) * 1e6).astype("int64")
    moments = unix_ns.astype("datetime64[us]")
    return np.char.add(np.datetime_as_string(moments, unit="ms"), "Z")
