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


class TrendSums:
    """The DPS trend test (1341-10007) accumulated over a series given in pieces, in order.

    A polynomial of order ``ord_n`` is fitted by least squares to ``dat`` over ``t``; the series
    has a trend (fails) when the residual's standard deviation times ``nstd`` is below that of
    ``dat``. Only the normal equations are kept (times taken from the first one and scaled by
    ``scale``, values from the first finite one), so a series of any length costs a few numbers.
    Non-finite values are left out.
    """

    def __init__(self, ord_n: float, nstd: float, scale: float = 1.0) -> None:
        self.order, self.factor = int(round(abs(ord_n))), int(abs(nstd))
        self.scale = float(scale) if scale > 0 else 1.0
        size = self.order + 1
        self.normal = np.zeros((size, size))
        self.moment = np.zeros(size)
        self.n, self.total, self.squares = 0, 0.0, 0.0
        self.origin: tuple[float, float] | None = None

    def add(self, dat: np.ndarray, t: np.ndarray) -> None:
        """Take in more values (and their times), after those already given."""
        dat, t = np.asarray(dat, dtype=np.float64), np.asarray(t, dtype=np.float64)
        good = np.isfinite(dat) & np.isfinite(t)
        if not good.any():
            return
        if self.origin is None:
            first = int(np.flatnonzero(good)[0])
            self.origin = (float(t[first]), float(dat[first]))
        x = (t[good] - self.origin[0]) / self.scale
        y = dat[good] - self.origin[1]
        powers = np.vander(x, self.order + 1, increasing=True)
        self.normal += powers.T @ powers
        self.moment += powers.T @ y
        self.n += int(good.sum())
        self.total += float(y.sum())
        self.squares += float(y @ y)

    def passed(self) -> int:
        """1 when the series has no significant trend, 0 when it has."""
        if self.n <= self.order:
            return 1
        beta = np.linalg.lstsq(self.normal, self.moment, rcond=None)[0]
        residual = self.squares - 2 * float(beta @ self.moment) + float(beta @ self.normal @ beta)
        spread = self.squares / self.n - (self.total / self.n) ** 2
        residual_std, std = np.sqrt(max(residual / self.n, 0.0)), np.sqrt(max(spread, 0.0))
        return 0 if residual_std * self.factor < std else 1


def poly_trend(dat: np.ndarray, t: np.ndarray, ord_n: float, nstd: float) -> np.ndarray:
    """DPS trend test: all 0 when a polynomial of order ``ord_n`` explains the series (residual
    standard deviation times ``nstd`` below the series'), else all 1 (:class:`TrendSums`)."""
    t = np.asarray(t, dtype=np.float64)
    finite = t[np.isfinite(t)]
    sums = TrendSums(ord_n, nstd, float(finite.max() - finite.min()) if len(finite) else 1.0)
    sums.add(dat, t)
    return np.full(len(np.asarray(dat)), sums.passed(), dtype=np.int8)


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


class GradientScan:
    """The DPS gradient test (1341-10010) along ``x``, scanning a series given in pieces, in order.

    Values are scanned from one presumed good: the first value, or when ``startdat`` is given (not
    NaN and, as ion-functions read it, not 0) the first value within ``toldat`` of ``startdat``. A
    value whose change from the previous kept value, divided by the change of ``x``, lies outside
    ``ddatdx`` fails, with the skipped values just before it; the following values fail until one
    comes back within ``toldat`` of the last good value, which is good again. A value within
    ``mindx`` of the last kept value's ``x`` is skipped (:data:`GRADIENT_SKIPPED`). Missing values
    (or ``x``) are not scanned and fail. When the whole ``x`` span is within ``mindx`` every value
    passes (too few to judge). Only the flags that are not 1 are kept, by record position.
    """

    def __init__(self, ddatdx: tuple[float, float], mindx: float = 0.0, startdat: float = float("nan"),
                 toldat: float = 0.0) -> None:
        self.lo, self.hi = min(ddatdx), max(ddatdx)
        self.mindx = 0.0 if not np.isfinite(mindx) else float(mindx)
        self.startdat, self.toldat = float(startdat), float(toldat)
        self.flags: dict[int, int] = {}  # scanned values' flags other than 1
        self.missing: list[int] = []
        self.last: tuple[int, float, float] | None = None  # position, value, x of the last kept value
        self.first_x: float | None = None
        self.skipped: list[int] = []
        self.bad = False
        self.good_value = float("nan")

    def add(self, dat: np.ndarray, x: np.ndarray, positions: np.ndarray) -> None:
        """Scan more values (with their ``x`` and record positions), after those already given."""
        dat, x = np.asarray(dat, dtype=np.float64).ravel(), np.asarray(x, dtype=np.float64).ravel()
        finite = np.isfinite(dat) & np.isfinite(x)
        self.missing.extend(np.asarray(positions)[~finite].tolist())
        for position, d, xi in zip(np.asarray(positions)[finite].tolist(), dat[finite].tolist(),
                                   x[finite].tolist(), strict=True):
            self._one(position, d, xi)

    def _one(self, position: int, d: float, xi: float) -> None:
        if self.last is None:
            self.first_x = xi
            if not np.isfinite(self.startdat) or self.startdat == 0:
                self.good_value = d
            elif abs(d - self.startdat) > self.toldat:
                self.bad, self.good_value, self.flags[position] = True, self.startdat, 0
            else:
                self.good_value = d
            self.last = (position, d, xi)
            return
        _, last_d, last_x = self.last
        if abs(xi - last_x) <= self.mindx:
            self.flags[position] = GRADIENT_SKIPPED
            self.skipped.append(position)
            return
        if self.bad:
            if abs(d - self.good_value) <= self.toldat:
                self.bad, self.good_value = False, d
            else:
                self.flags[position] = 0
        else:
            rate = (d - last_d) / (xi - last_x)
            if rate < self.lo or rate > self.hi:
                for skipped in (*self.skipped, position):
                    self.flags[skipped] = 0
                self.bad = True
            else:
                self.good_value = d
        self.skipped = []
        self.last = (position, d, xi)

    def result(self) -> dict[int, int]:
        """The flags other than 1, by record position, of everything given."""
        out = {p: 0 for p in self.missing}
        if self.last is not None and abs(self.last[2] - (self.first_x or 0.0)) >= self.mindx:
            out.update(self.flags)
        return out


def gradient(dat: np.ndarray, x: np.ndarray, ddatdx: tuple[float, float], mindx: float = 0.0,
             startdat: float = float("nan"), toldat: float = 0.0) -> np.ndarray:
    """DPS gradient test along ``x`` (time, or any increasing coordinate): :class:`GradientScan`
    over the whole series."""
    dat = np.asarray(dat, dtype=np.float64).ravel()
    scan = GradientScan(ddatdx, mindx, startdat, toldat)
    scan.add(dat, x, np.arange(dat.size))
    out = np.ones(dat.size, dtype=np.int8)
    for position, flag in scan.result().items():
        out[position] = flag
    return out


def propagate_flags(inflags: np.ndarray) -> np.ndarray:
    """DPS combined QC flags: ``inflags`` is ``(m, n)``, one row of flags (1 good) per source;
    the result is 1 where every source's flag is 1."""
    inflags = np.atleast_2d(np.asarray(inflags))
    return (inflags == 1).all(axis=0).astype(np.int8)


def modulus(x: np.ndarray, y: np.ndarray | float) -> np.ndarray:
    """DPS modulus: ``x`` wrapped into ``[0, y)`` for positive ``y`` (e.g. headings into 0-360)."""
    return np.mod(x, y)
