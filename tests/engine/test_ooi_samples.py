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
