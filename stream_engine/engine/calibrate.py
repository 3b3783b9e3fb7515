"""Deployments of records and calibration coefficients tiled per record.

A record belongs to the deployment whose number it carries and whose time window covers it;
records stored with deployment 0 (cabled ``streamed`` data) are assigned by time. A calibration
coefficient's value is the one in force at each record's time
(:func:`stream_engine.assets.calibration_values`), so a coefficient that changes within a
deployment changes at the right record.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from stream_engine import assets
from stream_engine.engine.plan import LOCATION_CALIBRATIONS


def record_deployments(
    deps: Sequence[assets.Deployment], times: np.ndarray, stored: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Deployment number of each record and whether a known deployment covers it.

    Returns
    -------
    (numbers int32, covered bool)
        ``numbers`` is the stored number, or the number found by time where 0 was stored.
    """
    numbers = np.asarray(stored, dtype=np.int32).copy()
    zero = numbers == 0
    if zero.any():
        numbers[zero] = assets.deployment_numbers_at(deps, times[zero])
    covered = np.zeros(len(times), dtype=bool)
    runs = _runs(numbers)
    if runs is not None:
        for start, stop in runs:
            number = int(numbers[start])
            for dep in deps:
                if dep.number == number:
                    covered[start:stop] |= dep.covers(times[start:stop])
        return numbers, covered
    for dep in deps:
        sel = numbers == dep.number
        if sel.any():
            covered[sel] |= dep.covers(times[sel])
    return numbers, covered


def served_records(
    deps: Sequence[assets.Deployment], numbers: np.ndarray, covered: np.ndarray, require: bool
) -> np.ndarray:
    """Which records a request serves, as the original engine's ``require_deployment`` decided.

    A record whose deployment number has asset events is served only inside that deployment's
    time window (on-deck and bench records are never data). A record whose number has no asset
    events is served only when ``require`` is False.
    """
    if require or len(numbers) == 0:
        return covered
    known_numbers = {d.number for d in deps}
    if all(number in known_numbers for number in distinct_numbers(numbers)):
        return covered  # every record's deployment has asset events (the usual case)
    known = np.isin(numbers, np.array(sorted(known_numbers), dtype=np.int32))
    return covered | ~known


def _runs(numbers: np.ndarray, most: int = 64) -> list[tuple[int, int]] | None:
    """(start, stop) of each run of equal numbers, or ``None`` when there are more than ``most``."""
    if len(numbers) == 0:
        return []
    edges = np.flatnonzero(numbers[1:] != numbers[:-1]) + 1
    if len(edges) >= most:
        return None
    bounds = [0, *edges.tolist(), len(numbers)]
    return list(zip(bounds[:-1], bounds[1:], strict=True))


def _listed(value: Any) -> Any:
    return value.tolist() if isinstance(value, np.ndarray) else value


@dataclass(slots=True)
class TiledCalibration:
    """A coefficient per record: ``values`` (NaN where missing), ``available`` mask, the
    deployments that lack it, and the values used per deployment (for provenance)."""

    name: str
    values: np.ndarray | None
    available: np.ndarray
    missing: list[int] = field(default_factory=list)
    used: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    outside: int = 0
    constant: bool = False

    @property
    def reason(self) -> str | None:
        parts = []
        if self.missing:
            s = "s" if len(self.missing) > 1 else ""
            parts.append(f"missing calibration {self.name} for deployment{s} {', '.join(map(str, self.missing))}")
        if self.outside:
            parts.append(f"{self.name} unknown for {self.outside} record(s) outside their deployment's time window")
        return "; ".join(parts) or None


@dataclass(frozen=True, slots=True)
class RecordGroup:
    """The records of one deployment number: ``records`` selects its covered records (a slice
    when they are contiguous, else their indices), ``count`` of them, ``not_covered`` the
    others of that number."""

    number: int
    records: slice | np.ndarray
    count: int
    not_covered: int
    first: int = 0
    last: int = -1


def deployment_groups(numbers: np.ndarray, covered: np.ndarray) -> list[RecordGroup]:
    """One :class:`RecordGroup` per distinct deployment number, in number order."""
    n = len(numbers)
    if n and numbers[0] == numbers[-1] and covered.all() and not (numbers != numbers[0]).any():
        return [RecordGroup(int(numbers[0]), slice(0, n), n, 0, 0, n - 1)]  # one covered deployment
    return _groups_by_number(numbers, covered)


