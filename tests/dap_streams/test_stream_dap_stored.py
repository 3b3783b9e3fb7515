"""Stored variables over DAP read from the store's pieces: the same values as the records with
the unserved ones made missing, whichever way a selection's served records are found.

The demo CTD in small chunks (so a block spans several of the store's pieces) plus records that
are not the plain case: on-deck records of deployment 1 before its window, records stored with
deployment 0 (found by time), records of a deployment without asset events; with and without
``REQUIRE_DEPLOYMENT``.
"""

from __future__ import annotations

import numpy as np
import pytest
from demo_pieces import assert_mixes_repeated_and_read_deployments

from dap_handlers.stored_columns import ServedCheck, joined
from dap_handlers.stream_dataset import stream_dataset
from dap_handlers.window_layout import DAP4_ORDER
from stream_engine import assets, demo
from stream_engine.engine.calibrate import record_deployments, served_records
from stream_engine.engine.compute_inputs import masked_sentinels
from stream_engine.preload.fill_values import fill_value_for
from stream_engine.store.base import IndexRange
from stream_engine.store.embedded import EmbeddedStore

DEP1, DEP2 = demo.DEPLOYMENTS
FILL = -9999999


def _extra_records(store, curated) -> None:
    rng = np.random.default_rng(5)
    cal = demo.CTD_CALIBRATIONS[0]

    def records(times, number):
        n = len(times)
        counts = demo.ctd_counts(rng.uniform(8, 12, n), rng.uniform(33, 34, n), rng.uniform(80, 90, n), cal)
        counts["temperature"][::7] = FILL
        return {"time": np.asarray(times, dtype=np.float64), "deployment": np.full(n, number, dtype=np.int32),
                **counts}

    bins = curated.stream(demo.CTD.stream).bin_seconds
    store.write(demo.CTD, records(DEP1.start - 3000 + np.arange(40) * 60.0 + 7.0, 1), bin_seconds=bins)  # on deck
    store.write(demo.CTD, records(DEP2.start + 86400 + np.arange(30) * 60.0 + 31.0, 0), bin_seconds=bins)
    store.write(demo.CTD, records(DEP2.start + 5 * 86400 + np.arange(25) * 60.0 + 29.0, 9), bin_seconds=bins)


@pytest.fixture(scope="module")
def ctd_store(tmp_path_factory, curated):
    with EmbeddedStore(tmp_path_factory.mktemp("stored"), chunk_rows=300) as store:
        demo.fill_demo(store, curated)
        _extra_records(store, curated)
        yield store


def _slices(total: int) -> list[slice]:
    found = [slice(0, total, 1), slice(0, 1, 1), slice(total - 1, total, 1), slice(1, total, 997)]
    for size in (1, 299, 300, 301, 4096):
        for lo in range(0, total, 1777):
            found.append(slice(lo, min(total, lo + size), 1))
    found += [slice(lo, total, step) for lo in (0, 13) for step in (2, 301, 4000)]
    return found


def _expected(view, deps, obs: slice, require: bool) -> tuple[np.ndarray, np.ndarray]:
    """The records' served mask and deployment numbers, as the engine decides them."""
    raw = view.read_columns(demo.CTD, ["time", "deployment"], index_range=IndexRange(obs.start, obs.stop, obs.step))
    numbers, covered = record_deployments(deps, raw["time"], raw["deployment"])
    return served_records(deps, numbers, covered, require), numbers


def test_served_check_is_only_sure_where_every_record_is_served(ctd_store):
    with ctd_store.snapshot() as view:
        deps = assets.deployments(view, demo.CTD.refdes)
        total = sum(p.count for p in view.partitions(demo.CTD))
        check = ServedCheck(view, demo.CTD, deps)
        sure = unsure = 0
        for obs in _slices(total):
            everywhere = check.everywhere(obs)
            for require in (False, True):
                served, _ = _expected(view, deps, obs, require)
                if everywhere:
                    assert served.all(), (obs, require)
            sure += everywhere
            unsure += not everywhere
        # the plain case is told apart from the on-deck, deployment 0 and unknown records
        assert sure > 20 and unsure >= 6, (sure, unsure)
        # a selection holding only one on-deck record is not served: the check must not be sure
        on_deck = int(np.flatnonzero(view.read_columns(demo.CTD, ["time"], index_range=IndexRange(0, total))["time"]
                                     < DEP1.start)[0])
        assert not check.everywhere(slice(on_deck, on_deck + 1, 1))


def test_the_store_gives_one_deployment_chunks_numbers_without_reading_them(ctd_store):
    """The tests here run on pieces whose deployment numbers the store gives from its chunk rows
    and on pieces whose numbers are read as stored (see the helper)."""
    assert_mixes_repeated_and_read_deployments(ctd_store)


