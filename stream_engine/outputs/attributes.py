"""Attributes of a stream's virtual DAP dataset: CF-1.8 / ACDD-1.3 globals, per-variable metadata
from the preload dictionary, and the provenance of every derived product from its plan.

Everything here comes from the partition index, the asset events and the dictionary; nothing
reads data. Attribute names and choices:

* globals: ``Conventions``, ``title``, ``summary``, ``institution``, ``source``, ``project``,
  ``featureType`` (``timeSeries``), ``cdm_data_type``, ``id``/``naming_authority``,
  ``creator_*``/``publisher_*``, ``date_created`` and ``history`` (the request time: products are
  computed on request), ``time_coverage_start``/``_end`` (ISO 8601), ``geospatial_*`` from the
  locations of the deployments that overlap the data, the stream identity (``subsite``,
  ``node``, ``sensor``, ``collection_method``, ``stream``, ``refdes``), ``record_count``,
  ``deployments``, and ``unavailable_parameters`` / ``parameters_not_stored`` naming what the
  stream defines but cannot serve, with reasons;
* per variable: ``long_name``, ``units``, ``standard_name`` (only if set), ``_FillValue`` typed
  like the data (NaN for floats; none for strings and booleans), ``comment`` (the dictionary
  description), ``data_product_identifier``, ``data_level``, ``ooi_parameter_id``,
  ``ooi_parameter_name`` and ``coordinates = "time"``;
* per product: ``provenance_function`` (qualified name or numexpr expression),
  ``provenance_function_id``, ``provenance_function_type``, ``provenance_version``,
  ``provenance_inputs`` (``argument: source`` pairs), ``provenance_source_streams`` and
  ``provenance_calibrations`` (the ``CC_`` names the product needs, through the stream's own
  intermediate products too), and ``provenance_notes`` when part of the records cannot be
  computed; ``unavailable_for`` (the deployments and time spans it cannot be computed for, and
  why) and ``missing_where`` (the limits that make single records missing), from
  :mod:`stream_engine.engine.availability`;
* position variables (``lat``, ``lon``, ``depth``...) with CF ``standard_name``, ``units`` and
  ``axis``; every data variable's ``coordinates`` names them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from stream_engine import __version__
from stream_engine.engine.availability import (
    missing_where,
    span_text,
    unavailable_for,
    uncovered_spans,
)
from stream_engine.engine.plan import (
    CALIBRATION,
    CONSTANT,
    DEFAULT,
    EXTERNAL,
    LOCATION,
    PRODUCT,
    RAW,
    ArgumentPlan,
    Plan,
    PositionInput,
    ProductStep,
)
from stream_engine.engine.positions import POSITION_ATTRIBUTES
from stream_engine.preload.fill_values import fill_value_for

if TYPE_CHECKING:
    from stream_engine.assets import Deployment
    from stream_engine.preload.model import Parameter
    from stream_engine.store.base import Partition, StreamCoverage

INSTITUTION = "Ocean Observatories Initiative"
INFO_URL = "http://oceanobservatories.org/"
NAMING_AUTHORITY = "org.oceanobservatories"
TIME_UNITS = "seconds since 1900-01-01 0:0:0"
_NTP_EPOCH = datetime(1900, 1, 1, tzinfo=UTC)
#: Separator between the entries of list-like string attributes (no newlines: some DAS parsers
#: reject them inside strings).
LIST_SEPARATOR = "; "


def ntp_to_iso(seconds: float) -> str:
    """NTP seconds as ISO 8601 UTC with microseconds dropped when zero (``2019-05-01T00:00:00Z``)."""
    moment = _NTP_EPOCH + timedelta(seconds=float(seconds))
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if moment.microsecond:
        text += f".{moment.microsecond:06d}".rstrip("0")
    return text + "Z"


def _now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def dataset_id(coverage: StreamCoverage) -> str:
    """The OOI identifier of a stream: ``<refdes>-<method>-<stream>``."""
    key = coverage.key
    return f"{key.refdes}-{key.method}-{key.stream}"


def _located(deployments: Iterable[Deployment], coverage: StreamCoverage) -> list[Deployment]:
    return [
        d
        for d in deployments
        if d.start <= coverage.last and (d.stop is None or d.stop > coverage.first)
    ]


def _geospatial(deployments: Sequence[Deployment]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for axis, attr, units in (("lat", "lat", "degrees_north"), ("lon", "lon", "degrees_east")):
        values = [getattr(d, attr) for d in deployments if getattr(d, attr) is not None]
        if values:
            out[f"geospatial_{axis}_min"] = float(min(values))
            out[f"geospatial_{axis}_max"] = float(max(values))
            out[f"geospatial_{axis}_units"] = units
    depths = [d.depth for d in deployments if d.depth is not None]
    if depths:
        out["geospatial_vertical_min"] = float(min(depths))
        out["geospatial_vertical_max"] = float(max(depths))
        out["geospatial_vertical_units"] = "m"
        out["geospatial_vertical_positive"] = "down"
    return out


def global_attributes(
    coverage: StreamCoverage,
    deployments: Sequence[Deployment],
    *,
    stored: int,
    products: int,
    unavailable: Sequence[tuple[Parameter | str, str]],
    not_stored: Sequence[Parameter],
    require_deployment: bool = False,
) -> dict[str, Any]:
    """CF/ACDD global attributes of a stream's dataset.

    Parameters
    ----------
    coverage
        The stream's record count and time coverage (partition index).
    deployments
        All deployments of the stream's reference designator (asset events).
    stored, products
        How many stored parameters and computable products the dataset serves.
    unavailable
        Products the stream defines that cannot be computed (or the name of a mobile platform's
        coordinate that cannot be found), with the reason.
    not_stored
        Raw parameters the stream defines that the store does not hold.
    require_deployment
        The ``REQUIRE_DEPLOYMENT`` setting the data are served with (said in ``comment``).
    """
    key = coverage.key
    ident = dataset_id(coverage)
    now = _now_iso()
    in_range = _located(deployments, coverage)
    attrs: dict[str, Any] = {
        "Conventions": "CF-1.8, ACDD-1.3",
        "title": f"{key.refdes} {key.method} {key.stream}",
        "summary": (
            f'Stream "{key.stream}" of instrument {key.refdes}, collection method '
            f'"{key.method}", served as a virtual dataset: {stored} stored parameters and '
            f"{products} data products computed on request from the raw values, the "
            "calibrations of each deployment and co-located instruments."
        ),
        "institution": INSTITUTION,
        "project": INSTITUTION,
        "source": ident,
        "id": ident,
        "naming_authority": NAMING_AUTHORITY,
        "featureType": "timeSeries",
        "cdm_data_type": "TimeSeries",
        "creator_name": INSTITUTION,
        "creator_url": INFO_URL,
        "publisher_name": INSTITUTION,
        "publisher_url": INFO_URL,
        "infoUrl": INFO_URL,
        "standard_name_vocabulary": "CF Standard Name Table v79",
        "date_created": now,
        "history": f"{now} computed on request by Stream Engine {__version__}",
        "comment": served_comment(require_deployment),
        "subsite": key.subsite,
        "node": key.node,
        "sensor": key.sensor,
        "collection_method": key.method,
        "stream": key.stream,
        "refdes": key.refdes,
        "record_count": int(coverage.count),
        "time_coverage_start": ntp_to_iso(coverage.first),
        "time_coverage_end": ntp_to_iso(coverage.last),
    }
    if in_range:
        attrs["deployments"] = [int(d.number) for d in in_range]
    attrs.update(_geospatial(in_range))
    if unavailable:
        attrs["unavailable_parameters"] = LIST_SEPARATOR.join(
            (f"{p}: {reason}" if isinstance(p, str) else f"{p.name} ({p.pd}): {reason}")
            for p, reason in unavailable
        )
    if not_stored:
        attrs["parameters_not_stored"] = " ".join(p.name for p in not_stored)
    return attrs


def served_comment(require_deployment: bool) -> str:
    """The global ``comment``: which records carry data, and how the others are served."""
    if require_deployment:
        which = ("only records inside the time window of a deployment known to the asset events "
                 "carry data (REQUIRE_DEPLOYMENT = True)")
    else:
        which = ("records of a deployment known to the asset events carry data only inside its "
                 "time window; records of deployments without asset events carry data "
                 "(REQUIRE_DEPLOYMENT = False), with the products that need calibration "
                 "coefficients or a deployment location missing")
    return (
        f"Every stored record has its place in obs, but {which}. In the other records time and "
        "deployment are kept and every other variable is missing (_FillValue, NaN for "
        "floating-point variables). Per variable, unavailable_for says which deployments and "
        "time spans it cannot be computed for and why, and missing_where the limits that make "
        "single records missing."
    )


def time_attributes(coverage: StreamCoverage) -> dict[str, Any]:
    """Attributes of ``time``: CF units on the NTP epoch, and its range from the partition index."""
    return {
        "long_name": "Time, UTC",
        "standard_name": "time",
        "units": TIME_UNITS,
        "calendar": "gregorian",
        "axis": "T",
        "actual_range": [float(coverage.first), float(coverage.last)],
        "ooi_parameter_id": "PD7",
    }


def deployment_attributes() -> dict[str, Any]:
    """Attributes of ``deployment``."""
    return {
        "long_name": "Deployment Number",
        "comment": (
            "Deployment of each record: the number stored with it, or where 0 was stored the "
            "deployment (asset events) whose window holds the record's time, else 0."
        ),
        "coordinates": "time",
    }


def fill_value(p: Parameter) -> Any:
    """The fill value of a parameter, typed like its data (see ``preload.fill_values``)."""
    return fill_value_for(p.value_encoding, "" if p.fill_value is None else str(p.fill_value))


def parameter_attributes(p: Parameter, dtype_kind: str) -> dict[str, Any]:
    """Metadata of a stored parameter or a product from the dictionary.

    ``dtype_kind`` is the numpy kind of the served values; strings and booleans get no
    ``_FillValue`` (netCDF-C would read a String fill on a char variable as a type mismatch, and a
    boolean fill would mask every ``False``).
    """
    attrs: dict[str, Any] = {"long_name": p.long_name or p.display_name or p.name}
    if p.units:
        attrs["units"] = p.units
    if p.standard_name:
        attrs["standard_name"] = p.standard_name
    if dtype_kind in "iuf":
        attrs["_FillValue"] = fill_value(p)
    if p.description:
        attrs["comment"] = p.description
    if p.data_product_identifier:
        attrs["data_product_identifier"] = p.data_product_identifier
    if p.data_level:
        attrs["data_level"] = p.data_level
    if p.display_name:
        attrs["display_name"] = p.display_name
    attrs["ooi_parameter_id"] = p.pd
    attrs["ooi_parameter_name"] = p.name
    attrs["coordinates"] = "time"
    return attrs


def position_attributes(position: PositionInput, plan: Plan) -> dict[str, Any]:
    """Metadata of a coordinate variable (``lat``, ``lon``, ``depth``, ``int_ctd_pressure``...)."""
    long_name, units, standard_name, axis = POSITION_ATTRIBUTES.get(
        position.name, (position.name, "", "", ""))
    attrs: dict[str, Any] = {"long_name": long_name}
    if units:
        attrs["units"] = units
    if standard_name:
        attrs["standard_name"] = standard_name
    if axis:
        attrs["axis"] = axis
    attrs["_FillValue"] = float("nan")
    if position.name == "depth":
        attrs["positive"] = "down"
    if position.location:
        attrs["comment"] = (f"{position.source}: the location of the deployment in force at each "
                            "record; missing where no deployment with a location covers the record")
        attrs["provenance_source_streams"] = plan.key.path
        attrs["coordinates"] = "time"
        return attrs
    ext = next((e for e in plan.externals if e.column == position.column), None)
    how = "between the fixes, " if position.between_fixes else ""
    if ext is not None:
        attrs["comment"] = (f"{ext.parameter} of {ext.key.path}, interpolated {how}in time onto this "
                            f"stream's records ({ext.interpolation}, {ext.colocation})")
        attrs["provenance_source_streams"] = ext.key.path
    else:
        attrs["comment"] = f"{position.source}, interpolated {how}in time onto every record"
        attrs["provenance_source_streams"] = plan.key.path
    attrs["coordinates"] = "time"
    return attrs


def coordinates(names: Iterable[str]) -> str:
    """The ``coordinates`` attribute of data variables: ``time`` and the position variables
    served (CF order: time, then latitude, longitude, vertical)."""
    order = ("lat", "lon", "depth", "int_ctd_pressure")
    present = set(names)
    return " ".join(["time", *(name for name in order if name in present)])


def _argument_text(arg: ArgumentPlan, plan: Plan) -> str:
    if arg.kind == RAW:
        return f"{arg.name}: {arg.parameter} (stored, {arg.source})"
    if arg.kind == PRODUCT:
        return f"{arg.name}: {arg.parameter} (product of this stream, {arg.source})"
    if arg.kind == EXTERNAL:
        ext = next((e for e in plan.externals if e.column == arg.column), None)
        how = f", {ext.interpolation} interpolation, {ext.colocation}" if ext else ""
        stream = arg.stream.path if arg.stream else "another stream"
        return f"{arg.name}: {arg.parameter} from {stream} ({arg.source}{how})"
    if arg.kind == CALIBRATION:
        return f"{arg.name}: {arg.calibration} (calibration of each deployment)"
    if arg.kind == LOCATION:
        return f"{arg.name}: {arg.calibration} (deployment location)"
    if arg.kind == CONSTANT:
        return f"{arg.name}: {arg.value!r} (constant)"
    if arg.kind == DEFAULT:
        return f"{arg.name}: {arg.value!r} (default of the implementation)"
    return f"{arg.name}: {arg.source} ({arg.kind})"


@dataclass(frozen=True)
class Availability:
    """What the availability attributes of a stream's products are stated from (no data)."""

    deployments: Sequence[Deployment]
    partitions: Sequence[Partition]
    sources: Sequence[StreamCoverage]
    max_gap: float
    require_deployment: bool