def _groups_by_number(numbers: np.ndarray, covered: np.ndarray) -> list[RecordGroup]:
    """:func:`deployment_groups` in general (several deployments, or records not covered)."""
    out = []
    for number in distinct_numbers(numbers):
        of_number = numbers == number
        idx = np.flatnonzero(of_number & covered)
        not_covered = int(np.count_nonzero(of_number)) - len(idx)
        if len(idx) == 0:
            out.append(RecordGroup(number, idx, 0, not_covered))
            continue
        first, last = int(idx[0]), int(idx[-1])
        records: slice | np.ndarray = slice(first, last + 1) if last - first + 1 == len(idx) else idx
        out.append(RecordGroup(number, records, len(idx), not_covered, first, last))
    return out


def tile_calibration(
    name: str,
    deps: Sequence[assets.Deployment],
    times: np.ndarray,
    groups_of_records: Sequence[RecordGroup],
) -> TiledCalibration:
    """The value of coefficient ``name`` in force at each record (see module docstring).

    Records of a deployment without the coefficient (or without asset events at all) are not
    ``available``, their deployment numbers listed in ``missing``; records outside their
    deployment's time window are not available either, counted in ``outside``. When one value
    is in force for every record, ``values`` is that value alone (``constant``; it broadcasts),
    else one row per record (NaN where not available).
    """
    if len(groups_of_records) == 1:
        whole = _one_value_throughout(name, deps, times, groups_of_records[0])
        if whole is not None:
            return whole
    return _tiled_per_record(name, deps, times, groups_of_records)


def _tiled_per_record(
    name: str,
    deps: Sequence[assets.Deployment],
    times: np.ndarray,
    groups_of_records: Sequence[RecordGroup],
) -> TiledCalibration:
    """:func:`tile_calibration` in general: a mask and, unless one value holds, values per record."""
    n = len(times)
    available = np.zeros(n, dtype=bool)
    missing: set[int] = set()
    outside = sum(g.not_covered for g in groups_of_records)
    used: dict[str, list[dict[str, Any]]] = {}
    by_number = {d.number: d for d in deps}
    groups: list[tuple[slice | np.ndarray, Any, np.ndarray | None]] = []
    for group in groups_of_records:
        number, idx = group.number, group.records
        dep = by_number.get(number)
        if dep is None:
            missing.add(number)
            outside -= group.not_covered
            continue
        if group.count == 0:
            continue
        entries = _in_force(dep, name, float(times[group.first]), float(times[group.last]))
        if entries is None:
            missing.add(number)
            continue
        used[str(number)] = [_used_entry(number, st, v) for st, v in entries]
        tiled = None if len(entries) == 1 else assets.calibration_values(dep, name, times[idx])
        groups.append((idx, entries[0][1], tiled))
        available[idx] = True
    if not groups:
        return TiledCalibration(name, None, available, sorted(missing), used, outside)
    first = np.asarray(groups[0][1], dtype=np.float64)
    if (not missing and outside == 0 and all(t is None for _, _, t in groups)
            and all(np.array_equal(np.asarray(v, dtype=np.float64), first) for _, v, _ in groups[1:])):
        return TiledCalibration(name, first, available, [], used, 0, constant=True)
    values = np.full((n, *first.shape), np.nan, dtype=np.float64)
    for idx, value, tiled in groups:
        values[idx] = value if tiled is None else tiled
    return TiledCalibration(name, values, available, sorted(missing), used, outside)


def _one_value_throughout(
    name: str, deps: Sequence[assets.Deployment], times: np.ndarray, group: RecordGroup
) -> TiledCalibration | None:
    """:func:`tile_calibration`'s answer when every record belongs to one deployment, is inside
    its time window and one value of the coefficient is in force for all of them (a DAP window
    inside a deployment: the usual case); ``None`` otherwise. Skips building a per-record mask."""
    if group.count != len(times) or group.count == 0:
        return None
    dep = next((d for d in reversed(deps) if d.number == group.number), None)  # as by_number: the last
    if dep is None:
        return None
    known = deployment_value(dep, name)
    if known is not None:
        value, entry = known[0], dict(known[1])  # each answer owns its provenance entry
    else:
        entries = _in_force(dep, name, float(times[group.first]), float(times[group.last]))
        if entries is None or len(entries) != 1:
            return None
        (start, raw), = entries
        value, entry = np.asarray(raw, dtype=np.float64), _used_entry(dep.number, start, raw)
    return TiledCalibration(name, value, _everywhere(len(times)), [], {str(group.number): [entry]}, 0,
                            constant=True)


