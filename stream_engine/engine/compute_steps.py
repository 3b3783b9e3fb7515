"""The product steps of one computed slice (steps 5 and 6 of :mod:`stream_engine.engine.compute`).

:class:`SliceSteps` holds the records a slice serves (times, deployment numbers, columns and
inputs) and computes its products in dependency order: each product on the records where its
calibrations and inputs are available (fill elsewhere, the reason in its provenance), from the
product cache when the same step was computed on identical inputs, and fill on every record where
a per-record input is missing (an algorithm's declared fallbacks excepted). Calibrations are tiled
per record (:mod:`stream_engine.engine.calibrate`) the first time a step asks for them.
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
    tile_calibration,
)
from stream_engine.engine.compute_inputs import (
    as_input,
    as_output,
    fill_for,
    missing_array,
    missing_records,
)
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
from stream_engine.store.base import TIME

if TYPE_CHECKING:
    from stream_engine.preload.model import Preload


_NO_CACHE = ProductCache(0)


def time_span(times: np.ndarray) -> list[float] | None:
    """``[first, last]`` of ``times`` (``None`` when empty), as provenance states a time range."""
    return [float(times[0]), float(times[-1])] if len(times) else None


def _algorithm(step: ProductStep) -> Any:
    """The registered implementation of a ``PythonFunction`` step (``None`` for numexpr)."""
    if step.function_type == "NumexprFunction":
        return None
    from stream_engine.functions import lookup

    owner, _, function = step.function.rpartition(".")
    return lookup(owner, function)


class SliceSteps:
    """The records of one slice and the products computed on them.

    Parameters
    ----------
    preload, plan, settings
        As given to :func:`~stream_engine.engine.compute.compute`.
    deps
        The primary stream's deployments.
    columns
        The served records' columns as read (``time``, ``deployment`` with the numbers found,
        the plan's raw columns).
    numbers, covered
        Each served record's deployment number and whether a known deployment covers it.
    use_cache, argument_provenance
        As :func:`~stream_engine.engine.compute.compute`'s arguments.
    """

    def __init__(self, preload: Preload, plan: Plan, settings: Mapping[str, Any],
                 deps: Sequence[assets.Deployment], columns: dict[str, np.ndarray], numbers: np.ndarray,
                 covered: np.ndarray, *, use_cache: bool = True, argument_provenance: bool = True):
        self.preload, self.plan = preload, plan
        self.max_gap = float(settings["MAX_INTERPOLATION_GAP"])
        self.deps = list(deps)
        self.argument_provenance = argument_provenance
        self.cache: ProductCache = shared_cache(settings) if use_cache else _NO_CACHE
        self.cache_held: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self.columns = columns
        self.numbers, self.covered = numbers, covered
        self.inputs: dict[str, np.ndarray] = {}
        self.failed: dict[str, str] = {}
        self.cals: dict[str, TiledCalibration] = {}
        self.ext_prov: dict[str, dict[str, Any]] = {}
        self.avail: dict[str, np.ndarray] = {}
        #: Products available on every record (their ``avail`` mask need not be combined).
        self.complete: set[str] = set()
        self.gaps: dict[str, np.ndarray | None] = {}
        self.groups: list[RecordGroup] | None = None

    @property
    def times(self) -> np.ndarray:
        return self.columns[TIME]

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
                "time_range": time_span(self.times)}


__all__ = ["SliceSteps", "time_span"]
