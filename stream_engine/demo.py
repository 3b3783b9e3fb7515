"""Realistic generated data for an empty store: one mooring, three instruments, two deployments.

The seafloor multi-function node of the Oregon shelf mooring (``CE07SHSM-MFD37``, 87 m) carries
a CTD (SBE 16plus, raw counts), an oxygen optode (Aanderaa 4831, calibrated phase) and an ECO
triplet fluorometer (raw counts). Each instrument has two deployments of two weeks with a
five-day gap between them, and per-deployment calibration coefficients stored as asset events
in the same JSON shape the OOI asset-management service returns.

The physical signal (temperature with a semidiurnal tide and a daily cycle, salinity, pressure,
oxygen, chlorophyll, CDOM and backscatter) is generated first; the raw values the instruments
would have reported are then obtained by inverting the published calibration equations (OOI DPS
for TEMPWAT, PRESWAT, CONDWAT, DOCONCS, CHLAFLO, CDOMFLO, FLUBSCT) for each deployment's
coefficients, so that the engine's products come back to the generated physical values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from stream_engine.assets import NTP_UNIX_OFFSET, ntp_to_unix_ms
from stream_engine.errors import IngestError
from stream_engine.store.base import StreamKey

if TYPE_CHECKING:
    from stream_engine.preload.model import Preload
    from stream_engine.store.base import Store

SUBSITE, NODE = "CE07SHSM", "MFD37"
LAT, LON, DEPTH = 46.98589, -124.56490, 87.0
CTD = StreamKey(SUBSITE, NODE, "03-CTDBPC000", "recovered_inst", "ctdbp_cdef_instrument_recovered")
OPTODE = StreamKey(SUBSITE, NODE, "03-DOSTAD000", "recovered_host", "dosta_abcdjm_dcl_instrument_recovered")
FLUOROMETER = StreamKey(SUBSITE, NODE, "02-FLORTD000", "recovered_host", "flort_dj_dcl_instrument_recovered")
STREAMS = (CTD, OPTODE, FLUOROMETER)

# Sampling intervals and offsets (seconds): the optode and fluorometer are not in step with the
# CTD, so their salinity and temperature inputs must be interpolated.
_CTD_DT, _OPTODE_DT, _FLUOR_DT = 60.0, 60.0, 300.0
_OPTODE_LAG, _FLUOR_LAG = 20.0, 150.0
_NTP_2000 = 3155673600.0  # SBE ctd_time epoch: 2000-01-01


def _ntp(year: int, month: int, day: int) -> float:
    return datetime(year, month, day, tzinfo=UTC).timestamp() + NTP_UNIX_OFFSET


@dataclass(frozen=True)
class _Deployment:
    number: int
    start: float
    stop: float
    cal_date: float


DEPLOYMENTS = (
    _Deployment(1, _ntp(2019, 5, 1), _ntp(2019, 5, 15), _ntp(2019, 3, 12)),
    _Deployment(2, _ntp(2019, 5, 20), _ntp(2019, 6, 3), _ntp(2019, 4, 2)),
)

# Calibration coefficients per deployment (SBE 16plus values from real CTD calibration sheets).
CTD_CALIBRATIONS = (
    dict(CC_a0=1.246087e-03, CC_a1=2.744662e-04, CC_a2=-1.053524e-06, CC_a3=1.78513e-07,
         CC_g=-1.002191, CC_h=0.1438346, CC_i=-2.759555e-04, CC_j=4.000654e-05,
         CC_cpcor=-9.57e-08, CC_ctcor=3.25e-06,
         CC_ptempa0=-66.05836, CC_ptempa1=52.6279, CC_ptempa2=-0.4963498,
         CC_ptca0=525508.6, CC_ptca1=5.603161, CC_ptca2=-0.1110844,
         CC_ptcb0=25.04787, CC_ptcb1=-2.5e-05, CC_ptcb2=0.0,
         CC_pa0=0.1062501, CC_pa1=1.546543e-03, CC_pa2=6.464906e-12),
    dict(CC_a0=1.252507e-03, CC_a1=2.77772e-04, CC_a2=-1.743991e-06, CC_a3=2.04535e-07,
         CC_g=-0.9733758, CC_h=0.1472746, CC_i=-1.213067e-04, CC_j=3.036137e-05,
         CC_cpcor=-9.57e-08, CC_ctcor=3.25e-06,
         CC_ptempa0=169.6927, CC_ptempa1=-70.72418, CC_ptempa2=-1.08706,
         CC_ptca0=524732.5, CC_ptca1=-6.679858, CC_ptca2=0.2275047,
         CC_ptcb0=24.8405, CC_ptcb1=1.0e-04, CC_ptcb2=0.0,
         CC_pa0=-0.05980422, CC_pa1=1.717275e-03, CC_pa2=8.369519e-11),
)
OPTODE_CALIBRATIONS = (
    dict(CC_csv=[2.848e-03, 1.14e-04, 1.51e-06, 70.42301, -0.10302, -12.9462, 1.265377],
         CC_conc_coef=[0.0, 1.0]),
    dict(CC_csv=[2.8207e-03, 1.1978e-04, 2.1156e-06, 233.99, -0.33149, -57.172, 4.5501],
         CC_conc_coef=[-0.9768582, 1.0121]),
)
FLUOROMETER_CALIBRATIONS = (
    dict(CC_dark_counts_chlorophyll_a=48.0, CC_scale_factor_chlorophyll_a=0.0121,
         CC_dark_counts_cdom=49.0, CC_scale_factor_cdom=0.0904,
         CC_dark_counts_volume_scatter=47.0, CC_scale_factor_volume_scatter=1.684e-06,
         CC_scattering_angle=124.0, CC_measurement_wavelength=700.0,
         CC_depolarization_ratio=0.039, CC_angular_resolution=1.076),
    dict(CC_dark_counts_chlorophyll_a=44.0, CC_scale_factor_chlorophyll_a=0.0073,
         CC_dark_counts_cdom=51.0, CC_scale_factor_cdom=0.0911,
         CC_dark_counts_volume_scatter=50.0, CC_scale_factor_volume_scatter=1.589e-06,
         CC_scattering_angle=124.0, CC_measurement_wavelength=700.0,
         CC_depolarization_ratio=0.039, CC_angular_resolution=1.076),
)
_SENSORS = {
    CTD: ("CGINS-CTDBPC-50147", "Sea-Bird Electronics", "SBE 16plus V2", CTD_CALIBRATIONS),
    OPTODE: ("CGINS-DOSTAD-00415", "Aanderaa", "4831", OPTODE_CALIBRATIONS),
    FLUOROMETER: ("CGINS-FLORTD-01083", "WET Labs", "ECO Triplet-w", FLUOROMETER_CALIBRATIONS),
}


# -- physical signal -------------------------------------------------------------------------


def _ocean(t: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Temperature [degC], salinity, pressure [dbar], oxygen [umol/L] at NTP times ``t``."""
    hours = (t - DEPLOYMENTS[0].start) / 3600.0
    m2 = np.sin(2 * np.pi * hours / 12.4206)
    s2 = np.sin(2 * np.pi * hours / 12.0 + 0.8)
    day = np.sin(2 * np.pi * hours / 24.0 - 1.2)
    slow = np.sin(2 * np.pi * hours / (9.3 * 24.0))
    n = t.shape
    temp = 10.6 + 1.1 * m2 + 0.35 * day + 0.6 * slow + rng.normal(0.0, 0.02, n)
    salt = 33.62 - 0.06 * m2 + 0.03 * slow + rng.normal(0.0, 0.004, n)
    pres = 86.2 + 0.95 * m2 + 0.25 * s2 + rng.normal(0.0, 0.01, n)
    oxygen = 258.0 - 7.0 * (temp - 10.6) + 6.0 * slow + rng.normal(0.0, 0.8, n)
    return {"T": temp, "S": salt, "P": pres, "O2": oxygen}