@pytest.mark.parametrize("require", [False, True])
def test_stored_variables_are_the_records_with_the_unserved_missing(ctd_store, curated, engine_settings, require):
    settings = engine_settings.replace(REQUIRE_DEPLOYMENT=require)
    with ctd_store.snapshot() as view:
        deps = assets.deployments(view, demo.CTD.refdes)
        dataset = stream_dataset(view, curated, demo.CTD, settings=settings)
        total = dataset["time"].shape[0]
        names = [v.name for v in dataset.variables if v.name in view.columns(demo.CTD) and v.name != "time"]
        assert {"deployment", "temperature", "conductivity", "pressure", "pressure_temp"} <= set(names)
        parameters = {p.name: p for p in curated.stream_parameters(demo.CTD.stream)}
        masked = 0
        for obs in _slices(total):
            key = IndexRange(obs.start, obs.stop, obs.step)
            served, numbers = _expected(view, deps, obs, require)
            raw = view.read_columns(demo.CTD, ["time", *names], index_range=key)
            np.testing.assert_array_equal(dataset["time"].read(obs), raw["time"])
            np.testing.assert_array_equal(dataset["deployment"].read(obs), numbers)
            for name in names:
                if name == "deployment":
                    continue
                got = dataset[name].read(obs)
                parameter = parameters.get(name)
                want = masked_sentinels(raw[name], parameter).copy()
                if want.dtype.kind == "f":
                    want[~served] = np.nan
                else:
                    want[~served] = fill_value_for(parameter.value_encoding, str(parameter.fill_value or ""))
                assert got.dtype.newbyteorder("=") == want.dtype.newbyteorder("="), name
                np.testing.assert_array_equal(got, want, err_msg=f"{name} {obs}")
            masked += int((~served).sum())
        assert masked > 0  # some selections hold records that are not served


def test_a_response_streams_the_same_blocks(ctd_store, curated, engine_settings):
    """The blocks a response streams (the encoders' path) join to the whole variable."""
    with ctd_store.snapshot() as view:
        dataset = stream_dataset(view, curated, demo.CTD, settings=engine_settings)
        variable = dataset["temperature"]
        whole = variable.read()
        blocks = list(variable.read_rows([(0, 100), (100, 1500), (1500, variable.shape[0])]))
        assert [b.dtype.byteorder for b in blocks] == [">"] * 3  # DAP2's order, swapped while joined
        np.testing.assert_array_equal(np.concatenate(blocks), whole)


def test_a_dap4_dataset_assembles_little_endian_blocks_of_the_same_values(ctd_store, curated, engine_settings):
    """Built for a DAP4 response, stored and computed variables come in little-endian blocks
    (the order DAP4 sends, so its encoder does not swap them once more) holding the DAP2
    dataset's values bit for bit, NaN and fill included."""
    with ctd_store.snapshot() as view:
        two = stream_dataset(view, curated, demo.CTD, settings=engine_settings)
        four = stream_dataset(view, curated, demo.CTD, settings=engine_settings, byte_order=DAP4_ORDER)
        n = two["time"].shape[0]
        spans = [(0, 100), (100, 1500), (1500, n)]
        names = [v.name for v in two.variables if v.dtype.kind in "iuf" and v.dtype.itemsize >= 4]
        assert {"time", "deployment", "temperature", "sea_water_practical_salinity", "sea_water_density"} <= set(names)
        for name in names:
            blocks2, blocks4 = list(two[name].read_rows(spans)), list(four[name].read_rows(spans))
            for a, b in zip(blocks2, blocks4, strict=True):
                assert b.dtype.str[0] == "<" and a.dtype.newbyteorder("<") == b.dtype, (name, a.dtype, b.dtype)
                assert a.astype(b.dtype).tobytes() == b.tobytes(), name


def test_joined_pieces_are_one_writable_array_in_dap2_order():
    a = np.arange(5, dtype="<f8")
    b = np.arange(5, 8, dtype="<f8")
    out = joined([a, b[::2]])
    assert out.dtype == np.dtype(">f8") and out.flags.writeable
    np.testing.assert_array_equal(out, [0, 1, 2, 3, 4, 5, 7])
    one = np.arange(4, dtype="<i4")
    one.flags.writeable = False
    got = joined([one])
    assert got.dtype == np.dtype(">i4") and got.flags.writeable
    np.testing.assert_array_equal(got, one)
    assert joined([np.array(["ab"]), np.array(["abcdef"])]).tolist() == ["ab", "abcdef"]  # the widest
    grid = joined([np.ones((2, 3), dtype="<f4"), np.zeros((1, 3), dtype="<f4")])
    assert grid.shape == (3, 3) and grid.dtype == np.dtype(">f4")
    short = joined([np.array([1, 2], dtype="<i2")])  # DAP2 widens Int16: left for the encoder
    assert short.dtype == np.dtype("<i2")