def availability_attributes(step: ProductStep, plan: Plan, known: Availability) -> dict[str, Any]:
    """``unavailable_for`` (deployments and spans it cannot be computed for, with the reason)
    and ``missing_where`` (limits that make single records missing) of a product; see
    :mod:`stream_engine.engine.availability`."""
    attrs: dict[str, Any] = {}
    reasons = unavailable_for(plan, step, known.deployments, known.partitions, known.sources,
                              max_gap=known.max_gap, require_deployment=known.require_deployment)
    if reasons:
        attrs["unavailable_for"] = LIST_SEPARATOR.join(reasons)
    limits = missing_where(plan, step, max_gap=known.max_gap)
    if limits:
        attrs["missing_where"] = LIST_SEPARATOR.join(limits)
    return attrs


def stored_availability(known: Availability) -> dict[str, Any]:
    """``unavailable_for`` of a stored variable: with ``REQUIRE_DEPLOYMENT`` the spans outside
    every deployment, whose records are not served (only time and deployment are)."""
    if not known.require_deployment:
        return {}
    reasons = [f"{span_text(span)}: outside every deployment in the asset events, not served "
               "(REQUIRE_DEPLOYMENT = True)" for span in uncovered_spans(known.partitions, known.deployments)]
    return {"unavailable_for": LIST_SEPARATOR.join(reasons)} if reasons else {}


def provenance_attributes(step: ProductStep, plan: Plan) -> dict[str, Any]:
    """Provenance of one product: function, version, inputs, source streams, calibrations."""
    steps = plan.closure(step)
    streams = [plan.key.path]
    for s in steps:
        for arg in s.arguments:
            if arg.kind == EXTERNAL and arg.stream is not None and arg.stream.path not in streams:
                streams.append(arg.stream.path)
    calibrations = sorted({c for s in steps for c in s.calibrations})
    notes = [n for s in steps for n in s.notes]
    attrs: dict[str, Any] = {
        "provenance_function": step.function,
        "provenance_function_id": f"PFID{step.function_id}",
        "provenance_function_type": step.function_type,
        "provenance_version": step.version,
        "provenance_inputs": LIST_SEPARATOR.join(_argument_text(a, plan) for a in step.arguments),
        "provenance_source_streams": " ".join(streams),
    }
    if calibrations:
        attrs["provenance_calibrations"] = " ".join(calibrations)
    if notes:
        attrs["provenance_notes"] = LIST_SEPARATOR.join(dict.fromkeys(notes))
    return attrs
