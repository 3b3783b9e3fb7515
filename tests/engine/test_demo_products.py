"""Demo mooring: oxygen and fluorometer products that need the co-located CTD's T, S and P."""

from __future__ import annotations

import numpy as np
import pytest

from stream_engine import demo
from stream_engine.assets import deployments
from stream_engine.config import REPO_ROOT
from stream_engine.engine.compute import compute
from stream_engine.engine.resolve import resolve
from stream_engine.functions.registry import lookup
from stream_engine.preload import load_preload
from stream_engine.store.base import TimeRange

DEP2 = demo.DEPLOYMENTS[1]
RANGE = TimeRange(DEP2.start, DEP2.start + 2 * 86400)


@pytest.fixture(scope="module")
def curated():
    return load_preload(REPO_ROOT / "preload_database")


@pytest.fixture
def mooring(store, curated):
    demo.fill_demo(store, curated)
    return store


def _ctd_products(store, preload, settings, names):
    ids = [p.id for p in preload.stream_parameters(demo.CTD.stream) if p.name in names]
    plan = resolve(store, preload, demo.CTD, ids, TimeRange(RANGE.start - 3600, RANGE.stop + 3600),
                   settings=settings)
    return compute(store, preload, plan, settings=settings)


def _location(store, key):
    dep = next(d for d in deployments(store, key.refdes) if d.number == 2)
    return dep.lat, dep.lon


def test_oxygen_uses_the_ctd_interpolated_by_hand(mooring, curated, settings):
    plan = resolve(mooring, curated, demo.OPTODE, [14, 2843], RANGE, settings=settings)
    assert {e.key for e in plan.externals} == {demo.CTD}
    out = compute(mooring, curated, plan, settings=settings)
    assert len(out.time) > 1000 and set(out.deployment.tolist()) == {2}
    prov = out.provenance["products"]["dissolved_oxygen"]
    assert prov["status"] == "ok"
    for arg in ("P", "T", "SP"):
        assert prov["arguments"][arg]["stream"] == demo.CTD.path
        assert prov["arguments"][arg]["deployments"] == [2]
    assert prov["arguments"]["DO"]["parameter"] == "dosta_abcdjm_cspp_tc_oxygen"  # computed beats estimate

    ctd = _ctd_products(mooring, curated, settings,
                        {"ctdbp_seawater_temperature", "ctdbp_seawater_pressure", "practical_salinity"})
    t = out.time
    lat, lon = _location(mooring, demo.OPTODE)
    expected = lookup("ion_functions.data.do2_functions", "do2_salinity_correction")(
        out["dosta_abcdjm_cspp_tc_oxygen"],
        np.interp(t, ctd.time, ctd["ctdbp_seawater_pressure"]),
        np.interp(t, ctd.time, ctd["ctdbp_seawater_temperature"]),
        np.interp(t, ctd.time, ctd["practical_salinity"]),
        lat, lon,
    ).astype(np.float32)
    np.testing.assert_array_equal(out["dissolved_oxygen"], expected)
    assert 150 < np.nanmean(out["dissolved_oxygen"]) < 400


def test_fluorometer_backscatter_uses_ctd_temperature_and_salinity(mooring, curated, settings):
    plan = resolve(mooring, curated, demo.FLUOROMETER, [21, 25], RANGE, settings=settings)
    out = compute(mooring, curated, plan, settings=settings)
    prov = out.provenance["products"]
    for name in ("seawater_scattering_coefficient", "optical_backscatter"):
        assert prov[name]["status"] == "ok"
        assert prov[name]["arguments"]["degC"]["stream"] == demo.CTD.path
        assert prov[name]["arguments"]["psu"]["deployments"] == [2]
    ctd = _ctd_products(mooring, curated, settings, {"ctdbp_seawater_temperature", "practical_salinity"})
    t = out.time
    temp = np.interp(t, ctd.time, ctd["ctdbp_seawater_temperature"])
    salt = np.interp(t, ctd.time, ctd["practical_salinity"])
    cal = demo.FLUOROMETER_CALIBRATIONS[1]
    flo = "ion_functions.data.flo_functions"
    scat = lookup(flo, "flo_scat_seawater")(temp, salt, cal["CC_scattering_angle"],
                                            cal["CC_measurement_wavelength"], cal["CC_depolarization_ratio"])
    np.testing.assert_array_equal(out["seawater_scattering_coefficient"], scat.astype(np.float32))
    beta = compute(mooring, curated, resolve(mooring, curated, demo.FLUOROMETER, [24], RANGE, settings=settings),
                   settings=settings)["total_volume_scattering_coefficient"]
    bback = lookup(flo, "flo_bback_total")(beta, temp, salt, cal["CC_scattering_angle"],
                                           cal["CC_measurement_wavelength"], cal["CC_angular_resolution"])
    np.testing.assert_array_equal(out["optical_backscatter"], bback.astype(np.float32))
    assert np.isfinite(out["optical_backscatter"]).mean() > 0.99
