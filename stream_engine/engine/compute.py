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
5. calibrations: tiled per record with the value in force at each record's time
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
from stream_engine.engine.cache import ProductCache, product_key, shared_cache
from stream_engine.engine.calibrate import (
    RecordGroup,
    TiledCalibration,
    deployment_groups,
    distinct_numbers,
    record_deployments,
    served_records,
    tile_calibration,
)
from stream_engine.engine.compute_inputs import (
    as_input,
    as_output,
    external_inputs,
    fill_for,
    masked_sentinels,
    missing_array,
    missing_records,
    parameter_named,
)
from stream_engine.engine.computed import ComputedSlice
from stream_engine.engine.plan import (
    CALIBRATION,
    CONSTANT,
    DEFAULT,
    EXTERNAL,
    LOCATION,
    ArgumentPlan,
    Plan,
    PositionInput,
    ProductStep,
)
from stream_engine.engine.positions import position_values
from stream_engine.store.base import DEPLOYMENT, TIME, IndexRange, StreamKey, TimeRange

if TYPE_CHECKING:
    from stream_engine.preload.model import Preload
    from stream_engine.store.base import Store


_NO_CACHE = ProductCache(0)


def _time_span(times: np.ndarray) -> list[float] | None:
    return [float(times[0]), float(times[-1])] if len(times) else None


def _algorithm(step: ProductStep) -> Any:
    """The registered implementation of a ``PythonFunction`` step (``None`` for numexpr)."""
    if step.function_type == "NumexprFunction":
        return None
    from stream_engine.functions import lookup

    owner, _, function = step.function.rpartition(".")
    return lookup(owner, function)


