"""Round trip of every real OOI NetCDF sample: ingest, read back, compare with the file's raw values."""

from __future__ import annotations

import os
from pathlib import Path

import netCDF4
import numpy as np
import pytest

from stream_engine.ingest import ingest_file
from stream_engine.store.base import StreamKey

_OOI = Path(os.environ.get("TEST_STREAM_ENGINE_OOI_DIR") or Path(__file__).resolve().parents[3] / "shared" / "ooi")
SAMPLE_NAMES = sorted(p.name for p in (_OOI / "samples").glob("*.nc"))

# Two samples are fixtures of the original engine's tests and lack the identity attributes.
OVERRIDES = {
    "echo_sounding.nc": dict(subsite="RS01SLBS", node="LJ01A", sensor="05-HPIESA101", method="streamed", stream="echo_sounding"),
    "nutnr_a_sample.nc": dict(subsite="CE04OSPS", node="SF01B", sensor="4A-NUTNRA102", method="streamed", stream="nutnr_a_sample"),
}
# Upstream gives echo_sounding a raw uint32 hpies_temperature (PD2582) and a product of the same
# name (PD3786, value x 0.001). The file holds the product (fractional degrees): it is dropped
# with a note, like every other product.
AMBIGUOUS = {"echo_sounding.nc": "hpies_temperature"}

# Products (and other non-raw variables) each file holds that must be dropped, not stored.
EXPECTED_DROPPED = {
    "deployment0006_CE05MOAS-GL319-05-CTDGVM000-recovered_host-ctdgv_m_glider_instrument_recovered.nc": [
        "sci_water_pressure_dbar", "glider_gps_position-m_lat", "obs", "id", "provenance",
    ],
    "deployment0006_CE05MOAS-GL319-01-PARADM000-recovered_host-parad_m_glider_recovered.nc": [
        "parad_m_par", "int_ctd_pressure", "sci_bsipar_par_qc_results",
    ],
    "metbk_a_dcl_instrument.nc": [
        "met_barpres", "met_netsirr", "met_salsurf", "velpt_ab_dcl_instrument-eastward_velocity",
        "lat", "lon", "quality_flag", "air_temperature_qc_results",
    ],
    "metbk_a_dcl_instrument_recovered.nc": ["met_spechum", "computed_provenance", "l0_provenance_data"],
    "velpt_ab_dcl_instrument.nc": ["eastward_velocity", "northward_velocity", "upward_velocity"],
    "echo_sounding.nc": ["hpies_travel_time1_L1", "hpies_pressure_L1", "obs"],
    "nutnr_j_cspp_instrument_recovered.nc": ["wavelength", "id"],
}


def _ntp_expected(values: np.ndarray, units: str) -> np.ndarray:
    """Independent conversion of 'seconds|days since <date>' to NTP with numpy datetime64."""
    unit, _, origin = units.partition(" since ")
    origin = origin.strip().replace(" ", "T")
    if "T" not in origin:
        origin += "T00:00:00"
    offset = (np.datetime64(origin, "ns") - np.datetime64("1900-01-01T00:00:00", "ns")) / np.timedelta64(1, "ns") * 1e-9
    scale = {"seconds": 1.0, "days": 86400.0}[unit.strip()]
    return values.astype(np.float64) * scale + offset


# Float values that mean "missing" whatever the file says: the preload fill cell of the samples'
# float parameters and the netCDF default fills of float and double.
FLOAT_SENTINELS = (-9999999.0, float(np.float32(9.969209968386869e36)), 9.969209968386869e36)
UNIT_FACTORS = {("minutes", "seconds"): 60}


