"""The original's data-QC algorithms (OOI Data Product Specifications 1341-100xx).

Written from the DPS descriptions and the behaviour of ion-functions' ``qc_functions`` (which the
original ran); each flag test returns 1 where a value passes and 0 (or another value) where it
does not:

* global range (DPS 1341-10004): ``dat_min <= dat <= dat_max``;
* local range (1341-10005): the limits vary with the measurement's location ``z`` (one or more
  coordinates, e.g. pressure and month), linearly interpolated in the table ``datlim`` given at
  the points ``datlimz`` (piecewise linear in 1-D, over a Delaunay triangulation in N-D); a value
  whose location lies outside the table fails;
* spike (1341-10006): each value against the mean of its ``L - 1`` peers (a window of ``L``
  values centred on it, shifted inside the series at its ends): a spike deviates from that mean
  by more than ``N * max(range of the peers, acc)``;
* trend (1341-10007): a polynomial of order ``ord_n`` fitted to ``dat`` over ``t``; every value
  fails when the residual's standard deviation times ``nstd`` is below that of ``dat``;
* stuck value (1341-10008): ``num`` successive values within ``reso`` of the last of them all fail;
* gradient (1341-10010): successive values whose change over ``x`` leaves ``ddatdx`` fail, and so
  do the following ones until a value comes back within ``toldat`` of the last good one; values
  within ``mindx`` of the previous kept one are skipped (-99);
* combined flags (1341-10012, "propagate flags"): 1 where every input flag is 1;
* modulus (1341-10001): ``x`` wrapped into ``[0, y)`` (compass headings); a data-processing
  function, not a flag test.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from stream_engine.assets import NTP_UNIX_OFFSET

#: Records a block of the spike test computes at once (its windows are ``L`` values each).
_SPIKE_BLOCK = 65536
#: The gradient test's flag for a value skipped because it lies within ``mindx`` of the last kept one.
GRADIENT_SKIPPED = -99


def global_range(dat: np.ndarray, dat_min: float, dat_max: float) -> np.ndarray:
    """DPS global range test: 1 inside ``[min, max]`` (either order), 0 outside or missing."""
    lo, hi = min(dat_min, dat_max), max(dat_min, dat_max)
    dat = np.asarray(dat, dtype=np.float64)
    return ((dat >= lo) & (dat <= hi)).astype(np.int8)


def local_range(dat: np.ndarray, z: np.ndarray, datlim: np.ndarray, datlimz: np.ndarray) -> np.ndarray:
    """DPS local range test: 1 where ``dat`` lies within the limits interpolated at its location.

    Parameters
    ----------
    dat
        The values, ``(n,)``.
    z
        Their locations, ``(n,)`` for one coordinate or ``(n, k)`` for ``k``.
    datlim
        ``(m, 2)``: lower and upper limit at each table point.
    datlimz
        ``(m,)`` or ``(m, k)``: the table points, in the coordinates of ``z``.

    Raises
    ------
    ValueError
        The shapes do not agree.
    """
    dat = np.asarray(dat, dtype=np.float64).ravel()
    datlim = np.asarray(datlim, dtype=np.float64)
    datlimz = np.asarray(datlimz, dtype=np.float64)
    z = np.asarray(z, dtype=np.float64)
    if datlimz.ndim == 2 and datlimz.shape[1] == 1:
        datlimz = datlimz[:, 0]
    if z.ndim == 2 and z.shape[1] == 1:
        z = z[:, 0]
    if datlim.ndim != 2 or datlim.shape[1] != 2:
        raise ValueError(f"datlim must have two columns (lower, upper limit), got shape {datlim.shape}")
    if datlimz.shape[0] != datlim.shape[0]:
        raise ValueError(f"datlim has {datlim.shape[0]} rows but datlimz {datlimz.shape[0]}")
    dims = 1 if datlimz.ndim == 1 else datlimz.shape[1]
    if (1 if z.ndim == 1 else z.shape[1]) != dims or z.shape[0] != dat.size:
        raise ValueError(f"z has shape {z.shape}; it needs {dat.size} rows of {dims} coordinate(s)")
    if dims == 1:
        order = np.argsort(datlimz, kind="stable")
        lower = np.interp(z, datlimz[order], datlim[order, 0], left=np.nan, right=np.nan)
        upper = np.interp(z, datlimz[order], datlim[order, 1], left=np.nan, right=np.nan)
    else:
        from scipy.interpolate import LinearNDInterpolator

        limits = LinearNDInterpolator(datlimz, datlim)(z)
        lower, upper = limits[:, 0], limits[:, 1]
    outside = np.isnan(lower) | np.isnan(upper)
    lower[outside] = datlim[:, 1].max()  # as the DPS: no limits there, so the value fails
    upper[outside] = datlim[:, 0].min()
    return ((dat >= lower) & (dat <= upper)).astype(np.int8)


def ntp_month(times: np.ndarray) -> np.ndarray:
    """Month (0 January ... 11 December, as ion-functions' ``ntp_to_month``) of NTP seconds,
    rounded to the second."""
    seconds = np.round(np.asarray(times, dtype=np.float64) - NTP_UNIX_OFFSET).astype(np.int64)
    months = seconds.astype("datetime64[s]").astype("datetime64[M]").astype(np.int64)
    return (months % 12).astype(np.int16)


def spike(dat: np.ndarray, acc: float, n: float, window: int) -> np.ndarray:
    """DPS spike test over windows of ``window`` values (ion-functions' ``spike``): 0 at spikes.

    A series shorter than the window passes whole, as the C implementation leaves it.
    """
    dat = np.asarray(dat, dtype=np.float64)
    length, window = len(dat), int(window)
    out = np.ones(length, dtype=np.int8)
    if window < 2 or length < window:
        return out
    half = window // 2
    windows = sliding_window_view(dat, window)
    for lo in range(0, length, _SPIKE_BLOCK):
        index = np.arange(lo, min(length, lo + _SPIKE_BLOCK))
        start = np.clip(index - half, 0, length - window)
        values = windows[start]
        focus = index - start
        peers = np.ones(values.shape, dtype=bool)
        peers[np.arange(len(index)), focus] = False
        peer_values = values[peers].reshape(len(index), window - 1)
        spread = np.maximum(peer_values.max(axis=1) - peer_values.min(axis=1), acc)
        deviation = np.abs(dat[index] - peer_values.mean(axis=1))
        out[index[deviation > n * spread]] = 0
    return out


def poly_trend(dat: np.ndarray, t: np.ndarray, ord_n: float, nstd: float) -> np.ndarray:
    """DPS trend test: all 0 when a polynomial of order ``ord_n`` explains the series (residual
    standard deviation times ``nstd`` below the series'), else all 1. Fitted on finite values."""
    dat = np.asarray(dat, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64)
    order, factor = int(round(abs(ord_n))), int(abs(nstd))
    good = np.isfinite(dat) & np.isfinite(t)
    if good.sum() <= order:
        return np.ones(len(dat), dtype=np.int8)
    x, y = t[good], dat[good]
    fitted = np.polyval(np.polyfit(x - x[0], y, order), x - x[0])
    trend = np.std(y - fitted) * factor < np.std(y)
    return np.full(len(dat), 0 if trend else 1, dtype=np.int8)


def stuck_value(x: np.ndarray, reso: float, num: float) -> np.ndarray:
    """DPS stuck value test: 0 for ``num`` (default 10) successive values all within ``reso`` of
    the last of them; a series shorter than ``num`` fails whole, as ion-functions returns."""
    x = np.asarray(x, dtype=np.float64)
    count = abs(int(num)) or 10
    if len(x) < count:
        return np.zeros(len(x), dtype=np.int8)
    if count == 1:
        return np.zeros(len(x), dtype=np.int8)
    windows = sliding_window_view(x, count)
    stuck = (np.abs(windows[:, :-1] - windows[:, -1:]) < reso).all(axis=1)
    covered = np.convolve(stuck.astype(np.int64), np.ones(count, dtype=np.int64))[: len(x)] > 0
    return np.where(covered, 0, 1).astype(np.int8)


def gradient(dat: np.ndarray, x: np.ndarray, ddatdx: tuple[float, float], mindx: float = 0.0,
             startdat: float = float("nan"), toldat: float = 0.0) -> np.ndarray:
    """DPS gradient test along ``x`` (time, or any increasing coordinate).

    Values are scanned in order from one presumed good: the first value, or when ``startdat`` is
    given (not NaN and, as ion-functions read it, not 0) the first value within ``toldat`` of
    ``startdat``. A value whose change from the previous kept value, divided by the change of
    ``x``, lies outside ``ddatdx`` fails, with the skipped values just before it; the following
    values fail until one comes back within ``toldat`` of the last good value, which is good
    again. A value within ``mindx`` of the last kept value's ``x`` is skipped
    (:data:`GRADIENT_SKIPPED`). Missing values (or ``x``) are not scanned and fail. When the
    whole ``x`` span is within ``mindx`` every value passes (too few to judge).
    """
    dat = np.asarray(dat, dtype=np.float64).ravel()
    x = np.asarray(x, dtype=np.float64).ravel()
    lo, hi = min(ddatdx), max(ddatdx)
    mindx = 0.0 if not np.isfinite(mindx) else float(mindx)
    out = np.ones(dat.size, dtype=np.int8)
    index = np.flatnonzero(np.isfinite(dat) & np.isfinite(x))
    out[np.setdiff1d(np.arange(dat.size), index)] = 0
    if index.size == 0 or abs(x[index[-1]] - x[index[0]]) < mindx:
        return out
    d, xs, flags = dat[index], x[index], np.ones(index.size, dtype=np.int8)
    bad = False
    if not np.isfinite(startdat) or startdat == 0:
        good_value = d[0]
    else:
        good_value = float(startdat)
        if abs(d[0] - good_value) > toldat:
            bad, flags[0] = True, 0
        else:
            good_value = d[0]
    last = 0
    for i in range(1, d.size):
        if abs(xs[i] - xs[last]) <= mindx:
            flags[i] = GRADIENT_SKIPPED
            continue
        if bad:
            if abs(d[i] - good_value) <= toldat:
                bad, good_value = False, d[i]
            else:
                flags[i] = 0
            last = i
            continue
        rate = (d[i] - d[last]) / (xs[i] - xs[last])
        if rate < lo or rate > hi:
            flags[last + 1: i + 1] = 0
            bad = True
        else:
            good_value = d[i]
        last = i
    out[index] = flags
    return out


def propagate_flags(inflags: np.ndarray) -> np.ndarray:
    """DPS combined QC flags: ``inflags`` is ``(m, n)``, one row of flags (1 good) per source;
    the result is 1 where every source's flag is 1."""
    inflags = np.atleast_2d(np.asarray(inflags))
    return (inflags == 1).all(axis=0).astype(np.int8)


def modulus(x: np.ndarray, y: np.ndarray | float) -> np.ndarray:
    """DPS modulus: ``x`` wrapped into ``[0, y)`` for positive ``y`` (e.g. headings into 0-360)."""
    return np.mod(x, y)
