"""Real OOI glider samples through the engine: stored products as oracles, missing calibrations."""

from __future__ import annotations

import numpy as np
import pytest

from stream_engine.assets import deployments, load_event_file
from stream_engine.engine.compute import compute
from stream_engine.engine.resolve import resolve
from stream_engine.ingest import ingest_file
from stream_engine.preload import load_preload
from stream_engine.store.base import StreamKey, TimeRange
from stream_engine.store.embedded import EmbeddedStore

CTD_FILE = "deployment0006_CE05MOAS-GL319-05-CTDGVM000-recovered_host-ctdgv_m_glider_instrument_recovered.nc"
PAR_FILE = "deployment0006_CE05MOAS-GL319-01-PARADM000-recovered_host-parad_m_glider_recovered.nc"
CTD = StreamKey("CE05MOAS", "GL319", "05-CTDGVM000", "recovered_host", "ctdgv_m_glider_instrument_recovered")
PAR = StreamKey("CE05MOAS", "GL319", "01-PARADM000", "recovered_host", "parad_m_glider_recovered")


@pytest.fixture(scope="module")
def upstream(ooi_dir):
    return load_preload(ooi_dir / "preload")


@pytest.fixture
def glider(tmp_path, samples_dir, upstream):
    with EmbeddedStore(tmp_path / "store") as store:
        ingest_file(store, upstream, samples_dir / CTD_FILE)
        ingest_file(store, upstream, samples_dir / PAR_FILE)
        load_event_file(store, samples_dir / "CE05MOAS-GL319-05-CTDGVM000_events.json")
        load_event_file(store, samples_dir / "CE05MOAS-GL319-01-PARADM000_events.json")
        yield store


def _stored(path, name):
    import netCDF4

    with netCDF4.Dataset(path) as ds:
        ds.set_auto_mask(False)
        return ds[name][:]


def test_glider_pressure_is_bit_exact_in_float32(glider, upstream, samples_dir, settings):
    pid = next(p.id for p in upstream.stream_parameters(CTD.stream) if p.name == "sci_water_pressure_dbar")
    plan = resolve(glider, upstream, CTD, [pid], TimeRange.everything(), settings=settings)
    assert plan.raw_columns == ("sci_water_pressure",)
    out = compute(glider, upstream, plan, settings=settings, require_deployment=False)
    expected = _stored(samples_dir / CTD_FILE, "sci_water_pressure_dbar")
    assert out["sci_water_pressure_dbar"].dtype == np.float32
    assert len(expected) == 5803
    np.testing.assert_array_equal(out["sci_water_pressure_dbar"], expected)
    np.testing.assert_array_equal(out.time, _stored(samples_dir / CTD_FILE, "time"))
    prov = out.provenance["products"]["sci_water_pressure_dbar"]
    assert prov["function"] == "ion_functions.data.ctd_functions.ctd_glider_preswat"
    assert prov["status"] == "ok"


def test_glider_events_do_not_cover_deployment_6(glider, upstream, settings):
    numbers = {d.number for d in deployments(glider, CTD.refdes)}
    assert numbers and 6 not in numbers
    plan = resolve(glider, upstream, CTD, None, TimeRange.everything(), settings=settings)
    out = compute(glider, upstream, plan, settings=settings, require_deployment=True)
    assert len(out.time) == 0
    assert out.provenance["dropped_outside_deployment"] == 5803


def test_glider_par_is_missing_for_lack_of_calibration(glider, upstream, samples_dir, settings):
    pid = next(p.id for p in upstream.stream_parameters(PAR.stream) if p.name == "parad_m_par")
    plan = resolve(glider, upstream, PAR, [pid], TimeRange.everything(), settings=settings)
    assert plan.product(pid).arguments[1].calibration == "CC_bsipar_par_scaling"
    out = compute(glider, upstream, plan, settings=settings, require_deployment=False)
    assert len(out.time) == 10591
    assert np.isnan(out["parad_m_par"]).all()
    assert np.isnan(_stored(samples_dir / PAR_FILE, "parad_m_par")).all()
    prov = out.provenance["products"]["parad_m_par"]
    assert prov["status"] == "unavailable"
    assert prov["reason"] == "missing calibration CC_bsipar_par_scaling for deployment 6"


def test_glider_without_its_gps_stream_lists_every_position_with_the_reason(glider, upstream, settings):
    plan = resolve(glider, upstream, PAR, None, TimeRange.everything(), settings=settings)
    assert [p.name for p in plan.positions] == ["int_ctd_pressure"]
    assert plan.positions[0].column == "ctdgv_m_glider_instrument_recovered-sci_water_pressure_dbar"
    missing = dict(plan.positions_unavailable)
    assert sorted(missing) == ["lat", "lon", "m_gps_lat", "m_gps_lon", "m_lat", "m_lon"]
    assert missing["m_lat"].startswith("no stream provides glider_gps_position.m_lat near CE05MOAS-GL319-01-PARADM000")
    out = compute(glider, upstream, plan, settings=settings, require_deployment=False)
    assert np.isnan(out["lat"]).all()
    assert out.provenance["unavailable"]["lat"] == missing["lat"] == missing["m_gps_lat"]
    assert np.isfinite(out["int_ctd_pressure"]).sum() > 10_000  # NaN only across CTD gaps > 100 s


def test_the_ctd_itself_carries_no_interpolated_pressure(glider, upstream, settings):
    plan = resolve(glider, upstream, CTD, None, TimeRange.everything(), settings=settings)
    assert "int_ctd_pressure" not in [p.name for p in plan.positions]
    assert "int_ctd_pressure" not in dict(plan.positions_unavailable)
    plan = resolve(glider, upstream, PAR, None, TimeRange.everything(), settings=settings, positions=False)
    assert plan.positions == () and plan.positions_unavailable == ()
