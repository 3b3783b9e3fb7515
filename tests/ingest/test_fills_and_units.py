"""Fills become missing and time units are converted on ingest, against the real samples and
small copies of them with fills injected; products computed from them are missing too."""

from __future__ import annotations

from pathlib import Path

import netCDF4
import numpy as np
import pytest

from stream_engine.config import load_settings
from stream_engine.engine.compute import compute
from stream_engine.engine.resolve import resolve
from stream_engine.errors import IngestError
from stream_engine.ingest import ingest_file
from stream_engine.ingest_values import time_conversion
from stream_engine.store.base import StreamKey, TimeRange

DOSTA_FILE = "dosta_abcdjm_cspp_instrument_recovered.nc"
GLIDER_FILE = "deployment0006_CE05MOAS-GL319-05-CTDGVM000-recovered_host-ctdgv_m_glider_instrument_recovered.nc"
HPIES = dict(subsite="RS01SLBS", node="LJ01A", sensor="05-HPIESA101", method="streamed", stream="echo_sounding")
NC_FLOAT_FILL = np.float32(9.969209968386869e36)


def glider_copy(source: Path, target: Path, n: int, pressure: np.ndarray, pressure_fill: float | None) -> Path:
    """The first ``n`` glider CTD records with their identity, ``pressure`` as raw pressure
    (declared ``_FillValue`` ``pressure_fill``), and a constant temperature and conductivity (the
    sample holds none) so that salinity and density can be computed."""
    with netCDF4.Dataset(source) as src, netCDF4.Dataset(target, "w") as dst:
        src.set_auto_maskandscale(False)
        dst.setncatts({a: src.getncattr(a) for a in ("subsite", "node", "sensor", "collection_method", "stream")})
        dst.createDimension("obs", n)
        for name in ("time", "deployment"):
            var = src[name]
            out = dst.createVariable(name, var.dtype, ("obs",))
            if "units" in var.ncattrs():
                out.units = var.units
            out[:] = var[:n]
        for name, value in (("sea_water_temperature", 10.0), ("sea_water_electrical_conductivity", 4.0)):
            dst.createVariable(name, "f4", ("obs",))[:] = np.full(n, value, dtype=np.float32)
        out = dst.createVariable("sci_water_pressure", "f4", ("obs",), fill_value=pressure_fill)
        out.units = "bar"
        out[:] = pressure
    return target


def _pressure(samples_dir: Path, n: int) -> np.ndarray:
    with netCDF4.Dataset(samples_dir / GLIDER_FILE) as ds:
        ds.set_auto_maskandscale(False)
        return np.asarray(ds["sci_water_pressure"][:n])


@pytest.mark.parametrize(("sentinel", "declared"), [(NC_FLOAT_FILL, None), (np.float32(-9999999), -9999999.0)])
def test_injected_glider_fills_are_missing_raw_and_in_products(
    tmp_path, samples_dir, store, preload, sentinel, declared
):
    n = 200
    good = _pressure(samples_dir, n)
    finite = np.flatnonzero(np.isfinite(good))
    bad = finite[[3, 50, 120]]
    pressure = good.copy()
    pressure[bad] = sentinel
    path = glider_copy(samples_dir / GLIDER_FILE, tmp_path / "glider.nc", n, pressure, declared)
    report = ingest_file(store, preload, path)
    stored = store.read(report.key, ["sci_water_pressure"])["sci_water_pressure"]
    assert np.isnan(stored[bad]).all()
    keep = np.setdiff1d(np.arange(n), bad)
    assert np.array_equal(stored[keep], good[keep], equal_nan=True)  # every other value exact

    settings = load_settings(environ={})
    plan = resolve(store, preload, report.key, None, TimeRange.everything(), settings=settings)
    out = compute(store, preload, plan, settings=settings, require_deployment=False)
    dbar = out["sci_water_pressure_dbar"]
    assert np.isnan(dbar[bad]).all()
    np.testing.assert_array_equal(dbar[finite[[0, 1, 2]]], (good[finite[[0, 1, 2]]] * np.float32(10)))
    for product in ("practical_salinity",):  # density needs a deployment location: none here
        assert np.isnan(out[product][bad]).all(), product
        assert np.isfinite(out[product][finite[[0, 1, 2]]]).all(), product
    assert np.nanmax(np.abs(dbar)) < 1000  # never 9.97e37 or -1e8 dbar


def _rewritten(store, key: StreamKey, column: str, rows: list[int], value) -> StreamKey:
    """A copy of a stream under another sensor, with ``value`` written raw into some rows."""
    columns = store.read(key)
    columns[column] = columns[column].copy()
    columns[column][rows] = value
    copy = StreamKey(key.subsite, key.node, key.sensor[:-3] + "999", key.method, key.stream)
    store.write(copy, columns, bin_seconds=86400)
    return copy


def _computed(store, preload, key: StreamKey, names: tuple[str, ...]):
    settings = load_settings(environ={})
    ids = [p.id for p in preload.stream_parameters(key.stream) if p.name in names]
    plan = resolve(store, preload, key, ids, TimeRange.everything(), settings=settings)
    return compute(store, preload, plan, settings=settings, require_deployment=False)