def _times(dt: float, lag: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    times, numbers = [], []
    for dep in DEPLOYMENTS:
        t = np.arange(dep.start + lag, dep.stop, dt)
        t = t + np.round(rng.uniform(0.0, 0.8, t.shape), 3)  # instrument clock jitter, ms resolution
        times.append(t)
        numbers.append(np.full(t.shape, dep.number, dtype=np.int32))
    return np.concatenate(times), np.concatenate(numbers)


def _per_deployment(numbers: np.ndarray, table: tuple[Mapping[str, Any], ...], name: str) -> np.ndarray:
    """Each record's coefficient value (``(n,)`` or ``(n, k)``) from its deployment's table row."""
    rows = np.asarray([np.asarray(table[d.number - 1][name], dtype=np.float64) for d in DEPLOYMENTS])
    return rows[numbers - DEPLOYMENTS[0].number]


# -- inverse calibrations --------------------------------------------------------------------


def _solve_poly(coeffs: list[np.ndarray], target: np.ndarray, x0: np.ndarray) -> np.ndarray:
    """Newton's method for ``sum(c[k] x**k) = target`` from ``x0`` (vectorised)."""
    x = x0.copy()
    for _ in range(30):
        f = sum(c * x**k for k, c in enumerate(coeffs)) - target
        df = sum(k * c * x ** (k - 1) for k, c in enumerate(coeffs) if k)
        step = f / df
        x -= step
        if np.all(np.abs(step) <= 1e-12 * np.maximum(np.abs(x), 1.0)):
            break
    return x


def ctd_counts(temp: np.ndarray, salt: np.ndarray, pres: np.ndarray, cal: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """SBE 16plus raw counts (temperature, conductivity, pressure, pressure_temp) for physical
    values, inverting the OOI TEMPWAT/PRESWAT/CONDWAT equations for coefficients ``cal``."""
    import gsw

    c = {k[3:]: v for k, v in cal.items()}
    # temperature: 1/(T+273.15) = a0 + a1 L + a2 L^2 + a3 L^3 with L = ln(r)
    y = 1.0 / (temp + 273.15)
    log_r = _solve_poly([c["a0"], c["a1"], c["a2"], c["a3"]], y, (y - c["a0"]) / c["a1"])
    r = np.exp(log_r)
    mv = (r * 2.048e4 - 1.024e8) / (2.9e9 + r * 2.0e5)
    t0 = np.round(mv * 1.6e7 + 524288.0)
    mv_r = (t0 - 524288.0) / 1.6e7
    r_r = (mv_r * 2.9e9 + 1.024e8) / (2.048e4 - mv_r * 2.0e5)
    lr = np.log(r_r)
    t1 = 1.0 / (c["a0"] + c["a1"] * lr + c["a2"] * lr**2 + c["a3"] * lr**3) - 273.15
    # pressure-sensor thermistor: T = ptempa0 + ptempa1 tv + ptempa2 tv^2, counts = 13107 tv
    tv = _solve_poly([c["ptempa0"] - temp, c["ptempa1"], c["ptempa2"]], np.zeros_like(temp),
                     (temp - c["ptempa0"]) / c["ptempa1"])
    pt0 = np.round(tv * 13107.0)
    tv_r = pt0 / 13107.0
    tp = c["ptempa0"] + c["ptempa1"] * tv_r + c["ptempa2"] * tv_r**2
    # strain-gauge pressure: psi = pa0 + pa1 n + pa2 n^2, dbar = 0.689475729 psi - 10.1325
    psi = (pres + 10.1325) / 0.689475729
    disc = np.sqrt(c["pa1"] ** 2 - 4.0 * c["pa2"] * (c["pa0"] - psi))
    n = -2.0 * (c["pa0"] - psi) / (c["pa1"] + disc)
    x = n * (c["ptcb0"] + c["ptcb1"] * tp + c["ptcb2"] * tp**2) / c["ptcb0"]
    p0 = np.round(x + c["ptca0"] + c["ptca1"] * tp + c["ptca2"] * tp**2)
    n_r = (p0 - c["ptca0"] - c["ptca1"] * tp - c["ptca2"] * tp**2) * c["ptcb0"] / (
        c["ptcb0"] + c["ptcb1"] * tp + c["ptcb2"] * tp**2)
    p1 = (c["pa0"] + c["pa1"] * n_r + c["pa2"] * n_r**2) * 0.689475729 - 10.1325
    # conductivity [S/m] = (g + h f^2 + i f^3 + j f^4) / (1 + ctcor t + cpcor p), f in kHz
    cond = gsw.C_from_SP(salt, temp, pres) / 10.0
    rhs = cond * (1.0 + c["ctcor"] * t1 + c["cpcor"] * p1)
    f = _solve_poly([c["g"] - rhs, np.zeros_like(rhs), c["h"], c["i"], c["j"]], np.zeros_like(rhs),
                    np.sqrt((rhs - c["g"]) / c["h"]))
    c0 = np.round(f * 1000.0 * 256.0)
    return {"temperature": t0.astype(np.int32), "conductivity": c0.astype(np.int32),
            "pressure": p0.astype(np.int32), "pressure_temp": pt0.astype(np.int32)}


def optode_phase(oxygen: np.ndarray, temp: np.ndarray, csv: np.ndarray, conc_coef: np.ndarray) -> np.ndarray:
    """Calibrated phase [deg] giving ``oxygen`` [umol/L] at foil temperature ``temp`` through the
    Stern-Volmer-Uchida equation (inverse of DOCONCS_L1)."""
    raw = (oxygen - conc_coef[:, 0]) / conc_coef[:, 1]
    ksv = csv[:, 0] + csv[:, 1] * temp + csv[:, 2] * temp**2
    p0 = csv[:, 3] + csv[:, 4] * temp
    pc = p0 / (1.0 + ksv * raw)
    return (pc - csv[:, 5]) / csv[:, 6]


# -- streams -----------------------------------------------------------------------------------


def _strings(fmt: str, times: np.ndarray) -> np.ndarray:
    return np.array([datetime.fromtimestamp(t - NTP_UNIX_OFFSET, UTC).strftime(fmt)[:23] for t in times])


def _ctd(rng: np.random.Generator) -> dict[str, np.ndarray]:
    t, dep = _times(_CTD_DT, 0.0, rng)
    ocean = _ocean(t, rng)
    cal = {k: _per_deployment(dep, CTD_CALIBRATIONS, k) for k in CTD_CALIBRATIONS[0]}
    recovered = np.array([DEPLOYMENTS[d - 1].stop + 2 * 86400.0 for d in dep])
    return {
        "time": t, "deployment": dep, "internal_timestamp": t.copy(),
        "driver_timestamp": recovered + np.arange(t.size) * 1e-3, "ingestion_timestamp": recovered + 3600.0,
        "preferred_timestamp": np.full(t.size, "internal_timestamp"),
        "ctd_time": np.round(t - _NTP_2000).astype(np.int32),
        **ctd_counts(ocean["T"], ocean["S"], ocean["P"], cal),
    }


def _dcl_timestamps(t: np.ndarray, dep: np.ndarray) -> dict[str, np.ndarray]:
    """Time, deployment and the timestamps a DCL-logged (recovered_host) instrument carries."""
    return {
        "time": t, "deployment": dep, "port_timestamp": t.copy(),
        "driver_timestamp": t + 0.5, "ingestion_timestamp": np.full(t.size, DEPLOYMENTS[-1].stop + 5 * 86400.0),
        "preferred_timestamp": np.full(t.size, "port_timestamp"),
        "dcl_controller_timestamp": _strings("%Y/%m/%d %H:%M:%S.%f", t),
    }


def _optode(rng: np.random.Generator) -> dict[str, np.ndarray]:
    import gsw

    t, dep = _times(_OPTODE_DT, _OPTODE_LAG, rng)
    ocean = _ocean(t, rng)
    foil = ocean["T"] + rng.normal(0.03, 0.01, t.shape)
    csv = _per_deployment(dep, OPTODE_CALIBRATIONS, "CC_csv")
    conc = _per_deployment(dep, OPTODE_CALIBRATIONS, "CC_conc_coef")
    phase = optode_phase(ocean["O2"], foil, csv, conc)
    saturation = ocean["O2"] / 1.026 / gsw.O2sol_SP_pt(ocean["S"], ocean["T"]) * 100.0
    f4 = np.float32
    return {
        **_dcl_timestamps(t, dep),
        "product_number": np.full(t.size, 4831, dtype=np.uint16),
        "serial_number": np.full(t.size, "415"),
        "estimated_oxygen_concentration": ocean["O2"].astype(f4),
        "estimated_oxygen_saturation": saturation.astype(f4),
        "optode_temperature": foil.astype(f4),
        "calibrated_phase": phase.astype(f4),
        "temp_compensated_phase": (phase + 0.02 * (foil - 20.0)).astype(f4),
        "blue_phase": (phase + rng.normal(0.0, 0.01, t.shape)).astype(f4),
        "red_phase": np.zeros(t.size, dtype=f4),
        "blue_amplitude": rng.normal(640.0, 3.0, t.shape).astype(f4),
        "red_amplitude": rng.normal(785.0, 2.0, t.shape).astype(f4),
        "raw_temperature": (-7.5 * foil + 640.0 + rng.normal(0.0, 0.3, t.shape)).astype(f4),
    }


def _fluorometer(rng: np.random.Generator) -> dict[str, np.ndarray]:
    t, dep = _times(_FLUOR_DT, _FLUOR_LAG, rng)
    hours = (t - DEPLOYMENTS[0].start) / 3600.0
    bloom = 1.0 + 0.8 * np.sin(2 * np.pi * hours / (6.5 * 24.0)) ** 2
    chl = np.clip(bloom * (1.2 + 0.5 * np.sin(2 * np.pi * hours / 24.0 - 2.0)) + rng.normal(0, 0.05, t.shape), 0.05, None)
    cdom = np.clip(1.6 + 0.2 * np.sin(2 * np.pi * hours / 12.4206) + rng.normal(0, 0.05, t.shape), 0.1, None)
    beta = np.clip(4.5e-4 + 1.2e-4 * bloom + rng.normal(0, 1.0e-5, t.shape), 5e-5, None)

    def counts(value: np.ndarray, dark: str, scale: str) -> np.ndarray:
        c = _per_deployment(dep, FLUOROMETER_CALIBRATIONS, dark) + value / _per_deployment(dep, FLUOROMETER_CALIBRATIONS, scale)
        return np.clip(np.round(c), 0, 4130).astype(np.uint16)

    u2 = np.uint16
    return {
        **_dcl_timestamps(t, dep),
        "date_string": _strings("%m/%d/%y", t), "time_string": _strings("%H:%M:%S", t),
        "measurement_wavelength_beta": np.full(t.size, 700, dtype=u2),
        "raw_signal_beta": counts(beta, "CC_dark_counts_volume_scatter", "CC_scale_factor_volume_scatter"),
        "measurement_wavelength_chl": np.full(t.size, 695, dtype=u2),
        "raw_signal_chl": counts(chl, "CC_dark_counts_chlorophyll_a", "CC_scale_factor_chlorophyll_a"),
        "measurement_wavelength_cdom": np.full(t.size, 460, dtype=u2),
        "raw_signal_cdom": counts(cdom, "CC_dark_counts_cdom", "CC_scale_factor_cdom"),
        "raw_internal_temp": np.round(540.0 + 2.0 * _ocean(t, rng)["T"]).astype(u2),
    }


_GENERATORS = {CTD: _ctd, OPTODE: _optode, FLUOROMETER: _fluorometer}


# -- asset events ------------------------------------------------------------------------------


def asset_events(key: StreamKey) -> list[dict[str, Any]]:
    """Deployment events of a demo instrument, in the asset-management JSON shape."""
    uid, maker, model, table = _SENSORS[key]
    events = []
    for dep, cals in zip(DEPLOYMENTS, table, strict=True):
        cal_ms = ntp_to_unix_ms(dep.cal_date)
        calibration = [
            {"@class": ".XCalibration", "name": name, "calData": [{
                "@class": ".XCalibrationData", "assetUid": uid, "comments": None,
                "dataSource": f"{uid}__{datetime.fromtimestamp(cal_ms / 1000, UTC):%Y%m%d}_Cal_Info.xlsx",
                "eventName": name, "eventType": "CALIBRATION_DATA", "eventStartTime": cal_ms,
                "eventStopTime": None, "value": value,
            }]}
            for name, value in cals.items()
        ]
        events.append({
            "@class": ".XDeployment", "eventType": "DEPLOYMENT", "eventName": key.refdes,
            "referenceDesignator": key.refdes, "deploymentNumber": dep.number, "versionNumber": 1,
            "eventStartTime": ntp_to_unix_ms(dep.start), "eventStopTime": ntp_to_unix_ms(dep.stop),
            "dataSource": "Stream Engine demo data (generated)", "editPhase": "OPERATIONAL",
            "location": {"latitude": LAT, "longitude": LON, "depth": DEPTH,
                         "location": [LON, LAT], "orbitRadius": None},
            "waterDepth": DEPTH,
            "sensor": {"@class": ".XInstrument", "uid": uid, "assetType": "Sensor",
                       "manufacturer": maker, "modelNumber": model, "serialNumber": uid.rsplit("-", 1)[-1],
                       "calibration": calibration},
        })
    return events


# -- entry points ------------------------------------------------------------------------------


def store_is_empty(store: Store) -> bool:
    """True when the store holds no stream data and no asset events."""
    return not store.streams() and not store.asset_refdeses()


def fill_demo(
    store: Store, preload: Preload, *, progress: bool = False, seed: int = 0, force: bool = False
) -> list[StreamKey]:
    """Fill an empty store with the demo streams and their deployments and calibrations.

    Parameters
    ----------
    store
        Must be empty (:func:`store_is_empty`); the demo never mixes with real data.
    preload
        Must define the three demo streams (the shipped ``preload_database`` does).
    progress
        Show a tqdm progress bar.
    seed
        Seed of the random generator; the same seed gives the same data.
    force
        Write even into a non-empty store (the demo streams and their asset events are
        replaced; other data is left alone).

    Returns
    -------
    The stream keys written: CTD, optode, fluorometer.

    Raises
    ------
    IngestError
        The store is not empty (and ``force`` is false), or the preload lacks a demo stream.
    """
    from tqdm import tqdm

    if not force and not store_is_empty(store):
        raise IngestError(
            "the store is not empty; the demo only fills an empty store (point "
            "STREAM_ENGINE_DATA_DIR at a new folder to try it)"
        )
    missing = [k.stream for k in STREAMS if k.stream not in preload.streams]
    if missing:
        raise IngestError(f"the preload dictionary {preload.source or ''} lacks the demo stream(s) {missing}")
    rng = np.random.default_rng(seed)
    for key in tqdm(STREAMS, desc="demo data", unit="stream", disable=not progress):
        records = _GENERATORS[key](rng)
        store.put_asset_events(key.refdes, asset_events(key))
        store.write(key, records, bin_seconds=preload.stream(key.stream).bin_seconds)
    return list(STREAMS)
