"""One stream described for the catalog: identity, coverage, deployments and parameters.

Built from the partition index, the asset events and the dictionary, with the engine's own
resolution (:func:`~stream_engine.engine.resolve.resolve`, index calls only) telling for each
product where its inputs come from and why it is unavailable; nothing reads stored data. The
result is plain JSON-able data: the stream page renders it and its ``.json`` twin returns it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np

from stream_engine import assets
from stream_engine.engine.availability import missing_where, unavailable_for
from stream_engine.engine.plan import CALIBRATION, EXTERNAL, LOCATION, ArgumentPlan, Plan
from stream_engine.engine.resolve import resolve
from stream_engine.engine.resolve_sources import source_text
from stream_engine.errors import NotFound
from stream_engine.store.base import DEPLOYMENT, TIME, TimeRange

if TYPE_CHECKING:
    from stream_engine.preload.model import Parameter, Preload
    from stream_engine.store.base import ColumnInfo, Partition, Store, StreamCoverage, StreamKey

_NTP_EPOCH = datetime(1900, 1, 1, tzinfo=UTC)
STORED, COMPUTED, NOT_STORED = "stored", "computed", "not stored"


def ntp_to_iso(seconds: float | None) -> str | None:
    """NTP seconds as ISO 8601 UTC to the second (``2019-05-01T00:00:20Z``); ``None`` stays."""
    if seconds is None:
        return None
    return (_NTP_EPOCH + timedelta(seconds=float(seconds))).strftime("%Y-%m-%dT%H:%M:%SZ")


def dataset_id(key: StreamKey) -> str:
    """The OOI identifier of a stream: ``<refdes>-<method>-<stream>``."""
    return f"{key.refdes}-{key.method}-{key.stream}"


def stream_identity(coverage: StreamCoverage) -> dict[str, Any]:
    """Key, identifier, record count and time coverage of a stream (partition index only)."""
    key = coverage.key
    return {
        "id": dataset_id(key),
        "subsite": key.subsite,
        "node": key.node,
        "sensor": key.sensor,
        "method": key.method,
        "stream": key.stream,
        "refdes": key.refdes,
        "path": key.path,
        "count": int(coverage.count),
        "first": float(coverage.first),
        "last": float(coverage.last),
        "time_coverage_start": ntp_to_iso(coverage.first),
        "time_coverage_end": ntp_to_iso(coverage.last),
    }


def _deployment(d: assets.Deployment, coverage: StreamCoverage) -> dict[str, Any]:
    overlaps = d.start <= coverage.last and (d.stop is None or d.stop > coverage.first)
    return {
        "number": int(d.number),
        "start": ntp_to_iso(d.start),
        "stop": ntp_to_iso(d.stop),
        "start_ntp": float(d.start),
        "stop_ntp": None if d.stop is None else float(d.stop),
        "lat": d.lat,
        "lon": d.lon,
        "depth": d.depth,
        "calibrations": sorted(d.calibrations),
        "overlaps_data": bool(overlaps),
    }


def _input(arg: ArgumentPlan) -> dict[str, Any]:
    what = arg.parameter or arg.calibration or ("" if arg.value is None else repr(arg.value))
    return {
        "argument": arg.name,
        "kind": arg.kind,
        "source": arg.source,
        "parameter": what,
        "parameter_id": None if arg.parameter_id is None else f"PD{arg.parameter_id}",
        "stream": arg.stream.path if arg.kind == EXTERNAL and arg.stream is not None else None,
        "calibration": arg.calibration if arg.kind in (CALIBRATION, LOCATION) else None,
    }


@dataclass(frozen=True)
class _Known:
    """What a product's partial availability is stated from (index and assets, no data)."""

    deployments: list[assets.Deployment]
    partitions: list[Partition]
    sources: list[StreamCoverage]
    max_gap: float
    require_deployment: bool


def _product(p: Parameter, plan: Plan, preload: Preload, known: _Known) -> dict[str, Any]:
    step = plan.product(p.id)
    reason = plan.reason(p.id)
    entry: dict[str, Any] = {"available": step is not None and reason is None, "reason": reason}
    function = preload.functions.get(p.function_id) if p.function_id is not None else None
    entry["function"] = function.qualified_name if function is not None else None
    if step is not None and reason is None:
        entry["inputs"] = [_input(a) for a in step.arguments]
        entry["notes"] = list(step.notes)
        entry["function_version"] = step.version
        entry["unavailable_for"] = unavailable_for(
            plan, step, known.deployments, known.partitions, known.sources,
            max_gap=known.max_gap, require_deployment=known.require_deployment)
        entry["missing_where"] = missing_where(plan, step, max_gap=known.max_gap)
    else:
        sources = p.function_map or {}
        entry["inputs"] = [
            {"argument": name, "kind": "unresolved", "source": source_text(source), "parameter": "",
             "parameter_id": None, "stream": None, "calibration": None}
            for name, source in sources.items()
        ]
        entry["notes"] = []
        entry["unavailable_for"] = []
        entry["missing_where"] = []
    return entry


