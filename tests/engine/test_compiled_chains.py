"""Compiled chains: a window computed in compiled passes equals ``compute``'s, bit for bit, and
only the plain case takes that path.

The demo CTD (SBE 16plus, two deployments with their own calibrations) plus records that are not
the plain case: on-deck records before deployment 1, records stored with deployment 0 (found by
time), records of a deployment without asset events, and counts holding the fill value.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
from demo_pieces import assert_mixes_repeated_and_read_deployments

from stream_engine import assets, demo
from stream_engine.config import REPO_ROOT
from stream_engine.engine.compiled_chains import BinTimes, compiled_chain
from stream_engine.engine.compute import compute
from stream_engine.engine.resolve import resolve
from stream_engine.preload import load_preload
from stream_engine.store.base import IndexRange, Partition, TimeRange
from stream_engine.store.embedded import EmbeddedStore

FILL = -9999999
DEP1, DEP2 = demo.DEPLOYMENTS
CHAIN = ("ctdbp_seawater_temperature", "ctdbp_seawater_pressure", "ctdbp_seawater_conductivity",
         "practical_salinity")


@pytest.fixture(scope="module")
def curated():
    return load_preload(REPO_ROOT / "preload_database")


def _extra_records(store, curated) -> None:
    """Records of the demo CTD stream that are not the plain case, and fill values."""
    rng = np.random.default_rng(11)
    cal = demo.CTD_CALIBRATIONS[0]

    def records(times, number, fill_every=0):
        n = len(times)
        counts = demo.ctd_counts(rng.uniform(8, 12, n), rng.uniform(33, 34, n), rng.uniform(80, 90, n), cal)
        if fill_every:
            for k, name in enumerate(("temperature", "pressure", "pressure_temp", "conductivity")):
                counts[name][k::fill_every] = FILL
        return {"time": np.asarray(times, dtype=np.float64), "deployment": np.full(n, number, dtype=np.int32),
                **counts}

    bins = curated.stream(demo.CTD.stream).bin_seconds
    store.write(demo.CTD, records(DEP1.start - 3000 + np.arange(40) * 60.0 + 7.0, 1), bin_seconds=bins)  # on deck
    store.write(demo.CTD, records(DEP2.start + 86400 + np.arange(30) * 60.0 + 31.0, 0), bin_seconds=bins)
    store.write(demo.CTD, records(DEP2.start + 5 * 86400 + np.arange(25) * 60.0 + 29.0, 9), bin_seconds=bins)
    store.write(demo.CTD, records(DEP1.start + 3 * 86400 + np.arange(300) * 60.0 + 13.0, 1, fill_every=37),
                bin_seconds=bins)


@pytest.fixture(scope="module")
def ctd_store(tmp_path_factory, curated):
    with EmbeddedStore(tmp_path_factory.mktemp("chains")) as store:
        demo.fill_demo(store, curated)
        _extra_records(store, curated)
        yield store


def _plan(store, curated, settings, names):
    ids = [p.id for p in curated.stream_parameters(demo.CTD.stream) if p.name in names]
    return resolve(store, curated, demo.CTD, ids, TimeRange.everything(), settings=settings, positions=False)


def _compare_windows(store, curated, settings, names, size, with_bins=True):
    """Every window of ``size`` records: the chain's values (when it takes the window) against
    compute's; returns (windows the chain took, windows it left to compute). ``with_bins``: the
    partition index tells which windows lie inside their deployment (else times are read)."""
    plan = _plan(store, curated, settings, names)
    chain = compiled_chain(plan, curated)
    assert chain is not None
    deps = assets.deployments(store, demo.CTD.refdes)
    bins = BinTimes.of(store.partitions(demo.CTD)) if with_bins else None
    total = sum(p.count for p in store.partitions(demo.CTD))
    taken = left = 0
    for lo in range(0, total, size):
        span = IndexRange(lo, min(lo + size, total))
        got = chain.window(store, deps, span, list(names), bins)
        want = compute(store, curated, plan, index_range=span, settings=settings, use_cache=False,
                       deployments=deps, argument_provenance=False)
        if got is None:
            left += 1
            continue
        taken += 1
        assert len(want.time) == span.stop - span.start  # the chain takes only windows served whole
        for name in names:
            assert got[name].dtype == want[name].dtype == np.float32
            bad = np.flatnonzero(got[name].view(np.uint32) != want[name].view(np.uint32))
            assert len(bad) == 0, f"{name} [{lo}, ...): {len(bad)} differ, e.g. {got[name][bad[:3]]} vs {want[name][bad[:3]]}"
    return taken, left


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("size", [997, 4096])
def test_windows_equal_compute_bit_for_bit(ctd_store, curated, settings, size):
    for names in (CHAIN, (*CHAIN, "density"), ("density",), ("practical_salinity",)):
        for with_bins in (True, False):
            taken, left = _compare_windows(ctd_store, curated, settings, names, size, with_bins)
            assert taken >= 5 and left >= 3, (names, with_bins, taken, left)


def test_the_store_gives_one_deployment_chunks_numbers_without_reading_them(ctd_store):
    """The tests here run on pieces whose deployment numbers the store gives from its chunk rows
    and on pieces whose numbers are read as stored (see the helper)."""
    assert_mixes_repeated_and_read_deployments(ctd_store)


def test_bin_times_bound_the_records_of_an_index_range():
    bins = BinTimes.of([Partition(200, 5, 210.0, 290.0), Partition(100, 10, 100.0, 190.0),
                        Partition(300, 3, 300.0, 305.0)])  # listed in any order
    assert bins.starts == [0, 10, 15, 18]
    assert bins.span(0, 10) == (100.0, 190.0)
    assert bins.span(9, 11) == (100.0, 290.0)
    assert bins.span(10, 15) == (210.0, 290.0)
    assert bins.span(12, 18) == (210.0, 305.0)
    assert bins.span(17, 19) is None and bins.span(3, 3) is None


def test_the_plain_case_is_told_apart(ctd_store, curated, settings):
    """Windows with on-deck records, deployment 0, an unknown deployment are left to compute;
    a window across the deployment change and one with fill values are taken."""
    plan = _plan(ctd_store, curated, settings, ("density",))
    chain = compiled_chain(plan, curated)
    deps = assets.deployments(ctd_store, demo.CTD.refdes)
    times = ctd_store.read(demo.CTD, [])["time"]
    numbers = ctd_store.read(demo.CTD, [])["deployment"]

    def around(t, before=5, after=5):
        i = int(np.searchsorted(times, t))
        return chain.window(ctd_store, deps, IndexRange(max(i - before, 0), i + after), ["density"])

    assert around(DEP1.start, 3, 3) is None  # on-deck records before it
    assert around(DEP2.start + 86400 + 31.0, 0, 3) is None  # deployment 0
    assert around(DEP2.start + 5 * 86400 + 29.0, 0, 3) is None  # deployment 9: no asset events
    change = int(np.searchsorted(times, DEP2.start))
    assert numbers[change - 1] == 1 and numbers[change] == 2
    assert chain.window(ctd_store, deps, IndexRange(change - 50, change + 50), ["density"]) is not None
    filled = around(DEP1.start + 3 * 86400 + 13.0, 0, 300)
    assert filled is not None and np.isnan(filled["density"]).sum() > 10  # every 37th extra record of each count
    assert chain.window(ctd_store, deps, IndexRange(10_000, 10_100, 2), ["density"]) is None  # strided


def test_only_whole_chains_are_compiled(ctd_store, curated, settings):
    assert compiled_chain(_plan(ctd_store, curated, settings, ("ctdbp_seawater_temperature",)), curated) is None
    assert compiled_chain(_plan(ctd_store, curated, settings, ("ctdbp_seawater_conductivity",)), curated) is None
    salinity = compiled_chain(_plan(ctd_store, curated, settings, ("practical_salinity",)), curated)
    assert salinity is not None and sorted(salinity.outputs) == sorted(CHAIN)
    density = compiled_chain(_plan(ctd_store, curated, settings, ("density",)), curated)
    assert density is not None and set(density.outputs) == {*CHAIN, "density"}
    deps = assets.deployments(ctd_store, demo.CTD.refdes)
    assert salinity.window(ctd_store, deps, IndexRange(20_000, 20_100), ["density"]) is None  # not its output


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_a_coefficient_changing_within_a_deployment_is_left_to_compute(tmp_path, curated, settings):
    """Deployment 2's ``CC_a0`` changes in its middle: its windows go to compute (which tiles
    the value in force per record); deployment 1's are still compiled, and all are equal."""
    with EmbeddedStore(tmp_path) as store:
        demo.fill_demo(store, curated)
        events = copy.deepcopy(demo.asset_events(demo.CTD))
        for cal in events[1]["sensor"]["calibration"]:
            if cal["name"] == "CC_a0":
                middle = cal["calData"][0] | {"value": cal["calData"][0]["value"] * 1.001,
                                              "eventStartTime": assets.ntp_to_unix_ms(DEP2.start + 7 * 86400)}
                cal["calData"].append(middle)
        store.put_asset_events(demo.CTD.refdes, events)
        taken, left = _compare_windows(store, curated, settings, ("density",), 4096)
        numbers = store.read(demo.CTD, [])["deployment"]
        in_dep2 = -(-int((numbers == 2).sum()) // 4096)
        assert taken >= 3 and left >= in_dep2 - 1