def _file_missing(raw: np.ndarray, var: netCDF4.Variable) -> np.ndarray:
    """Missing values of a sample variable, by the netCDF conventions, computed independently."""
    if raw.dtype.kind not in "iuf":
        return np.zeros(raw.shape, bool)
    missing = np.isnan(raw) if raw.dtype.kind == "f" else np.zeros(raw.shape, bool)
    declared = [getattr(var, a) for a in ("_FillValue", "missing_value") if a in var.ncattrs()]
    if not declared and raw.dtype.itemsize > 1:
        declared = [netCDF4.default_fillvals[raw.dtype.str[1:]]]
    for value in declared + (list(FLOAT_SENTINELS) if raw.dtype.kind == "f" else []):
        missing |= raw == raw.dtype.type(value)
    return missing


def _assert_same(stored: np.ndarray, raw: np.ndarray, var: netCDF4.Variable, param, label: str) -> None:
    units = getattr(var, "units", "")
    missing = _file_missing(raw, var)
    if missing.any():
        if stored.dtype.kind == "f":
            assert np.isnan(stored[missing]).all(), f"{label}: file fills must be NaN"
        else:
            assert (stored[missing] == param.fill_value).all(), f"{label}: file fills must be {param.fill_value}"
        stored, raw = stored[~missing], raw[~missing]
    factor = UNIT_FACTORS.get((units, param.units))
    if factor is not None:
        assert stored.tolist() == [int(v) * factor for v in raw.tolist()], f"{label}: {units} -> {param.units}"
    elif raw.dtype.kind == "S":
        expected = netCDF4.chartostring(raw) if raw.ndim == 2 else raw.astype(str)
        assert stored.dtype.kind == "U", label
        assert stored.tolist() == [str(s) for s in expected.tolist()], label
    elif (
        "since" in units
        and not units.startswith("seconds since 1900-01-01")
        and (param.units or "").startswith("seconds since 1900-01-01")
    ):
        np.testing.assert_allclose(stored, _ntp_expected(raw, units), rtol=0, atol=2e-6, err_msg=label)
    elif stored.dtype == raw.dtype:
        uint = np.dtype(f"u{raw.dtype.itemsize}")
        assert np.array_equal(stored.view(uint), raw.view(uint)), f"{label}: bits differ"
    elif raw.dtype.kind == "f" and stored.dtype.kind in "iu":
        nan = np.isnan(raw)
        assert np.all(stored[nan] == param.fill_value), f"{label}: NaN must become the fill {param.fill_value}"
        assert np.array_equal(stored[~nan].astype(np.float64), raw[~nan]), label
    elif raw.dtype.kind == "f" and stored.dtype.kind == "f":
        assert np.array_equal(stored.astype(raw.dtype), raw, equal_nan=True), label
    else:
        assert stored.tolist() == raw.tolist(), label


def _check_round_trip(store, preload, path: Path, report) -> None:
    stream = report.key.stream
    columns = store.columns(report.key)
    data = store.read(report.key)
    params = {p.name: p for p in preload.stream_parameters(stream)}
    with netCDF4.Dataset(path) as ds:
        ds.set_auto_maskandscale(False)
        ds.set_auto_chartostring(False)
        n = len(ds.variables["time"])
        assert report.records == n
        assert len(data["time"]) == n  # no duplicate keys in the samples
        raw_time = ds.variables["time"][:]
        units = ds.variables["time"].units
        if units.startswith("seconds since 1900-01-01"):
            assert np.array_equal(data["time"].view(np.uint64), raw_time.view(np.uint64))
        else:
            np.testing.assert_allclose(data["time"], _ntp_expected(raw_time, units), rtol=0, atol=2e-6)
        deployment = np.asarray(ds.variables["deployment"][:]) if "deployment" in ds.variables else np.zeros(n)
        assert data["deployment"].dtype == np.int32
        assert data["deployment"].tolist() == deployment.astype(np.int64).tolist()
        used = {"time", "deployment"}
        for name in columns:
            if name in ("time", "deployment"):
                continue
            param = params[name]
            assert not param.is_function, f"product {name} was stored"
            var_name = param.netcdf_name if param.netcdf_name in ds.variables else param.name
            var = ds.variables[var_name]
            used.add(var_name)
            _assert_same(data[name], var[:], var, param, f"{path.name}:{var_name}")
            if param.is_array:
                assert data[name].ndim == 2 and data[name].shape[0] == n
        assert set(ds.variables) == used | set(report.dropped)
        assert not used & set(report.dropped)
    for p in params.values():
        if p.is_function:
            assert p.name not in columns