def test_sentinels_already_in_a_store_are_masked_when_read(tmp_path, samples_dir, store, preload):
    """A store written before ingest normalised fills (or an existing keyspace) holds sentinels."""
    n = 50
    good = _pressure(samples_dir, n)
    report = ingest_file(store, preload, glider_copy(samples_dir / GLIDER_FILE, tmp_path / "g.nc", n, good, None))
    glider = _rewritten(store, report.key, "sci_water_pressure", [4, 9], NC_FLOAT_FILL)
    out = _computed(store, preload, glider, ("sci_water_pressure", "sci_water_pressure_dbar"))
    for name in ("sci_water_pressure", "sci_water_pressure_dbar"):
        assert np.isnan(out[name][[4, 9]]).all(), name
    assert out["sci_water_pressure"][5] == good[5]

    dosta = ingest_file(store, preload, samples_dir / DOSTA_FILE).key
    # -9999999 is the dictionary fill cell of estimated_oxygen_concentration (PD940)
    dosta = _rewritten(store, dosta, "estimated_oxygen_concentration", [0, 7], np.float32(-9999999))
    values = _computed(store, preload, dosta, ("estimated_oxygen_concentration",))["estimated_oxygen_concentration"]
    assert np.isnan(values[[0, 7]]).all() and np.isfinite(values[1:7]).all()


def test_dosta_cspp_saturation_fill_is_missing(samples_dir, store, preload):
    report = ingest_file(store, preload, samples_dir / DOSTA_FILE)
    data = store.read(report.key, ["estimated_oxygen_saturation", "estimated_oxygen_concentration"])
    assert len(data["time"]) == 430
    assert np.isnan(data["estimated_oxygen_saturation"]).all()
    with netCDF4.Dataset(samples_dir / DOSTA_FILE) as ds:
        ds.set_auto_maskandscale(False)
        assert (ds["estimated_oxygen_saturation"][:] == np.float32(-9999999)).all()
        raw = ds["estimated_oxygen_concentration"][:]
    assert np.array_equal(data["estimated_oxygen_concentration"], raw)


def test_hpies_timestamp_minutes_become_seconds(samples_dir, store, preload):
    report = ingest_file(store, preload, samples_dir / "echo_sounding.nc", overrides=HPIES)
    values = store.read(report.key, ["hpies_ies_timestamp"])["hpies_ies_timestamp"]
    assert values.dtype == np.uint64
    assert values[0] == 1420070400  # 23667840 minutes: 2015-01-01T00:00:00Z in Unix seconds
    assert values[:3].tolist() == [1420070400, 1420071000, 1420071600]


def test_time_conversions():
    assert time_conversion("minutes", "seconds") == (60.0, 0.0)
    assert time_conversion("hours", "s") == (3600.0, 0.0)
    assert time_conversion("days since 1970-01-01", "seconds since 1900-01-01") == (86400.0, 2208988800.0)
    assert time_conversion("seconds since 1900-01-01 0:0:0", "seconds since 1900-01-01") is None
    assert time_conversion("", "seconds") is None
    assert time_conversion("counts", "1") is None  # not a time parameter: not our business
    with pytest.raises(ValueError, match="'furlongs' cannot be converted to 'seconds'"):
        time_conversion("furlongs", "seconds")
    with pytest.raises(ValueError, match="cannot be converted"):
        time_conversion("seconds since 1970-01-01", "seconds")


def _hpies_copy(samples_dir: Path, target: Path, units: str) -> Path:
    with netCDF4.Dataset(samples_dir / "echo_sounding.nc") as src, netCDF4.Dataset(target, "w") as dst:
        src.set_auto_maskandscale(False)
        dst.createDimension("obs", 5)
        for name in ("time", "hpies_ies_timestamp", "hpies_pressure"):
            out = dst.createVariable(name, src[name].dtype, ("obs",))
            out[:] = src[name][:5]
            out.units = src[name].units if name != "hpies_ies_timestamp" else units
    return target


@pytest.mark.parametrize("units", ["furlongs", "seconds since 1970-01-01"])
def test_unconvertible_units_refuse_the_file(tmp_path, samples_dir, store, preload, units):
    path = _hpies_copy(samples_dir, tmp_path / "hpies.nc", units)
    with pytest.raises(IngestError) as info:
        ingest_file(store, preload, path, overrides=HPIES)
    message = str(info.value)
    assert "hpies.nc" in message and "'hpies_ies_timestamp'" in message and repr(units) in message
    assert "'seconds'" in message and "nothing of the file was stored" in message
    assert store.streams() == []


def test_hours_into_integer_seconds_are_exact(tmp_path, samples_dir, store, preload):
    path = _hpies_copy(samples_dir, tmp_path / "hpies.nc", "hours")
    ingest_file(store, preload, path, overrides=HPIES)
    values = store.read(StreamKey(**HPIES), ["hpies_ies_timestamp"])["hpies_ies_timestamp"]
    assert values[:2].tolist() == [23667840 * 3600, 23667850 * 3600]


def test_metbk_relative_wind_is_never_computed_from_fill(samples_dir, store, preload):
    """The original stored met_relwind_speed = 14142134 m/s in this file: sqrt(2) x 1e7, computed
    from -9999999 currents. Here it is missing, with the reason, and never that value."""
    name = "metbk_a_dcl_instrument_recovered.nc"
    with netCDF4.Dataset(samples_dir / name) as ds:
        ds.set_auto_maskandscale(False)
        assert np.allclose(ds["met_relwind_speed"][:3], 14142134.0)
    key = ingest_file(store, preload, samples_dir / name).key
    out = _computed(store, preload, key, ("met_relwind_speed", "met_barpres"))
    assert np.isnan(out["met_relwind_speed"]).all()
    assert out.provenance["products"]["met_relwind_speed"]["status"] in ("unavailable", "partial")
    assert out.provenance["products"]["met_relwind_speed"]["reason"]
    assert np.isfinite(out["met_barpres"]).all()  # products with real inputs are computed