class _Run:
    def __init__(self, store: Store, preload: Preload, plan: Plan, settings: Mapping[str, Any], require: bool,
                 use_cache: bool = True, deployments: Sequence[assets.Deployment] | None = None,
                 argument_provenance: bool = True):
        self.store, self.preload, self.plan = store, preload, plan
        self.settings, self.require = settings, require
        self.max_gap = float(settings["MAX_INTERPOLATION_GAP"])
        self.deps = list(deployments) if deployments is not None else assets.deployments(store, plan.key.refdes)
        self.argument_provenance = argument_provenance
        self.cache: ProductCache = shared_cache(settings) if use_cache else _NO_CACHE
        self.cache_held: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self.columns: dict[str, np.ndarray] = {}
        self.inputs: dict[str, np.ndarray] = {}
        self.failed: dict[str, str] = {}
        self.cals: dict[str, TiledCalibration] = {}
        self.ext_prov: dict[str, dict[str, Any]] = {}
        self.avail: dict[str, np.ndarray] = {}
        #: Products available on every record (their ``avail`` mask need not be combined).
        self.complete: set[str] = set()
        self.gaps: dict[str, np.ndarray | None] = {}
        self.groups: list[RecordGroup] | None = None

    def select(self, raw: dict[str, np.ndarray]) -> tuple[np.ndarray, dict[str, Any]]:
        times = raw[TIME]
        numbers, covered = record_deployments(self.deps, times, raw[DEPLOYMENT])
        served = served_records(self.deps, numbers, covered, self.require)
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
            self.numbers, self.covered = numbers, covered
            self.columns.update(raw)
        else:
            self.numbers, self.covered = numbers[idx], covered[idx]
            for name, values in raw.items():
                self.columns[name] = values[idx]
        self.columns[DEPLOYMENT] = self.numbers
        return idx, {"records_read": len(times), "dropped_outside_deployment": dropped_outside,
                     "dropped_duplicate_time": int(dup.sum())}

    @property
    def times(self) -> np.ndarray:
        return self.columns[TIME]

    def bring_externals(self) -> None:
        """Compute each supplying stream once and interpolate its inputs onto this slice."""
        def sub_compute(plan: Plan, time_range: TimeRange) -> ComputedSlice:
            return _compute(self.store, self.preload, plan, time_range, None, self.settings, self.require,
                            writable=False)

        def extent(key: StreamKey) -> tuple[float, float] | None:
            coverage = self.store.coverage(key)
            return None if coverage is None else (float(coverage.first), float(coverage.last))

        inputs, prov = external_inputs(self.plan.externals, self.times, self.numbers, self.preload,
                                       self.max_gap, sub_compute, extent)
        self.inputs.update(inputs)
        self.ext_prov.update(prov)

    def calibration(self, name: str) -> TiledCalibration:
        if name not in self.cals:
            if self.groups is None:
                self.groups = deployment_groups(self.numbers, self.covered)
            self.cals[name] = tile_calibration(name, self.deps, self.times, self.groups)
        return self.cals[name]

    def location(self, position: PositionInput) -> tuple[np.ndarray, dict[str, Any]]:
        """A fixed platform's coordinate: the deployment location in force at each record."""
        tiled = self.calibration(position.column)
        n = len(self.times)
        if tiled.values is None:
            values = np.full(n, np.nan)
        else:
            values = np.broadcast_to(np.asarray(tiled.values, dtype=np.float64), (n,)).copy()
        prov = {"status": "ok" if tiled.reason is None else "partial", "source": position.source,
                "values": tiled.used, "missing_deployments": tiled.missing}
        if tiled.reason:
            prov["reason"] = tiled.reason
        return values, prov

    def value_of(self, arg: ArgumentPlan) -> Any:
        if arg.kind == CONSTANT:
            return np.asarray(arg.value) if isinstance(arg.value, tuple | list) else arg.value
        if arg.kind in (CALIBRATION, LOCATION):
            return self.calibration(arg.calibration or "").values
        return self.inputs[arg.column or ""]

    # -- products ------------------------------------------------------------------------------

    def run_step(self, step: ProductStep) -> dict[str, Any]:
        p = self.preload.parameters[step.parameter_id]
        n = len(self.times)
        prov: dict[str, Any] = {
            "parameter_id": step.parameter_id, "function": step.function,
            "function_type": step.function_type, "version": step.version,
            "arguments": ({a.name: self._arg_prov(a) for a in step.arguments}
                          if self.argument_provenance else {}),
            "status": "ok", "errors": [], "notes": list(step.notes),
        }
        mask = np.ones(n, dtype=bool)
        reasons = []
        for arg in step.arguments:
            if arg.kind in (CALIBRATION, LOCATION):
                tiled = self.calibration(arg.calibration or "")
                if not tiled.constant:  # a constant coefficient is available on every record
                    mask &= tiled.available
                if tiled.reason:
                    reasons.append(tiled.reason)
            elif arg.column in self.avail:
                if arg.column not in self.complete:
                    mask &= self.avail[arg.column]
                if arg.column in self.failed:
                    reasons.append(f"input {arg.column}: {self.failed[arg.column]}")
        if n and not mask.any():
            prov["status"] = "unavailable"
            prov["reason"] = "; ".join(reasons)
            self.failed[step.name] = prov["reason"]
            self.inputs[step.name] = as_input(self._missing(step, p, n), p)
            self.avail[step.name] = mask
            return prov
        if reasons:
            prov["status"] = "partial"
            prov["reason"] = "; ".join(reasons)
        try:
            out = self._values(step, p, mask)
        except Exception as exc:  # one failing algorithm must not fail the request
            prov["status"] = "failed"
            prov["errors"].append(f"{type(exc).__name__}: {exc}")
            self.failed[step.name] = prov["errors"][-1]
            out = self._missing(step, p, n)
            mask = np.zeros(n, dtype=bool)
        if reasons and step.name not in self.failed:
            self.failed[step.name] = prov["reason"]
        out = self._without_missing_inputs(step, p, out)
        self.inputs[step.name] = as_input(out, p)
        self.avail[step.name] = mask
        if mask.all():
            self.complete.add(step.name)
        return prov

    def _missing(self, step: ProductStep, p: Any, n: int) -> np.ndarray:
        """``n`` missing values of a product; an array product (``(obs, bin)``...) takes the row
        shape of its first per-record array input, so it keeps its shape when it cannot be computed."""
        if p.is_array or p.dimensions:
            for arg in step.arguments:
                value = self.inputs.get(arg.column or "") if arg.kind not in (CALIBRATION, LOCATION) else None
                if isinstance(value, np.ndarray) and value.ndim > 1 and value.shape[0] == n:
                    return np.full(value.shape, fill_for(p), dtype=p.dtype)
        return missing_array(p, n)

    def _without_missing_inputs(self, step: ProductStep, p: Any, out: np.ndarray) -> np.ndarray:
        """``out`` with fill on the records where a per-record input is missing."""
        n = len(self.times)
        missing: np.ndarray | None = None
        algorithm = _algorithm(step)
        tolerated = algorithm.fallbacks if algorithm is not None else ()
        for arg in step.arguments:
            if arg.kind in (CALIBRATION, LOCATION, CONSTANT, DEFAULT) or arg.name in tolerated:
                continue
            column = arg.column or ""
            if column not in self.gaps:  # an input's gaps are found once, not once per step
                self.gaps[column] = missing_records(self.inputs.get(column), n)
            gaps = self.gaps[column]
            if gaps is not None and gaps.any():
                missing = gaps if missing is None else missing | gaps
        if missing is None:
            return out
        out = out.copy()
        out[missing] = fill_for(p)
        return out

    def _values(self, step: ProductStep, p: Any, mask: np.ndarray) -> np.ndarray:
        """The product on every record (fill where ``mask`` is False), from the cache if it can."""
        n = len(mask)
        algorithm = _algorithm(step)
        args = [(arg, self.value_of(arg)) for arg in step.arguments if arg.kind != DEFAULT]
        key = evidence = None
        if self.cache.max_bytes > 0 and n:
            key = product_key(self.plan.key, step, self.times)
            constant = tuple(arg.kind in (CALIBRATION, LOCATION) and self.calibration(arg.calibration or "").constant
                             for arg, _ in args)
            evidence = (algorithm, p.dtype, fill_for(p), constant, None if mask.all() else mask,
                        *(value for _, value in args))
            if key is not None:
                cached = self.cache.get(key, evidence)
                if cached is not None:
                    return cached
        result = self._evaluate(step, algorithm, args, mask)
        if result.shape[0] != int(mask.sum()):
            raise ValueError(f"{step.function} returned {result.shape[0]} values for "
                             f"{int(mask.sum())} records (shape {result.shape})")
        result = as_output(result, p)
        if mask.all():
            out = result
        else:
            out = np.full((n, *result.shape[1:]), fill_for(p), dtype=result.dtype)
            out[mask] = result
        if key is not None and evidence is not None:
            self.cache.put(key, evidence, out, self.cache_held)
        return out

    def _evaluate(self, step: ProductStep, algorithm: Any, args: list[tuple[ArgumentPlan, Any]],
                  mask: np.ndarray) -> np.ndarray:
        n = len(mask)
        subset = not mask.all()
        kwargs: dict[str, Any] = {}
        for arg, value in args:
            constant = arg.kind in (CALIBRATION, LOCATION) and self.calibration(arg.calibration or "").constant
            if subset and not constant and isinstance(value, np.ndarray) and value.ndim and value.shape[0] == n:
                value = value[mask]
            kwargs[arg.name] = value
        if algorithm is None:
            from stream_engine.functions import evaluate_expression

            result = evaluate_expression(step.function, kwargs)
        else:
            result = algorithm.compute(kwargs)
        result = np.asarray(result)
        if result.ndim == 0:
            result = np.full(int(mask.sum()), result)
        return result

    def _arg_prov(self, arg: ArgumentPlan) -> dict[str, Any]:
        if arg.kind == EXTERNAL:
            return {**self.ext_prov.get(arg.column or "", {}), "source": arg.source}
        if arg.kind in (CALIBRATION, LOCATION):
            tiled = self.calibration(arg.calibration or "")
            return {"kind": arg.kind, "source": arg.source, "calibration": arg.calibration,
                    "values": tiled.used, "missing_deployments": tiled.missing}
        if arg.kind in (CONSTANT, DEFAULT):
            value = arg.value
            return {"kind": arg.kind, "source": arg.source,
                    "value": list(value) if isinstance(value, tuple) else value}
        return {"kind": arg.kind, "source": arg.source, "stream": self.plan.key.path,
                "parameter": arg.parameter, "parameter_id": arg.parameter_id,
                "time_range": _time_span(self.times)}


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
    run = _Run(store, preload, plan, settings, require, use_cache, deployments, argument_provenance)
    raw = store.read(plan.key, list(plan.raw_columns), time_range=time_range, index_range=index_range)
    for name in plan.raw_columns:
        if name in raw:
            raw[name] = masked_sentinels(raw[name], parameter_named(preload, plan, name))
    source_index, counts = run.select(raw)
    for name, values in run.columns.items():
        run.inputs[name] = values if name in (TIME, DEPLOYMENT) else as_input(values, parameter_named(preload, plan, name))
    run.bring_externals()
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
        "time_range": _time_span(run.times),
        "deployments": distinct_numbers(run.numbers),
        "require_deployment": require,
        **counts,
        "products": products,
        "unavailable": unavailable,
    }
    return ComputedSlice(plan.key, data, provenance, source_index)


__all__ = ["ComputedSlice", "compute"]
