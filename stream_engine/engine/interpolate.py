"""Time interpolation of another stream's values onto a stream's times.

Rules
-----
* ``linear`` (numbers): straight-line interpolation between the source records either side of
  each target time (``numpy.interp`` for 1-D values; the same weights row-wise for 2-D values).
  Source records whose value is NaN are skipped (1-D), so one missing sample does not blank its
  neighbours; for 2-D values NaN propagates element-wise.
* ``last-seen`` (integers, strings, booleans): the value of the latest source record at or
  before the target time; before the first source record there is nothing seen: fill.
* Never across a gap: a target time between two source records more than ``max_gap`` seconds
  apart gets fill (NaN for linear). A target time outside the source's span takes the edge
  value only when it is within ``max_gap`` of it (the original engine clamped without limit).
* Groups: when ``target_groups``/``source_groups`` are given (deployment numbers, for inputs from
  the same instrument), each target record is interpolated only from source records of its own
  group.

Source times must be sorted ascending (as the store returns them).
"""

from __future__ import annotations

from typing import Any

import numpy as np

LINEAR = "linear"
LAST_SEEN = "last-seen"
_FEW_GAPS = 16


def interpolate(
    target_times: np.ndarray,
    source_times: np.ndarray,
    values: np.ndarray,
    *,
    kind: str,
    max_gap: float,
    fill: Any = None,
    target_groups: np.ndarray | None = None,
    source_groups: np.ndarray | None = None,
) -> np.ndarray:
    """Values at ``target_times``, interpolated from ``(source_times, values)``.

    Parameters
    ----------
    target_times, source_times
        float64 NTP seconds; ``source_times`` sorted ascending.
    values
        One value per source record (1-D) or one row per record (2-D).
    kind
        ``"linear"`` or ``"last-seen"``.
    max_gap
        Largest source spacing (seconds) interpolated across.
    fill
        The missing value for ``last-seen`` (default: NaN for floats, ``""`` for strings, else 0);
        ``linear`` always returns float64 with NaN.
    target_groups, source_groups
        Optional group labels (deployment numbers); interpolation stays within a group.

    Returns
    -------
    numpy.ndarray
        ``(len(target_times), *values.shape[1:])``.
    """
    if kind not in (LINEAR, LAST_SEEN):
        raise ValueError(f"interpolation kind must be 'linear' or 'last-seen', got {kind!r}")
    target_times = np.asarray(target_times, dtype=np.float64)
    source_times = np.asarray(source_times, dtype=np.float64)
    values = np.asarray(values)
    if len(values) != len(source_times):
        raise ValueError(f"{len(values)} values for {len(source_times)} source times")
    if kind == LINEAR:
        values = values.astype(np.float64, copy=False)
        fill = np.nan
    elif fill is None:
        fill = np.nan if values.dtype.kind == "f" else ("" if values.dtype.kind in "US" else 0)
    out_dtype = values.dtype if kind == LAST_SEEN else np.float64
    if kind == LAST_SEEN and values.dtype.kind in "US":
        out_dtype = values.dtype if values.size else np.dtype("U1")
    if target_groups is None or source_groups is None:
        return _one(target_times, source_times, values, kind, max_gap, fill, np.dtype(out_dtype))
    out = np.full((len(target_times), *values.shape[1:]), fill, dtype=out_dtype)
    target_groups = np.asarray(target_groups)
    source_groups = np.asarray(source_groups)
    for group in np.unique(target_groups):
        t_sel = target_groups == group
        s_sel = source_groups == group
        if s_sel.any():
            out[t_sel] = _one(target_times[t_sel], source_times[s_sel], values[s_sel], kind, max_gap, fill, out.dtype)
    return out


def _one(
    tt: np.ndarray, st: np.ndarray, v: np.ndarray, kind: str, max_gap: float, fill: Any, dtype: np.dtype
) -> np.ndarray:
    if kind == LINEAR and v.ndim == 1:
        ok = np.isfinite(v)
        if not ok.all():
            st, v = st[ok], v[ok]
    n = len(st)
    if kind == LINEAR and v.ndim == 1 and n and len(tt):
        gaps = np.flatnonzero(np.diff(st) > max_gap)
        if len(gaps) <= _FEW_GAPS:
            return _linear_few_gaps(tt, st, v, max_gap, gaps)
    out = np.full((len(tt), *v.shape[1:]), fill, dtype=dtype)
    if n == 0 or len(tt) == 0:
        return out
    right = np.searchsorted(st, tt, side="right")
    left = right - 1
    lt = st[np.clip(left, 0, n - 1)]
    rt = st[np.clip(right, 0, n - 1)]
    if kind == LAST_SEEN:
        ok = (left >= 0) & ((tt - lt) <= max_gap)
        out[ok] = v[left[ok]]
        return out
    before = left < 0
    after = right >= n
    inside = ~before & ~after
    exact = ~before & (tt == lt)
    bad = (before & ((st[0] - tt) > max_gap)) | (after & ~exact & ((tt - st[-1]) > max_gap))
    bad |= inside & ~exact & ((rt - lt) > max_gap)
    if v.ndim == 1:
        out[:] = np.interp(tt, st, v)
    else:
        li = np.clip(left, 0, n - 1)
        ri = np.clip(right, 0, n - 1)
        span = np.where(inside, rt - lt, 1.0)
        w = np.where(inside, (tt - lt) / span, 0.0)
        w = np.where(after, 0.0, w)
        li = np.where(before, 0, li)
        ri = np.where(after, n - 1, ri)
        base = v[np.where(after, n - 1, li)]
        w_ = w.reshape(-1, *([1] * (v.ndim - 1)))
        out[:] = base * (1.0 - w_) + v[ri] * w_
        out[exact] = v[left[exact]]
    out[bad] = np.nan
    return out


def _linear_few_gaps(tt: np.ndarray, st: np.ndarray, v: np.ndarray, max_gap: float, gaps: np.ndarray) -> np.ndarray:
    """1-D linear interpolation when the source has few gaps wider than ``max_gap``.

    Gives exactly what the general path gives (same comparisons, same ``numpy.interp``) without
    locating every target among the source times: only targets strictly inside a wide gap, or
    farther than ``max_gap`` beyond either end, become NaN.
    """
    out: np.ndarray = np.interp(tt, st, v)
    first, last = st[0], st[-1]
    bad = (tt < first) & ((first - tt) > max_gap)
    bad |= (tt > last) & ((tt - last) > max_gap)
    for g in gaps:
        bad |= (tt > st[g]) & (tt < st[g + 1])
    out[bad] = np.nan
    return out


def bracketing_range(target_times: np.ndarray, source_times: np.ndarray) -> tuple[float, float] | None:
    """First and last source times used for targets spanning ``target_times`` (one record either
    side of the span, or the edge records), ``None`` when there are no source records."""
    if len(source_times) == 0 or len(target_times) == 0:
        return None
    lo = int(np.searchsorted(source_times, target_times.min(), side="right")) - 1
    hi = int(np.searchsorted(source_times, target_times.max(), side="left"))
    lo = min(max(lo, 0), len(source_times) - 1)
    hi = min(max(hi, 0), len(source_times) - 1)
    return float(source_times[lo]), float(source_times[hi])
