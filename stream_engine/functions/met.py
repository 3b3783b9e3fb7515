"""Bulk meteorology (METBK) products that need no flux iteration.

From the OOI Data Product Specifications BARPRES (1341-00270), WINDAVG (1341-00240), NETSIRR
(1341-00280), RAINRTE (1341-00300), SALSURF (1341-00180 via TEOS-10), SPECHUM (1341-00340)
and the auxiliary CURRENT / RELWIND products of the METBK surface buoys. The products of the
bulk flux (COARE) algorithm are in :mod:`stream_engine.functions.met_fluxes`.

``use_velptmn_with_metbk`` (calibration ``CC_use_velpt``) says whether the currents of the buoy's
VELPT may be used: 0 (the default) treats them as bad, so current products are missing and the
relative wind is the wind itself.
"""

from __future__ import annotations

import gsw
import numpy as np

from stream_engine.functions.arrays import as_floats
from stream_engine.functions.declination import magnetic_declination, rotate_by_declination
from stream_engine.functions.hourly import hourly_means
from stream_engine.functions.registry import algorithm

OWNER = "ion_functions.data.met_functions"

#: Without a co-located current meter, or without ``CC_use_velpt``, the relative wind is the
#: wind itself and the current products are missing (the DPS defaults).
_SWITCH = ("use_velptmn_with_metbk",)
_CURRENT_INPUTS = ("vle_water", "vln_water", *_SWITCH)

#: Sea-surface reflectance (albedo) for shortwave radiation, as in the TOGA-COARE code.
ALBEDO = 0.055


@algorithm(OWNER, "met_barpres", version="1.0")
def met_barpres(mbar) -> np.ndarray:
    """BARPRES_L1 [Pa] from barometric pressure in mbar."""
    mbar = np.atleast_1d(np.asarray(mbar))
    return mbar * 100.0 if mbar.dtype.kind == "f" else mbar.astype(np.float64) * 100.0


def _wind_true(uu, vv, lat, lon, timestamp, zwindsp) -> tuple[np.ndarray, np.ndarray]:
    uu, vv, lat, lon, timestamp, zwindsp = as_floats(uu, vv, lat, lon, timestamp, zwindsp)
    declination = magnetic_declination(lat, lon, timestamp, zwindsp)
    return rotate_by_declination(uu, vv, declination)


@algorithm(OWNER, "met_windavg_mag_corr_east", version="1.0")
def met_windavg_mag_corr_east(uu, vv, lat, lon, timestamp, zwindsp=0.0) -> np.ndarray:
    """WINDAVG-VLE_L1 [m s-1]: eastward wind corrected for magnetic declination.

    ``zwindsp`` is the height of the wind sensor above sea level [m]; the declination is that of
    the World Magnetic Model edition valid at each sample time
    (:mod:`stream_engine.functions.declination`).
    """
    return np.atleast_1d(_wind_true(uu, vv, lat, lon, timestamp, zwindsp)[0])


@algorithm(OWNER, "met_windavg_mag_corr_north", version="1.0")
def met_windavg_mag_corr_north(uu, vv, lat, lon, timestamp, zwindsp=0.0) -> np.ndarray:
    """WINDAVG-VLN_L1 [m s-1]: northward wind corrected for magnetic declination."""
    return np.atleast_1d(_wind_true(uu, vv, lat, lon, timestamp, zwindsp)[1])


def vetted_currents(vle, vln, use_velptmn) -> tuple[np.ndarray, np.ndarray]:
    """Current components, NaN where ``use_velptmn`` (scalar or per record) is 0."""
    vle, vln = (np.array(x, dtype=np.float64, ndmin=1) for x in (vle, vln))
    use = np.broadcast_to(np.asarray(use_velptmn, dtype=np.float64), vle.shape)
    off = use == 0
    vle[off] = np.nan
    vln[off] = np.nan
    return vle, vln


def compass_direction(east, north) -> np.ndarray:
    """Direction a vector points to [degrees clockwise from true north, 0-360)."""
    return np.mod(450.0 - np.degrees(np.arctan2(north, east)), 360.0)


@algorithm(OWNER, "met_current_direction", version="1.0", fallbacks=_SWITCH)
def met_current_direction(vle_water, vln_water, use_velptmn_with_metbk=0) -> np.ndarray:
    """CURRENT_DIR [degrees]: direction the surface current flows to (0 north, 90 east)."""
    vle, vln = vetted_currents(vle_water, vln_water, use_velptmn_with_metbk)
    return compass_direction(vle, vln)


@algorithm(OWNER, "met_current_speed", version="1.0", fallbacks=_SWITCH)
def met_current_speed(vle_water, vln_water, use_velptmn_with_metbk=0) -> np.ndarray:
    """CURRENT_SPD [m s-1]: speed of the surface current."""
    vle, vln = vetted_currents(vle_water, vln_water, use_velptmn_with_metbk)
    return np.hypot(vle, vln)


