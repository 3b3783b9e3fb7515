"""Computation: run a :class:`~stream_engine.engine.plan.Plan` on a slice of the primary stream.

Steps, for the records of a time range or index range of the primary stream:

1. read ``time``, ``deployment`` and only the plan's raw columns of those records;
2. deployments: each record's deployment is the one whose number it carries (found by time where
   0 is stored). As in the original engine, records of a deployment with asset events are kept
   only inside its time window; records whose deployment has no asset events are dropped with
   ``require_deployment`` (setting ``REQUIRE_DEPLOYMENT``), otherwise kept, products needing
   calibrations or a location being fill for them (:func:`~stream_engine.engine.calibrate.served_records`). Duplicate timestamps within a deployment are
   dropped (the first record is kept). ``ComputedSlice.source_index`` maps kept records back to
   positions in the slice that was read;
3. fill values: float raw values equal to a sentinel of their parameter (dictionary fill cell,
   netCDF default fill) become NaN as they are read, so the raw values returned are missing
   there too; integer raw inputs holding their preload fill value become float64 with NaN
   before an algorithm sees them;
4. external inputs (:mod:`stream_engine.engine.compute_inputs`): each supplying stream is read (or, for
   its products, computed by the sub-plan, recursively) over the slice's time span widened by
   ``MAX_INTERPOLATION_GAP`` on both sides, so at least one record either side is found when one
   exists near enough, and interpolated onto the slice's times (:mod:`stream_engine.engine.interpolate`: linear for numbers,
   last-seen otherwise, never across a gap wider than ``MAX_INTERPOLATION_GAP``, and within the
   same deployment for inputs from the same instrument);
5. (steps 5 and 6 run in :mod:`stream_engine.engine.compute_steps`) calibrations: tiled per
   record with the value in force at each record's time
   (:mod:`stream_engine.engine.calibrate`);
6. products in dependency order. A product is computed on the records where all its
   calibrations are available and is fill elsewhere, the reason ("missing calibration CC_x for
   deployment 6") in its provenance. An algorithm that raises or returns a wrongly shaped result
   makes that product all fill with the error in provenance; the rest of the request goes on.
   A product is missing on every record where one of its per-record inputs (raw, product or
   external) is missing, whatever the algorithm returns there: never a value computed from a
   fill. The exception are an algorithm's declared fallbacks
   (:attr:`~stream_engine.functions.registry.Algorithm.fallbacks`), inputs it is specified to do
   without (METBK's relative wind where the current is missing is the wind itself).
   A product's values may come from the per-process product cache (:mod:`stream_engine.engine.cache`,
   setting ``COMPUTE_CACHE_BYTES``) when the same step was computed on the same records from
   identical inputs, e.g. a CTD's salinity computed for one request and needed again as an
   optode's external input; provenance is always built afresh.

Outputs: requested parameters by preload ``name``, plus ``time`` and ``deployment``, plus the
coordinates a mobile platform's records carry (``Plan.positions``, float64, by their own names:
``lat``, ``lon``, ``int_ctd_pressure``...; see :mod:`stream_engine.engine.positions`). Raw
parameters are returned as stored. Float products have the parameter's float dtype with NaN as
missing; integer products have the parameter's fill value (:func:`fill_value_for`) as missing;
unavailable products are all missing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from stream_engine import assets
from stream_engine.engine.calibrate import distinct_numbers, record_deployments, served_records
from stream_engine.engine.compute_inputs import (
    as_input,
    external_inputs,
    masked_sentinels,
    missing_array,
    parameter_named,
)
from stream_engine.engine.compute_steps import SliceSteps, time_span
from stream_engine.engine.computed import ComputedSlice
from stream_engine.engine.plan import Plan
from stream_engine.engine.positions import position_values
from stream_engine.store.base import DEPLOYMENT, TIME, IndexRange, StreamKey, TimeRange

if TYPE_CHECKING:
    from stream_engine.preload.model import Preload
    from stream_engine.store.base import Store


def _select(deps: Sequence[assets.Deployment], raw: dict[str, np.ndarray], require: bool,
            ) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray, np.ndarray, dict[str, Any]]:
    """The records a slice serves (step 2): their positions in ``raw``, their columns, deployment
    numbers and coverage, and the counts of records read and dropped (for provenance)."""
    times = raw[TIME]
    numbers, covered = record_deployments(deps, times, raw[DEPLOYMENT])
    served = served_records(deps, numbers, covered, require)
    dropped_outside = 0
    if not served.all():
        idx = np.flatnonzero(served)
        dropped_outside = len(times) - len(idx)
        t, d = times[idx], numbers[idx]
    else:
        idx, t, d = None, times, numbers
    dup = np.zeros(len(t), dtype=bool)
    if len(t) > 1:
        dup[1:] = (t[1:] == t[:-1]) & (d[1:] == d[:-1])
    if dup.any():
        idx = np.flatnonzero(~dup) if idx is None else idx[~dup]
    if idx is None:
        idx = np.arange(len(times))
        columns = dict(raw)
    else:
        numbers, covered = numbers[idx], covered[idx]
        columns = {name: values[idx] for name, values in raw.items()}
    columns[DEPLOYMENT] = numbers
    return idx, columns, numbers, covered, {
        "records_read": len(times), "dropped_outside_deployment": dropped_outside,
        "dropped_duplicate_time": int(dup.sum())}


def _shape_missing_arrays(data: dict[str, np.ndarray], preload: Preload, plan: Plan) -> None:
    """Give an array product that could not be computed at all (one fill per record) the row
    shape of another output on the same named dimension (an ADCP's bin depths, ``bin``)."""
    params = [preload.parameters[pid] for pid in plan.requested if pid in preload.parameters]
    rows = {p.dimensions: data[p.name].shape[1:] for p in params
            if p.dimensions and p.name in data and data[p.name].ndim > 1}
    for p in params:
        values = data.get(p.name)
        if values is not None and p.dimensions in rows and values.ndim == 1:
            data[p.name] = np.repeat(values[:, None], int(np.prod(rows[p.dimensions])), axis=1).reshape(
                len(values), *rows[p.dimensions])


def compute(
    store: Store,
    preload: Preload,
    plan: Plan,
    *,
    time_range: TimeRange | None = None,
    index_range: IndexRange | None = None,
    settings: Mapping[str, Any] | None = None,
    require_deployment: bool | None = None,
    use_cache: bool = True,
    deployments: Sequence[assets.Deployment] | None = None,
    argument_provenance: bool = True,
) -> ComputedSlice:
    """Compute the plan's requested parameters for a slice of the primary stream.

    Parameters
    ----------
    store, preload
        As given to :func:`~stream_engine.engine.resolve.resolve`.
    plan
        From :func:`~stream_engine.engine.resolve.resolve`.
    time_range, index_range
        The slice of the primary stream (at most one); neither means ``plan.time_range``.
    settings
        Needs ``MAX_INTERPOLATION_GAP`` and ``REQUIRE_DEPLOYMENT``; default: loaded settings.
    require_deployment
        Overrides the ``REQUIRE_DEPLOYMENT`` setting for this call.
    use_cache
        ``False``: the primary stream's products neither come from nor go into the product cache
        (for callers that keep their own results, such as the DAP layer; saves the cache's
        memory and its evidence comparisons). Streams supplying external inputs still use it.
    deployments
        The primary stream's deployments (:func:`stream_engine.assets.deployments` of its
        reference designator, read through the same ``store``), for callers that compute many
        slices of one response: saves parsing the asset events again for each.
    argument_provenance
        ``False``: each product's provenance leaves out ``arguments`` (the sources and values
        of every argument), for callers that use only the values.

    Returns
    -------
    ComputedSlice
        Arrays for every requested parameter (by preload name), ``time`` and ``deployment``;
        ``provenance`` holds per product its function, version, status and argument sources.
    """
    if settings is None:
        from stream_engine.config import load_settings

        settings = load_settings()
    require = bool(settings["REQUIRE_DEPLOYMENT"] if require_deployment is None else require_deployment)
    if time_range is not None and index_range is not None:
        raise ValueError("give at most one of time_range and index_range")
    if time_range is None and index_range is None:
        time_range = plan.time_range
    return _compute(store, preload, plan, time_range, index_range, settings, require, writable=True,
                    use_cache=use_cache, deployments=deployments, argument_provenance=argument_provenance)


def _compute(
    store: Store, preload: Preload, plan: Plan, time_range: TimeRange | None, index_range: IndexRange | None,
    settings: Mapping[str, Any], require: bool, *, writable: bool, use_cache: bool = True,
    deployments: Sequence[assets.Deployment] | None = None, argument_provenance: bool = True,
) -> ComputedSlice:
    """:func:`compute` with settled arguments; ``writable=False`` (for sub-plans, whose values
    are only interpolated) may return read-only arrays held by the product cache."""
    deps = list(deployments) if deployments is not None else assets.deployments(store, plan.key.refdes)
    raw = store.read(plan.key, list(plan.raw_columns), time_range=time_range, index_range=index_range)
    for name in plan.raw_columns:
        if name in raw:
            raw[name] = masked_sentinels(raw[name], parameter_named(preload, plan, name))
    source_index, columns, numbers, covered, counts = _select(deps, raw, require)
    run = SliceSteps(preload, plan, settings, deps, columns, numbers, covered, use_cache=use_cache,
                     argument_provenance=argument_provenance)
    for name, values in run.columns.items():
        run.inputs[name] = values if name in (TIME, DEPLOYMENT) else as_input(values, parameter_named(preload, plan, name))

    def sub_compute(sub_plan: Plan, sub_range: TimeRange) -> ComputedSlice:
        return _compute(store, preload, sub_plan, sub_range, None, settings, require, writable=False)

    def extent(key: StreamKey) -> tuple[float, float] | None:
        coverage = store.coverage(key)
        return None if coverage is None else (float(coverage.first), float(coverage.last))

    inputs, ext_prov = external_inputs(plan.externals, run.times, run.numbers, preload, run.max_gap,
                                       sub_compute, extent)
    run.inputs.update(inputs)
    run.ext_prov.update(ext_prov)
    products = {step.name: run.run_step(step) for step in plan.products}
    n = len(run.times)
    data: dict[str, np.ndarray] = {TIME: run.times, DEPLOYMENT: run.numbers}
    unavailable = {}
    temporal = preload.streams[plan.key.stream].temporal_parameter if plan.key.stream in preload.streams else None
    for pid in plan.requested:
        p = preload.parameters[pid]
        if p.name in data:
            continue
        if pid == temporal:  # a virtual stream's time parameter (met_timeflx): its records' times
            data[p.name] = run.times.astype(p.dtype, copy=False)
            continue
        reason = plan.reason(pid)
        if reason is not None:
            data[p.name] = missing_array(p, n)
            unavailable[p.name] = reason
            products.setdefault(p.name, {"parameter_id": pid, "status": "unavailable", "reason": reason})
        elif p.name in run.columns:
            data[p.name] = run.columns[p.name]
        else:
            data[p.name] = run.inputs[p.name]
    for position in plan.positions:
        if position.location:
            data[position.name], products[position.name] = run.location(position)
            continue
        data[position.name] = position_values(position, run.times, run.columns, run.inputs, run.max_gap)
        products[position.name] = {"status": "ok", "source": position.source,
                                   **run.ext_prov.get(position.column, {})}
    for name, reason in plan.positions_unavailable:
        data[name] = np.full(n, np.nan)
        unavailable[name] = reason
    _shape_missing_arrays(data, preload, plan)
    if writable:
        data = {name: a if a.flags.writeable else a.copy() for name, a in data.items()}
    provenance = {
        "stream": plan.key.path,
        "time_range": time_span(run.times),
        "deployments": distinct_numbers(run.numbers),
        "require_deployment": require,
        **counts,
        "products": products,
        "unavailable": unavailable,
    }
    return ComputedSlice(plan.key, data, provenance, source_index)


__all__ = ["ComputedSlice", "compute"]
