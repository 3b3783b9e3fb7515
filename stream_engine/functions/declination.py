"""Magnetic declination from the World Magnetic Model, and the rotation that removes it.

Compass-referenced velocities (VELPT currents, METBK winds) are turned into true east/north
components by rotating them through the magnetic declination at the instrument's position and
time (DPS VELPTMN 1341-00790, WINDAVG 1341-00240, the generic ``magnetic_correction``).

The declination comes from ``pygeomag``'s World Magnetic Model, **the edition valid at the sample
time** (WMM2010 for 2010-2014 and earlier, WMM2015v2 for 2015-2019, WMM2020, WMM2025), not WMM2010 for every
date as ion-functions (2017) did; products of 2017 therefore differ from the OOI archive by the
difference between editions (about 3e-4 to 1e-3 m/s for currents, 2e-2 m/s for winds). Height is
taken above mean sea level (no geoid correction: under 1e-5 m/s).

Speed: the model is evaluated in pure Python, so it is evaluated at the start and the end of each
distinct UTC day of the data (both with the edition valid that day) and interpolated linearly in
time between them. Declination changes by about 0.1 degree a year, smoothly: the interpolation
error is below 1e-9 degree.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta

import numpy as np

NTP_EPOCH = datetime(1900, 1, 1, tzinfo=UTC)
SECONDS_PER_DAY = 86400.0
#: First year of each WMM edition shipped by pygeomag, and its coefficient file.
EDITIONS = ((2010, "WMM_2010.COF"), (2015, "WMM_2015v2.COF"), (2020, "WMM_2020.COF"), (2025, "WMM_2025.COF"))


def edition_for_year(year: int) -> str:
    """The WMM coefficient file valid in ``year`` (each edition covers five years).

    Years before the first edition shipped use it extrapolated backwards (as ion-functions did
    with WMM2010 for every date); years after the last use the last one extrapolated forwards.
    """
    for first, name in reversed(EDITIONS):
        if year >= first:
            return name
    return EDITIONS[0][1]


@functools.lru_cache(maxsize=8)
def _model(coefficients: str):  # type: ignore[no-untyped-def]
    from pygeomag import GeoMag

    return GeoMag(coefficients_file=f"wmm/{coefficients}")


def _decimal_year(when: datetime) -> float:
    start = datetime(when.year, 1, 1, tzinfo=UTC)
    length = (datetime(when.year + 1, 1, 1, tzinfo=UTC) - start).total_seconds()
    return when.year + (when - start).total_seconds() / length


@functools.lru_cache(maxsize=65536)
def _day_declination(day: int, lat: float, lon: float, height_km: float) -> tuple[float, float]:
    """Declination [deg] at the start and the end of UTC day ``day`` (days since 1900-01-01),
    both from the edition valid on that day."""
    start = NTP_EPOCH + timedelta(days=day)
    model = _model(edition_for_year(start.year))
    out = []
    for when in (start, start + timedelta(days=1)):
        result = model.calculate(glat=lat, glon=lon, alt=height_km, time=_decimal_year(when),
                                 allow_date_outside_lifespan=True)
        out.append(float(result.d))
    return out[0], out[1]


def magnetic_declination(lat, lon, ntp_time, height_m=0.0) -> np.ndarray:
    """Magnetic declination [degrees, east positive] from the WMM edition valid at each time.

    Parameters
    ----------
    lat, lon
        Position [decimal degrees]; scalars or one value per record.
    ntp_time
        Sample times [NTP seconds].
    height_m
        Height above mean sea level [m] (negative below the surface); scalar or per record.

    Raises
    ------
    ValueError
        A position is outside [-90, 90] x [-180, 180].
    """
    t = np.atleast_1d(np.asarray(ntp_time, dtype=np.float64))
    lat_, lon_, z = (np.broadcast_to(np.asarray(x, dtype=np.float64), t.shape) for x in (lat, lon, height_m))
    if np.any(np.abs(lat_) > 90) or np.any(np.abs(lon_) > 180):
        raise ValueError("latitude must be within [-90, 90] and longitude within [-180, 180] degrees")
    out = np.full(t.shape, np.nan)
    ok = np.isfinite(t) & np.isfinite(lat_) & np.isfinite(lon_) & np.isfinite(z)
    if not ok.any():
        return out
    days = np.floor(t[ok] / SECONDS_PER_DAY)
    keys = np.stack([days, lat_[ok], lon_[ok], z[ok]], axis=1)
    unique, inverse = np.unique(keys, axis=0, return_inverse=True)
    ends = np.array([_day_declination(int(d), float(la), float(lo), float(h) / 1000.0) for d, la, lo, h in unique])
    fraction = t[ok] / SECONDS_PER_DAY - days
    inverse = inverse.reshape(-1)
    out[ok] = ends[inverse, 0] + (ends[inverse, 1] - ends[inverse, 0]) * fraction
    return out


def rotate_by_declination(u, v, declination) -> tuple[np.ndarray, np.ndarray]:
    """Magnetic-frame components (u east, v north) rotated to true east/north.

    ``u_true = u cos(D) + v sin(D)``, ``v_true = -u sin(D) + v cos(D)`` with ``D`` the
    declination in degrees (the generic ``magnetic_correction`` of the DPS).
    """
    theta = np.radians(declination)
    cos_t, sin_t = np.cos(theta), np.sin(theta)
    u = np.asarray(u, dtype=np.float64)
    v = np.asarray(v, dtype=np.float64)
    return u * cos_t + v * sin_t, -u * sin_t + v * cos_t