@algorithm(OWNER, "met_relwind_direction", version="1.0", fallbacks=_CURRENT_INPUTS)
def met_relwind_direction(vle_wind, vln_wind, vle_water=None, vln_water=None,
                          use_velptmn_with_metbk=0) -> np.ndarray:
    """RELWIND_DIR-AUX [degrees]: direction of the wind relative to the water.

    Missing wherever the current is missing or not to be used (no current, no relative direction).
    """
    vle_wind, vln_wind = as_floats(vle_wind, vln_wind)
    vle_wind, vln_wind = np.atleast_1d(vle_wind), np.atleast_1d(vln_wind)
    if vle_water is None or vln_water is None:
        return np.full(vle_wind.shape, np.nan)
    vle, vln = vetted_currents(vle_water, vln_water, use_velptmn_with_metbk)
    return compass_direction(vle_wind - vle, vln_wind - vln)


@algorithm(OWNER, "met_relwind_speed", version="1.0", fallbacks=_CURRENT_INPUTS)
def met_relwind_speed(vle_wind, vln_wind, vle_water=None, vln_water=None,
                      use_velptmn_with_metbk=0) -> np.ndarray:
    """RELWIND_SPD-AUX [m s-1]: speed of the wind relative to the water.

    Currents that are missing or not to be used count as zero, so the product is then the wind
    speed itself (DPS: relative wind is the fundamental wind input of the bulk fluxes).
    """
    vle_wind, vln_wind = as_floats(vle_wind, vln_wind)
    vle_wind, vln_wind = np.atleast_1d(vle_wind), np.atleast_1d(vln_wind)
    if vle_water is None or vln_water is None:
        return np.hypot(vle_wind, vln_wind)
    vle, vln = vetted_currents(vle_water, vln_water, use_velptmn_with_metbk)
    bad = np.isnan(vle * vln)
    vle[bad] = 0.0
    vln[bad] = 0.0
    return np.sqrt((vle - vle_wind) ** 2 + (vln - vln_wind) ** 2)


@algorithm(OWNER, "met_netsirr", version="1.0")
def met_netsirr(shortwave_down) -> np.ndarray:
    """NETSIRR_L2 [W m-2]: net downward shortwave irradiance, (1 - albedo) * downwelling."""
    shortwave_down = np.atleast_1d(np.asarray(shortwave_down))
    return (1.0 - ALBEDO) * shortwave_down


@algorithm(OWNER, "met_salsurf", version="1.0")
def met_salsurf(cond, tC_sea, ztmpwat) -> np.ndarray:
    """SALSURF_L2: sea-surface practical salinity (TEOS-10) from conductivity [S m-1],
    temperature [deg C] and the sensor depth [m], used as pressure [dbar]."""
    # mS/cm in the conductivity's own precision (float32 for METBK), as the archive computed it
    cond_mS_cm = np.asarray(cond) * 10.0
    return np.atleast_1d(gsw.SP_from_C(*as_floats(cond_mS_cm, tC_sea, ztmpwat)))


@algorithm(OWNER, "met_spechum", version="1.0")
def met_spechum(tC_air, pr_air, relhum) -> np.ndarray:
    """SPECHUM_L2 [g kg-1]: specific humidity of air from temperature [deg C], pressure [mbar]
    and relative humidity [%] (Buck's saturation vapour pressure with enhancement factor)."""
    tC_air, pr_air, relhum = (np.atleast_1d(np.asarray(x)) for x in (tC_air, pr_air, relhum))
    es = 6.1121 * np.exp(17.502 * tC_air / (tC_air + 240.97)) * (1.0007 + 3.46e-6 * pr_air)
    em = 0.01 * relhum * es
    return 621.97 * em / (pr_air - 0.378 * em)


def rain_rate(cumulative_precipitation, timestamp) -> np.ndarray:
    """Rain rate [mm h-1] between consecutive records of cumulative precipitation [mm]; the
    first record and negative rates (gauge drained) are 0."""
    cumu, t = as_floats(cumulative_precipitation, timestamp)
    cumu, t = np.atleast_1d(cumu), np.atleast_1d(t)
    if cumu.size == 1:
        return np.zeros(1)
    rate = np.concatenate(([0.0], np.diff(cumu) / (np.diff(t) / 3600.0)))
    rate[rate < 0.0] = 0.0
    return rate


@algorithm(OWNER, "met_timeflx", version="1.0")
def met_timeflx(timestamp) -> np.ndarray:
    """TIMEFLX-AUX [NTP s]: the times of the hourly flux records (mid-points of the hours)."""
    return hourly_means(timestamp)[1]


@algorithm(OWNER, "met_netsirr_hourly", version="1.0")
def met_netsirr_hourly(shortwave_down, timestamp) -> np.ndarray:
    """NETSIRR_L2 on the hourly time base: net shortwave of hourly mean downwelling shortwave."""
    (mean_down,), _ = hourly_means(timestamp, shortwave_down)
    return met_netsirr(mean_down)


@algorithm(OWNER, "met_rainrte", version="1.0")
def met_rainrte(cumulative_precipitation, timestamp) -> np.ndarray:
    """RAINRTE_L2 [mm h-1] on the hourly time base, from hourly mean cumulative precipitation."""
    (mean_cumu,), hours = hourly_means(timestamp, cumulative_precipitation)
    return rain_rate(mean_cumu, hours)
