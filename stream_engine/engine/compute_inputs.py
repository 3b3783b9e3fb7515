"""Inputs and outputs of a computation: fill values, and external inputs from other streams.

:func:`~stream_engine.engine.compute.compute` uses these for steps 3 and 4 of its module docstring:

* float raw values holding one of their parameter's sentinels (the dictionary fill cell such as
  ``-9999999``, the netCDF default fill) become NaN as soon as they are read
  (:func:`masked_sentinels`), so a store written before ingest normalised fills is served
  correctly; integer raw inputs holding their preload fill value become float64 with NaN before
  an algorithm sees them (:func:`as_input`); results take the parameter's dtype, integer ones
  with the fill value where missing (:func:`as_output`);
* each stream supplying external inputs is computed once, by one merged sub-plan
  (:func:`merged_plan`), over the slice's time span widened by ``MAX_INTERPOLATION_GAP`` on
  both sides, and each input is interpolated onto the slice's times (:func:`external_inputs`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from stream_engine.engine.calibrate import distinct_numbers
from stream_engine.engine.computed import ComputedSlice
from stream_engine.engine.interpolate import bracketing_range, interpolate
from stream_engine.engine.plan import EXTERNAL, ExternalInput, Plan, ProductStep
from stream_engine.preload.fill_values import fill_value_for, sentinel_mask
from stream_engine.store.base import StreamKey, TimeRange

if TYPE_CHECKING:
    from stream_engine.preload.model import Parameter, Preload

#: Computes a plan over a time range of its stream (``compute`` with the caller's settings).
SubCompute = Callable[[Plan, TimeRange], ComputedSlice]
#: First and last stored time of a stream (partition index), ``None`` when it holds nothing.
Extent = Callable[[StreamKey], "tuple[float, float] | None"]


def fill_for(p: Parameter) -> Any:
    """The missing value of parameter ``p`` (NaN for floats, its preload fill value otherwise)."""
    return fill_value_for(p.value_encoding, "" if p.fill_value is None else str(p.fill_value))


def missing_array(p: Parameter, n: int) -> np.ndarray:
    """``n`` missing values of parameter ``p``, in its dtype."""
    return np.full(n, fill_for(p), dtype=p.dtype)


def masked_sentinels(values: np.ndarray, p: Parameter | None) -> np.ndarray:
    """Float ``values`` with the parameter's sentinels replaced by NaN (a copy only if any)."""
    if p is None:
        return values
    mask = sentinel_mask(values, p.sentinels)
    if mask is None:
        return values
    out = values.copy()
    out[mask] = np.nan
    return out


def missing_records(values: Any, n: int) -> np.ndarray | None:
    """Records (of ``n``) where a per-record float input is NaN; ``None`` for other inputs."""
    if not isinstance(values, np.ndarray) or values.dtype.kind != "f" or values.shape[:1] != (n,):
        return None
    if values.ndim == 1:
        return np.asarray(np.isnan(values))
    return np.asarray(np.isnan(values.reshape(n, -1)).all(axis=1))


def as_input(values: np.ndarray, p: Parameter | None) -> np.ndarray:
    """Integer values holding the fill value become float64 with NaN; anything else as it is."""
    if p is None or values.dtype.kind not in "iu":
        return values
    bad = values == fill_for(p)
    if not bad.any():
        return values
    out = values.astype(np.float64)
    out[bad] = np.nan
    return out


def as_output(result: np.ndarray, p: Parameter) -> np.ndarray:
    """An algorithm's result in the dtype of parameter ``p`` (integers: fill where not finite)."""
    dtype = p.dtype
    if dtype.kind == "f":
        return result.astype(dtype, copy=False)
    if dtype.kind in "iub" and result.dtype.kind == "f":
        out = np.full(result.shape, fill_for(p), dtype=dtype)
        ok = np.isfinite(result)
        out[ok] = result[ok].astype(dtype)
        return out
    return result.astype(dtype, copy=False) if dtype.kind != "U" else result


def parameter_named(preload: Preload, plan: Plan, name: str) -> Parameter | None:
    """The parameter of the plan's stream called ``name``, if there is one."""
    definition = preload.streams.get(plan.key.stream)
    if definition is None:
        return None
    return next((preload.parameters[i] for i in definition.parameter_ids
                 if i in preload.parameters and preload.parameters[i].name == name), None)


