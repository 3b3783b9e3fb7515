"""Dissolved nitrate corrected for temperature and salinity (NITRTSC_L2, DCN 1341-00620) from the
UV absorption spectra of a Satlantic SUNA or ISUS (NUTNR).

For every light frame the algorithm of Sakamoto, Johnson and Coletti (2009) subtracts the
absorbance of sea salt, at the in-situ temperature and practical salinity of the co-located CTD,
from the measured absorbance ``log10(reference / (spectrum - dark))``, and fits what remains, over
the wavelengths between ``wllower`` and ``wlupper``, with the nitrate extinction coefficients
plus a linear baseline (least squares); the nitrate coefficient is the concentration [umol/L].
Dark frames (``SDB``, ``SDF``, ``NDF``) have no nitrate.

The spectra are 2-D inputs ``(obs, wavelength)``; the calibration arrays (``wl``, ``eno3``,
``eswa``, ``di``) are one row for all records or one row per record. The fit is solved once for
each distinct calibration (a deployment's), for all its records at once.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from stream_engine.functions.arrays import as_float
from stream_engine.functions.registry import algorithm

OWNER = "ion_functions.data.nit_functions"
DARK_FRAMES = ("SDB", "SDF", "NDF")
# Sea-salt absorbance at salinity 35 against temperature (Sakamoto et al. 2009, eq. 4)
A_SAK = 1.1500276
B_SAK = 0.02840
D_SAK = 0.001222


def _rows(value: Any, n: int) -> np.ndarray:
    """A calibration array as ``(n, width)`` (a broadcast view when one row serves all)."""
    rows = np.atleast_2d(as_float(value))
    return np.broadcast_to(rows, (n, rows.shape[-1])) if rows.shape[0] == 1 else rows


def _per_record(value: Any, n: int) -> np.ndarray:
    return np.broadcast_to(np.atleast_1d(as_float(value)), (n,))


def _changes(column: np.ndarray) -> np.ndarray:
    """Where a record's row differs from the previous record's (NaN equal to NaN)."""
    if column.ndim > 1 and column.strides[0] == 0:
        return np.zeros(len(column) - 1, dtype=bool)
    a, b = column[1:], column[:-1]
    differ = (a != b) & ~(np.isnan(a) & np.isnan(b))
    return differ.reshape(len(differ), -1).any(axis=1)


def _groups(*columns: np.ndarray) -> list[np.ndarray]:
    """Record indices sharing identical rows in every ``(n, ...)`` column: runs of equal rows
    (records come in deployment runs), runs with equal rows merged."""
    n = columns[0].shape[0]
    changes = np.zeros(max(n - 1, 0), dtype=bool)
    for column in columns:
        changes |= _changes(column)
    starts = np.r_[0, np.flatnonzero(changes) + 1]
    if len(starts) == 1:
        return [np.arange(n)]
    groups: dict[bytes, list[np.ndarray]] = {}
    for start, stop in zip(starts, np.r_[starts[1:], n], strict=True):
        key = b"".join(np.ascontiguousarray(c[start]).tobytes() for c in columns)
        groups.setdefault(key, []).append(np.arange(start, stop))
    return [np.concatenate(runs) for runs in groups.values()]


@algorithm(OWNER, "ts_corrected_nitrate", version="1.0")
def ts_corrected_nitrate(cal_temp, wl, eno3, eswa, di, dark_value, ctd_t, ctd_sp, data_in, frame_type,
                         wllower=217.0, wlupper=240.0) -> np.ndarray:
    """NITRTSC_L2 [umol/L]: nitrate from the spectra, corrected for in-situ temperature and salinity.

    Parameters
    ----------
    cal_temp
        Temperature of the calibration [deg C].
    wl, eno3, eswa, di
        Wavelengths [nm], nitrate and sea-water extinction coefficients, reference (deionised
        water) spectrum: one value per channel, for all records or per record.
    dark_value
        Dark counts of each record.
    ctd_t, ctd_sp
        In-situ temperature [deg C] and practical salinity of the co-located CTD, per record.
    data_in
        Spectra [counts], ``(records, channels)``.
    frame_type
        ``SLB``/``SLF`` light frames; dark frames give NaN.
    wllower, wlupper
        Wavelength window of the fit [nm] (217-240 for the 1-cm, 220-245 for the 4-cm probe).
    """
    spectra = np.atleast_2d(as_float(data_in))
    n = spectra.shape[0]
    wl_, eno3_, eswa_, di_ = (_rows(v, n) for v in (wl, eno3, eswa, di))
    cal_t, dark, t, sp, lower, upper = (
        _per_record(v, n) for v in (cal_temp, dark_value, ctd_t, ctd_sp, wllower, wlupper))
    frames = np.broadcast_to(np.atleast_1d(np.asarray(frame_type)).astype(str), (n,))
    light = ~np.isin(np.char.strip(frames), DARK_FRAMES)
    out = np.full(n, np.nan)
    limits = np.stack([lower, upper, cal_t], axis=1)
    for group in _groups(wl_, eno3_, eswa_, di_, limits):
        group = group[light[group]]
        if group.size == 0:
            continue
        first = group[0]
        use = (lower[first] <= wl_[first]) & (wl_[first] <= upper[first])
        if not use.any():
            continue
        wavelengths = wl_[first, use]
        design = np.column_stack([eno3_[first, use], np.full(use.sum(), 0.01), wavelengths / 1000.0])
        solve = np.linalg.pinv(design)[0]
        temperature = t[group, None]
        cal = cal_t[first]
        salt = (eswa_[first, use] * ((A_SAK + B_SAK * temperature) / (A_SAK + B_SAK * cal))
                * np.exp(D_SAK * (temperature - cal) * (wavelengths - 210.0)))
        with np.errstate(divide="ignore", invalid="ignore"):  # spectra at or below the dark level
            absorbance = np.log10(di_[first, use] / (spectra[group][:, use] - dark[group, None]))
            out[group] = (absorbance - sp[group, None] * salt) @ solve
    out[~np.isfinite(out)] = np.nan
    return out
