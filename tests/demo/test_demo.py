"""The demo data: three raw streams whose counts calibrate back to a realistic ocean."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from stream_engine import demo
from stream_engine.assets import calibration_values, deployment_numbers_at, deployments
from stream_engine.errors import IngestError
from stream_engine.functions import ctd, fluorometer, oxygen
from stream_engine.preload import load_preload
from stream_engine.preload.model import Calibration, Choice, Preload
from stream_engine.store.embedded import EmbeddedStore

REPO_ROOT = Path(__file__).resolve().parents[2]
CTD_PRESSURE = "ptempa0 ptempa1 ptempa2 ptca0 ptca1 ptca2 ptcb0 ptcb1 ptcb2 pa0 pa1 pa2".split()


@pytest.fixture(scope="module")
def preload() -> Preload:
    return load_preload(REPO_ROOT / "preload_database")


@pytest.fixture(scope="module")
def filled(tmp_path_factory, preload):
    store = EmbeddedStore(tmp_path_factory.mktemp("demo"))
    assert demo.store_is_empty(store)
    keys = demo.fill_demo(store, preload)
    yield store, keys
    store.close()


def _calibration_names(preload: Preload, stream: str) -> set[str]:
    def walk(source) -> set[str]:
        if isinstance(source, Calibration):
            return {source.name}
        if isinstance(source, Choice):
            return set().union(*(walk(o) for o in source.options))
        return set()

    names: set[str] = set()
    for p in preload.stream_parameters(stream):
        for source in (p.function_map or {}).values():
            names |= walk(source)
    return names


def _cal(dep, name, times):
    values = calibration_values(dep, f"CC_{name}", times)
    assert values is not None, f"CC_{name} missing in deployment {dep.number}"
    return values


def test_three_streams_with_two_deployments(filled) -> None:
    store, keys = filled
    assert keys == [demo.CTD, demo.OPTODE, demo.FLUOROMETER]
    coverage = {c.key: c for c in store.streams()}
    assert set(coverage) == set(keys)
    assert coverage[demo.CTD].count == 2 * 14 * 1440  # 60 s for two 14-day deployments
    assert coverage[demo.OPTODE].count == 2 * 14 * 1440
    assert coverage[demo.FLUOROMETER].count == 2 * 14 * 288
    for key in keys:
        deps = deployments(store, key.refdes)
        assert [d.number for d in deps] == [1, 2]
        assert deps[0].stop < deps[1].start  # a gap between deployments
        assert (deps[0].lat, deps[0].lon, deps[0].depth) == (demo.LAT, demo.LON, 87.0)
        data = store.read(key, [])
        assert set(data["deployment"].tolist()) == {1, 2}
        assert np.array_equal(deployment_numbers_at(deps, data["time"]), data["deployment"])


def test_calibrations_cover_every_preload_need(filled, preload) -> None:
    store, keys = filled
    for key in keys:
        needed = _calibration_names(preload, key.stream)
        assert needed, key.stream
        times = store.read(key, [])["time"][:3]
        for dep in deployments(store, key.refdes):
            for name in needed:
                assert calibration_values(dep, name, times) is not None, f"{name} of {key.refdes} dep {dep.number}"
    assert {"CC_a0", "CC_pa2", "CC_cpcor"} <= _calibration_names(preload, demo.CTD.stream)
    assert {"CC_csv", "CC_conc_coef"} <= _calibration_names(preload, demo.OPTODE.stream)


def test_ctd_counts_invert_to_the_ocean(filled) -> None:
    store, _ = filled
    data = store.read(demo.CTD)
    for column in ("temperature", "conductivity", "pressure", "pressure_temp", "ctd_time"):
        assert data[column].dtype == np.int32
    for dep in deployments(store, demo.CTD.refdes):
        m = data["deployment"] == dep.number
        t = data["time"][m]
        temp = ctd.ctd_sbe16plus_tempwat(data["temperature"][m], *(_cal(dep, f"a{i}", t) for i in range(4)))
        pres = ctd.ctd_sbe16plus_preswat(data["pressure"][m], data["pressure_temp"][m], *(_cal(dep, n, t) for n in CTD_PRESSURE))
        cond = ctd.ctd_sbe16plus_condwat(data["conductivity"][m], temp, pres, *(_cal(dep, n, t) for n in "g h i j cpcor ctcor".split()))
        salt = ctd.ctd_pracsal(cond, temp, pres)
        assert 5.0 < temp.min() and temp.max() < 20.0
        assert 8.0 < temp.min() < 10.0 and 11.5 < temp.max() < 14.0  # tide and daily cycle
        assert 70.0 < pres.min() and pres.max() < 95.0
        assert 30.0 < salt.min() and salt.max() < 36.0
        assert abs(np.mean(salt) - 33.62) < 0.05


def test_ctd_inversion_is_exact_to_count_resolution() -> None:
    temp = np.array([8.0, 10.6, 13.9])
    salt = np.array([33.0, 33.6, 34.1])
    pres = np.array([75.0, 86.2, 94.0])
    for table in demo.CTD_CALIBRATIONS:
        cal = {k: np.full(3, v) for k, v in table.items()}
        counts = demo.ctd_counts(temp, salt, pres, cal)
        c = {k[3:]: v for k, v in cal.items()}
        t = ctd.ctd_sbe16plus_tempwat(counts["temperature"], c["a0"], c["a1"], c["a2"], c["a3"])
        p = ctd.ctd_sbe16plus_preswat(counts["pressure"], counts["pressure_temp"], *(c[n] for n in CTD_PRESSURE))
        cond = ctd.ctd_sbe16plus_condwat(counts["conductivity"], t, p, c["g"], c["h"], c["i"], c["j"], c["cpcor"], c["ctcor"])
        np.testing.assert_allclose(t, temp, atol=2e-4)
        np.testing.assert_allclose(p, pres, atol=5e-3)
        np.testing.assert_allclose(ctd.ctd_pracsal(cond, t, p), salt, atol=5e-4)


def test_optode_phase_gives_realistic_oxygen(filled) -> None:
    store, _ = filled
    data = store.read(demo.OPTODE, ["calibrated_phase", "optode_temperature", "estimated_oxygen_concentration"])
    assert data["calibrated_phase"].dtype == np.float32
    for dep in deployments(store, demo.OPTODE.refdes):
        m = data["deployment"] == dep.number
        t = data["time"][m]
        do = oxygen.do2_SVU(data["calibrated_phase"][m], data["optode_temperature"][m], _cal(dep, "csv", t), _cal(dep, "conc_coef", t))
        assert 220.0 < do.min() and do.max() < 300.0
        np.testing.assert_allclose(do, data["estimated_oxygen_concentration"][m], atol=0.05)
    first, second = deployments(store, demo.OPTODE.refdes)
    assert calibration_values(second, "CC_conc_coef", second.start + np.zeros(1)).tolist() == [[-0.9768582, 1.0121]]
    assert not np.array_equal(_cal(first, "csv", np.zeros(1)), _cal(second, "csv", np.zeros(1)))


def test_fluorometer_counts_give_positive_products(filled) -> None:
    store, _ = filled
    data = store.read(demo.FLUOROMETER)
    assert data["raw_signal_chl"].dtype == np.uint16
    for dep in deployments(store, demo.FLUOROMETER.refdes):
        m = data["deployment"] == dep.number
        t = data["time"][m]
        chl = fluorometer.flo_chla(data["raw_signal_chl"][m], _cal(dep, "dark_counts_chlorophyll_a", t), _cal(dep, "scale_factor_chlorophyll_a", t))
        cdom = fluorometer.flo_cdom(data["raw_signal_cdom"][m], _cal(dep, "dark_counts_cdom", t), _cal(dep, "scale_factor_cdom", t))
        beta = fluorometer.flo_beta(data["raw_signal_beta"][m], _cal(dep, "dark_counts_volume_scatter", t), _cal(dep, "scale_factor_volume_scatter", t))
        assert 0.0 <= chl.min() and 1.5 < chl.max() < 6.0
        assert 1.0 < cdom.mean() < 2.2
        assert 3e-4 < beta.mean() < 9e-4


def test_second_fill_is_refused(filled, preload) -> None:
    store, _ = filled
    assert not demo.store_is_empty(store)
    before = {c.key: c.count for c in store.streams()}
    with pytest.raises(IngestError, match="not empty"):
        demo.fill_demo(store, preload)
    assert {c.key: c.count for c in store.streams()} == before
    assert set(demo.fill_demo(store, preload, force=True)) == set(before)  # same seed: replaces, adds nothing
    assert {c.key: c.count for c in store.streams()} == before


def test_generation_is_deterministic() -> None:
    a = demo._ctd(np.random.default_rng(7))
    b = demo._ctd(np.random.default_rng(7))
    c = demo._ctd(np.random.default_rng(8))
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["temperature"], c["temperature"])


def test_missing_stream_in_preload(tmp_path: Path, preload) -> None:
    partial = Preload(preload.parameters, {k: v for k, v in preload.streams.items() if k != demo.OPTODE.stream}, preload.functions)
    with EmbeddedStore(tmp_path) as store, pytest.raises(IngestError, match="dosta_abcdjm_dcl_instrument_recovered"):
        demo.fill_demo(store, partial)