def merged_plan(key: StreamKey, group: Sequence[ExternalInput], time_range: TimeRange) -> Plan:
    """One plan computing every input a group of externals needs from the same stream.

    Each sub-plan lists its products in dependency order, so concatenating them and keeping the
    first occurrence of each product keeps a valid order.
    """
    requested: dict[int, None] = {}
    raw: dict[str, None] = {}
    steps: dict[int, ProductStep] = {}
    nested: dict[str, ExternalInput] = {}
    for ext in group:
        requested[ext.parameter_id] = None
        if ext.plan is None:
            raw[ext.parameter] = None
            continue
        raw.update(dict.fromkeys(ext.plan.raw_columns))
        for step in ext.plan.products:
            steps.setdefault(step.parameter_id, step)
        for inner in ext.plan.externals:
            nested.setdefault(inner.column, inner)
    return Plan(key, time_range, tuple(requested), tuple(raw), tuple(steps.values()),
                tuple(nested.values()), ())


def external_inputs(
    externals: Sequence[ExternalInput],
    times: np.ndarray,
    numbers: np.ndarray,
    preload: Preload,
    max_gap: float,
    sub_compute: SubCompute,
    extent: Extent | None = None,
) -> tuple[dict[str, np.ndarray], dict[str, dict[str, Any]]]:
    """Every external input interpolated onto ``times`` (records of deployments ``numbers``).

    ``extent`` gives a supplying stream's first and last stored times (partition index). The
    supplying stream is read only near ``times``, so a record past the last one read would look
    like one at the stream's end (edge value within ``max_gap``); where the stream holds records
    beyond what was read, the gap to them is wider than ``max_gap`` and such a record is missing,
    as a computation over the whole stream gives.

    Returns
    -------
    (inputs, provenance)
        Both by the input's working name (:attr:`ExternalInput.column`); inputs are ready for an
        algorithm (:func:`as_input`).
    """
    by_key: dict[StreamKey, list[ExternalInput]] = {}
    for ext in externals:
        by_key.setdefault(ext.key, []).append(ext)
    inputs: dict[str, np.ndarray] = {}
    provenance: dict[str, dict[str, Any]] = {}
    for key, group in by_key.items():
        sub = None
        padded = TimeRange.everything()
        if len(times):
            start, stop = float(times[0]) - max_gap, float(times[-1]) + max_gap
            padded = TimeRange(start, float(np.nextafter(stop, np.inf)))
            sub = sub_compute(merged_plan(key, group, padded), padded)
        for ext in group:
            info: dict[str, Any] = {
                "kind": EXTERNAL, "stream": ext.key.path, "parameter": ext.parameter,
                "parameter_id": ext.parameter_id, "interpolation": ext.interpolation,
                "colocation": ext.colocation, "same_instrument": ext.same_instrument,
            }
            provenance[ext.column] = info
            inputs[ext.column] = _interpolated(ext, sub, times, numbers, preload, max_gap, info)
            if sub is not None and extent is not None and ext.interpolation == "linear":
                _beyond_the_read(inputs[ext.column], times, sub.time, extent(key), padded)
    return inputs, provenance


def _beyond_the_read(values: np.ndarray, times: np.ndarray, read: np.ndarray,
                     stored: tuple[float, float] | None, padded: TimeRange) -> None:
    """Missing where a record lies past the supplying records read while the stream holds more
    beyond the range read (so more than ``max_gap`` away)."""
    if stored is None or len(read) == 0 or values.dtype.kind != "f":
        return
    if stored[1] >= padded.stop:
        values[times > read[-1]] = np.nan
    if stored[0] < padded.start:
        values[times < read[0]] = np.nan


def _interpolated(
    ext: ExternalInput, sub: ComputedSlice | None, times: np.ndarray, numbers: np.ndarray,
    preload: Preload, max_gap: float, info: dict[str, Any],
) -> np.ndarray:
    p = preload.parameters[ext.parameter_id]
    if sub is None:
        return as_input(missing_array(p, 0), p)
    values = as_input(sub[ext.parameter], p)
    if ext.plan is not None:
        info["provenance"] = sub.provenance["products"].get(ext.parameter)
    groups = (numbers, sub.deployment) if ext.same_instrument else (None, None)
    out = interpolate(times, sub.time, values, kind=ext.interpolation, max_gap=max_gap,
                      fill=fill_for(p), target_groups=groups[0], source_groups=groups[1])
    used = bracketing_range(times, sub.time)
    info["time_range"] = None if used is None else list(used)
    info["deployments"] = distinct_numbers(sub.deployment)
    return out