def _used_entry(number: int, start: float | None, value: Any) -> dict[str, Any]:
    """How provenance states a value in force (``start`` None: the deployment's location)."""
    if start is None:
        return {"source": f"deployment {number} location", "value": value}
    return {"start": start, "value": _listed(value)}


#: Per (deployment object, coefficient): its one value for the whole deployment and how
#: provenance states it, or ``None`` when the value depends on time (several entries) or is
#: missing. Deployments are immutable and kept per asset change token
#: (:func:`stream_engine.assets.deployments`), so the windows of every request of a stream
#: share these instead of looking each coefficient up again per window.
_DEPLOYMENT_VALUES: dict[tuple[int, str], tuple[assets.Deployment, tuple[np.ndarray, dict[str, Any]] | None]] = {}
_MAX_DEPLOYMENT_VALUES = 8192


def deployment_value(dep: assets.Deployment, name: str) -> tuple[np.ndarray, dict[str, Any]] | None:
    """The coefficient's value (read-only float64) and provenance entry when one value holds for
    the whole deployment; ``None`` when it depends on time or is missing."""
    key = (id(dep), name)
    hit = _DEPLOYMENT_VALUES.get(key)
    if hit is not None and hit[0] is dep:
        return hit[1]
    attr = LOCATION_CALIBRATIONS.get(name)
    found: tuple[float | None, Any] | None = None
    if attr is not None and getattr(dep, attr) is not None:
        found = (None, getattr(dep, attr))
    else:
        entries = dep.calibrations.get(name)
        if entries and len(entries) == 1:
            start = entries[0].start
            found = (start if math.isfinite(start) else None, entries[0].value)
    known = None
    if found is not None:
        value = np.array(found[1], dtype=np.float64)
        value.flags.writeable = False
        known = (value, _used_entry(dep.number, *found))
    if len(_DEPLOYMENT_VALUES) >= _MAX_DEPLOYMENT_VALUES:
        _DEPLOYMENT_VALUES.clear()
    _DEPLOYMENT_VALUES[key] = (dep, known)  # holding dep keeps its id from being reused
    return known


_ALL_TRUE: dict[int, np.ndarray] = {}


def _everywhere(n: int) -> np.ndarray:
    """A read-only mask of ``n`` records, all True (a view: nothing allocated per record)."""
    mask = _ALL_TRUE.get(n)
    if mask is None:
        if len(_ALL_TRUE) >= 1024:
            _ALL_TRUE.clear()
        mask = _ALL_TRUE[n] = np.broadcast_to(np.True_, (n,))
    return mask


def distinct_numbers(numbers: np.ndarray) -> list[int]:
    """Distinct deployment numbers, sorted; cheap because records come in runs of one deployment."""
    if len(numbers) == 0:
        return []
    starts = np.flatnonzero(numbers[1:] != numbers[:-1]) + 1
    return sorted({int(x) for x in numbers[np.r_[0, starts]]})


def _in_force(dep: assets.Deployment, name: str, first: float, last: float) -> list[tuple[float | None, Any]] | None:
    """(start, value) of the entries in force between two times; start None for a location."""
    attr = LOCATION_CALIBRATIONS.get(name)
    if attr is not None and getattr(dep, attr) is not None:
        return [(None, getattr(dep, attr))]
    entries = dep.calibrations.get(name)
    if not entries:
        return None
    starts = [e.start for e in entries]  # a few entries: bisect beats numpy's per-call cost
    lo, hi = (max(bisect.bisect_right(starts, t) - 1, 0) for t in (first, last))
    return [(entries[i].start if math.isfinite(entries[i].start) else None, entries[i].value)
            for i in range(lo, hi + 1)]