def _plottable(kind: str, shape: tuple[int, ...] | None) -> bool:
    return shape == () and kind in "iuf"


def _parameter(
    p: Parameter, columns: Mapping[str, ColumnInfo], plan: Plan, preload: Preload, known: _Known
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "id": p.pd,
        "name": p.name,
        "netcdf_name": p.netcdf_name or p.name,
        "display_name": p.display_name,
        "units": p.units,
        "level": p.data_level,
        "data_product_identifier": p.data_product_identifier,
        "encoding": p.value_encoding,
        "description": p.description,
    }
    is_time = p.units.startswith("seconds since")
    if p.is_function:
        entry["kind"] = COMPUTED
        entry.update(_product(p, plan, preload, known))
        shape = None if (p.is_array or p.dimensions) else ()
        entry["plottable"] = entry["available"] and not is_time and _plottable(p.dtype.kind, shape)
    elif p.name in columns:
        info = columns[p.name]
        entry["kind"] = STORED
        entry["available"] = True
        entry["reason"] = None
        entry["plottable"] = not is_time and p.name != DEPLOYMENT and _plottable(
            np.dtype(info.dtype).kind, info.shape)
    else:
        entry["kind"] = NOT_STORED
        entry["available"] = False
        entry["reason"] = "the store holds no values of this raw parameter for the stream"
        entry["plottable"] = False
    return entry


def describe_stream(
    view: Store, preload: Preload, key: StreamKey, *, settings: Mapping[str, Any]
) -> dict[str, Any]:
    """Everything the stream page shows, as JSON-able data.

    Parameters
    ----------
    view
        The store (a :meth:`~stream_engine.store.base.Store.snapshot` view); only index and asset
        calls are made.
    preload
        The dictionary describing the stream.
    key
        The stream.
    settings
        Engine settings, for resolution (``MAX_DEPTH_VARIANCE`` ...).

    Returns
    -------
    dict
        The :func:`stream_identity` keys plus ``stream_definition``, ``partitions``,
        ``deployments`` (number, dates, location, calibrations present), ``parameters`` (name,
        units, level, stored/computed, data product identifier; for products availability, the
        reason when unavailable, each input with the stream supplying it, ``unavailable_for``
        (deployments and time spans it cannot be computed for, and why) and ``missing_where``
        (limits that make single records missing), see
        :mod:`stream_engine.engine.availability`) and ``summary`` counts.

    Raises
    ------
    NotFound
        The store holds no data for the stream, or the dictionary does not define it.
    """
    coverage = view.coverage(key)
    if coverage is None or coverage.count == 0:
        raise NotFound(f"no stream {key.path!r} holds data in this store; the catalog is at /")
    if key.stream not in preload.streams:
        raise NotFound(
            f"stream {key.stream!r} ({key.path}) is not in the preload dictionary, so it cannot be "
            "described; load a dictionary that defines it"
        )
    definition = preload.stream(key.stream)
    columns = view.columns(key)
    time_range = TimeRange(float(coverage.first), float(np.nextafter(coverage.last, np.inf)))
    plan = resolve(view, preload, key, None, time_range, settings=settings)
    deployments = assets.deployments(view, key.refdes)
    partitions = view.partitions(key)
    externals = {e.key for e in plan.externals}
    known = _Known(deployments, partitions, [c for c in view.streams() if c.key in externals],
                   float(settings["MAX_INTERPOLATION_GAP"]), bool(settings["REQUIRE_DEPLOYMENT"]))
    parameters = [_parameter(p, columns, plan, preload, known)
                  for p in preload.stream_parameters(key.stream)]
    described = {p["name"] for p in parameters}
    for name in sorted(set(columns) - described - {TIME, DEPLOYMENT}):
        info = columns[name]
        parameters.append({
            "id": None, "name": name, "netcdf_name": name, "display_name": "", "units": "",
            "level": "", "data_product_identifier": "", "encoding": info.dtype, "description":
            "stored, but not a parameter of the stream in the dictionary", "kind": STORED,
            "available": True, "reason": None,
            "plottable": _plottable(np.dtype(info.dtype).kind, info.shape),
        })
    described_deployments = [_deployment(d, coverage) for d in deployments]
    summary = {
        "stored": sum(p["kind"] == STORED for p in parameters),
        "computed": sum(p["kind"] == COMPUTED and p["available"] for p in parameters),
        "unavailable": sum(p["kind"] == COMPUTED and not p["available"] for p in parameters),
        "not_stored": sum(p["kind"] == NOT_STORED for p in parameters),
    }
    return {
        **stream_identity(coverage),
        "stream_definition": {
            "id": f"DICT{definition.id}",
            "type": definition.stream_type,
            "content": definition.stream_content,
            "virtual": definition.is_virtual,
        },
        "partitions": len(partitions),
        "deployments": described_deployments,
        "parameters": parameters,
        "summary": summary,
    }