@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_sample_round_trip(name: str, samples_dir: Path, store, preload, tmp_path: Path) -> None:
    path = samples_dir / name
    overrides = OVERRIDES.get(name)
    report = ingest_file(store, preload, path, overrides=overrides)
    assert report.inserted == report.records and report.replaced == 0
    assert report.path == path
    if name in AMBIGUOUS:
        assert AMBIGUOUS[name] in report.dropped
        assert len(report.notes) == 1 and "names both raw PD2582 and a product" in report.notes[0]
        assert "has a fractional part for uint32, so the file holds the product" in report.notes[0]
    else:
        assert report.notes == ()
    if overrides:
        assert report.key == StreamKey(*(overrides[k] for k in ("subsite", "node", "sensor", "method", "stream")))
    assert list(report.dropped) == sorted(report.dropped)
    for dropped in EXPECTED_DROPPED.get(name, []):
        assert dropped in report.dropped, f"{dropped} should be dropped from {name}"
    _check_round_trip(store, preload, path, report)
    first = store.read(report.key)

    again = ingest_file(store, preload, path, overrides=overrides)
    assert (again.inserted, again.replaced, again.unchanged) == (0, 0, report.records)
    second = store.read(report.key)
    assert first.keys() == second.keys()
    for col in first:
        if first[col].dtype.kind == "U":
            assert first[col].tolist() == second[col].tolist()
        else:
            assert np.array_equal(first[col], second[col], equal_nan=True), col


def test_glider_ctd_keeps_raw_pressure(samples_dir: Path, store, preload) -> None:
    name = "deployment0006_CE05MOAS-GL319-05-CTDGVM000-recovered_host-ctdgv_m_glider_instrument_recovered.nc"
    report = ingest_file(store, preload, samples_dir / name)
    assert report.key == StreamKey("CE05MOAS", "GL319", "05-CTDGVM000", "recovered_host", "ctdgv_m_glider_instrument_recovered")
    columns = store.columns(report.key)
    assert columns["sci_water_pressure"].dtype == "<f4"
    assert "sci_water_pressure_dbar" not in columns
    assert set(store.read(report.key, ["sci_water_pressure"])["deployment"].tolist()) == {6}


def test_adcp_arrays_are_2d_and_nan_becomes_fill(samples_dir: Path, store, preload) -> None:
    name = "deployment0000_RS03AXBS-LJ03A-10-ADCPTE301-streamed-adcp_velocity_beam.nc"
    report = ingest_file(store, preload, samples_dir / name)
    columns = store.columns(report.key)
    assert columns["velocity_beam1"].dtype == "<i2" and columns["velocity_beam1"].shape == (50,)
    assert columns["correlation_magnitude_beam1"].dtype == "|u1"
    data = store.read(report.key, ["velocity_beam1"])
    assert data["velocity_beam1"].shape == (100, 50)
    fill = preload.parameter(next(p.id for p in preload.stream_parameters("adcp_velocity_beam") if p.name == "velocity_beam1")).fill_value
    assert int(fill) == -32768
    assert int((data["velocity_beam1"] == -32768).sum()) == 2219  # the NaN count of the file
    # times were 'seconds since 2016-09-28 09:59:46.935698032': NTP 3684045586.935698032 at 0
    assert abs(data["time"][0] - (3684045586.935698032 + 3.2e-08)) < 1e-6


def test_progress_bar(samples_dir: Path, store, preload, capsys) -> None:
    report = ingest_file(store, preload, samples_dir / "velpt_ab_dcl_instrument.nc", progress=True)
    assert report.records == 11
    assert "velpt_ab_dcl_instrument.nc" in capsys.readouterr().err
