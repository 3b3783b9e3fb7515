"""Conformance suite every :class:`~stream_engine.store.base.Store` backend must pass.

A backend's test file subclasses :class:`StoreSuite` and implements :meth:`StoreSuite.make_store`
(about 20 lines; see ``test_embedded.py``). The class name does not start with ``Test``, so pytest
collects it only through subclasses.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from stream_engine.errors import NotFound
from stream_engine.store.base import (
    NEVER_WRITTEN,
    IndexRange,
    Partition,
    Store,
    StreamKey,
    TimeRange,
)

KEY = StreamKey("CE02SHSM", "SBD11", "06-METBKA000", "telemetered", "metbk_a_dcl_instrument")
OTHER = StreamKey("CE01ISSM", "MFD37", "03-CTDBPC000", "recovered_host", "ctdbp_cdef_dcl_instrument")
DAY = 86400
T0 = 3_913_056_000.0  # 2024-01-01T00:00:00Z, a bin boundary


def bits(values: np.ndarray) -> np.ndarray:
    """Floats as unsigned integers, so NaN payloads and -0.0 compare exactly."""
    return values.view(f"u{values.dtype.itemsize}")


def frame(times, deployment=1, **columns) -> dict[str, np.ndarray]:
    times = np.asarray(times, dtype=np.float64)
    dep = np.broadcast_to(np.asarray(deployment, dtype=np.int32), times.shape).copy()
    return {"time": times, "deployment": dep, **{k: np.asarray(v) for k, v in columns.items()}}


class StoreSuite:
    """Backend-independent behaviour of a Store; subclasses provide :meth:`make_store`."""

    def make_store(self, tmp_path: Path) -> Store:
        raise NotImplementedError

    @pytest.fixture
    def store(self, tmp_path: Path):
        store = self.make_store(tmp_path)
        yield store
        store.close()

    # -- round trips ---------------------------------------------------------------------------

    def test_every_dtype_round_trips_exactly(self, store: Store) -> None:
        n = 7
        ints = {}
        for size in (8, 16, 32, 64):
            lo, hi = np.iinfo(f"int{size}").min, np.iinfo(f"int{size}").max
            ints[f"int{size}"] = np.array([lo, lo + 1, -1, 0, 1, hi - 1, hi], dtype=f"int{size}")
            hi = np.iinfo(f"uint{size}").max
            ints[f"uint{size}"] = np.array([0, 1, 2, 100, hi // 2, hi - 1, hi], dtype=f"uint{size}")
        f8 = np.array([0.0, -0.0, np.inf, -np.inf, 1e-310, np.pi, 0.0])
        f8.view(np.uint64)[-1] = 0x7FF8_0000_DEAD_BEEF  # NaN with a payload
        f4 = np.array([0.0, -0.0, np.inf, 1.5e-45, np.float32(np.e), -1.0, 0.0], dtype=np.float32)
        f4.view(np.uint32)[-1] = 0xFFC0_1234
        text = np.array(["", "plain", 'quote " and \'', "ünïcödé ✓ 海", "tab\tnew\nline", "x" * 300, "\\"])
        records = frame(
            T0 + np.arange(n) * 1.5,
            **ints,
            f4=f4,
            f8=f8,
            flag=np.array([True, False, True, True, False, False, True]),
            text=text,
            spectrum=np.arange(n * 3, dtype=np.float32).reshape(n, 3),
            counts=np.arange(n * 4, dtype=np.int16).reshape(n, 4),
            labels=np.array([[f"{i}a", f"{i}ß"] for i in range(n)], dtype=object),
        )
        result = store.write(KEY, records, bin_seconds=DAY)
        assert (result.inserted, result.replaced) == (n, 0)
        got = store.read(KEY)
        assert list(got) == list(records)
        for name, values in records.items():
            assert got[name].shape == values.shape, name
            if values.dtype.kind == "f":
                assert got[name].dtype == values.dtype
                np.testing.assert_array_equal(bits(got[name]), bits(values), err_msg=name)
            elif values.dtype.kind in "OU":
                assert got[name].dtype.kind == "U", name
                assert got[name].tolist() == values.tolist(), name
            else:
                assert got[name].dtype == values.dtype, name
                np.testing.assert_array_equal(got[name], values, err_msg=name)
        cols = store.columns(KEY)
        assert cols["int8"].dtype == "|i1"
        assert cols["uint64"].dtype == "<u8"
        assert cols["f4"].dtype == "<f4" and cols["f4"].shape == ()
        assert cols["text"].dtype == "<U"
        assert cols["spectrum"].shape == (3,) and cols["labels"].shape == (2,)
        assert cols["time"].dtype == "<f8" and cols["deployment"].dtype == "<i4"

    def test_read_selected_columns(self, store: Store) -> None:
        store.write(KEY, frame(T0 + np.arange(5), a=np.arange(5.0), b=np.arange(5) * 2), bin_seconds=DAY)
        got = store.read(KEY, ["b"])
        assert list(got) == ["time", "deployment", "b"]
        assert got["b"].tolist() == [0, 2, 4, 6, 8]
        assert list(store.read(KEY, [])) == ["time", "deployment"]
        assert list(store.read(KEY, ["time", "b", "a"])) == ["time", "deployment", "b", "a"]

    def test_read_columns_returns_exactly_those_columns(self, store: Store) -> None:
        store.write(KEY, frame(T0 + np.arange(6), a=np.arange(6.0), b=np.arange(6) * 3), bin_seconds=DAY)
        got = store.read_columns(KEY, ["b", "time"], index_range=IndexRange(1, 6, 2))
        assert list(got) == ["b", "time"]
        assert got["b"].tolist() == [3, 9, 15]
        assert got["time"].tolist() == [T0 + 1, T0 + 3, T0 + 5]
        with pytest.raises(NotFound, match="'nope'"):
            store.read_columns(KEY, ["nope"], index_range=IndexRange(0, 1))

    def test_change_token_moves_on_with_every_commit(self, store: Store) -> None:
        before = store.change_token()
        if before is None:
            pytest.skip(f"{type(store).__name__} offers no change token (nothing is cached across requests)")
        assert store.change_token() == before
        store.write(KEY, frame([T0], a=[1.0]), bin_seconds=DAY)
        after_write = store.change_token()
        assert after_write != before
        store.write(KEY, frame([T0], a=[2.0]), bin_seconds=DAY)  # same key, new value
        assert store.change_token() != after_write

    # -- change tokens and snapshots (every backend must give both) -----------------------------

    def test_stream_token_moves_with_writes_to_that_stream_only(self, store: Store) -> None:
        assert store.stream_token(KEY) == NEVER_WRITTEN
        store.write(KEY, frame([T0, T0 + 1], a=[1.0, 2.0]), bin_seconds=DAY)
        first = store.stream_token(KEY)
        assert first is not None and first.generation > 0 and first.modified > 0
        assert store.stream_token(KEY) == first
        store.write(OTHER, frame([T0], a=[1.0]), bin_seconds=DAY)
        store.put_asset_events(KEY.refdes, [{"deploymentNumber": 1}])
        assert store.stream_token(KEY) == first, "writes elsewhere must leave the token alone"
        store.write(KEY, frame([T0], a=[5.0]), bin_seconds=DAY)  # same key and time, new value
        second = store.stream_token(KEY)
        assert second is not None and second.generation > first.generation
        store.write(KEY, frame([T0], a=[5.0]), bin_seconds=DAY)  # even an identical rewrite
        assert store.stream_token(KEY) != second

    def test_asset_token_moves_with_that_refdes_only(self, store: Store) -> None:
        assert store.asset_token(KEY.refdes) == NEVER_WRITTEN
        store.put_asset_events(KEY.refdes, [{"deploymentNumber": 1}])
        first = store.asset_token(KEY.refdes)
        assert first is not None and first.generation > 0
        store.put_asset_events(OTHER.refdes, [{"deploymentNumber": 2}])
        store.write(KEY, frame([T0], a=[1.0]), bin_seconds=DAY)
        assert store.asset_token(KEY.refdes) == first
        store.put_asset_events(KEY.refdes, [{"deploymentNumber": 3}])
        assert store.asset_token(KEY.refdes) > first

    def test_snapshot_sees_one_state_while_others_write(self, store: Store) -> None:
        store.write(KEY, frame(T0 + np.arange(10), a=np.zeros(10)), bin_seconds=DAY)
        store.put_asset_events(KEY.refdes, [{"deploymentNumber": 1}])
        with store.snapshot() as view:
            token = view.stream_token(KEY)
            store.write(KEY, frame(T0 + np.arange(20), a=np.ones(20)), bin_seconds=DAY)
            store.write(OTHER, frame([T0], a=[1.0]), bin_seconds=DAY)
            store.put_asset_events(KEY.refdes, [{"deploymentNumber": 2}])
            assert view.coverage(KEY).count == 10
            assert view.read(KEY, ["a"])["a"].tolist() == [0.0] * 10
            assert view.read_columns(KEY, ["a"], index_range=IndexRange(5, 10))["a"].tolist() == [0.0] * 5
            assert [c.key for c in view.streams()] == [KEY]
            assert view.asset_events(KEY.refdes) == [{"deploymentNumber": 1}]
            assert view.stream_token(KEY) == token
            with view.snapshot() as inner:
                assert inner.coverage(KEY).count == 10
        assert store.coverage(KEY).count == 20
        with store.snapshot() as view:
            assert view.read(KEY, ["a"])["a"].tolist() == [1.0] * 20
            assert view.stream_token(KEY) == store.stream_token(KEY) != token

    def test_snapshot_is_read_only(self, store: Store) -> None:
        with store.snapshot() as view, pytest.raises(TypeError, match="read-only"):
            view.write(KEY, frame([T0], a=[1.0]), bin_seconds=DAY)
        assert store.coverage(KEY) is None

    def test_unknown_column_is_not_found(self, store: Store) -> None:
        store.write(KEY, frame(T0 + np.arange(3), a=np.arange(3.0)), bin_seconds=DAY)
        with pytest.raises(NotFound, match="'nope'") as info:
            store.read(KEY, ["a", "nope"])
        assert isinstance(info.value, KeyError)

    def test_unknown_stream(self, store: Store) -> None:
        assert store.partitions(OTHER) == []
        assert store.columns(OTHER) == {}
        assert store.coverage(OTHER) is None
        got = store.read(OTHER)
        assert got["time"].shape == (0,) and got["deployment"].dtype == np.int32
        with pytest.raises(NotFound):
            store.read(OTHER, ["a"])

    # -- selection -------------------------------------------------------------------------------

    @pytest.fixture
    def three_days(self, store: Store) -> np.ndarray:
        """60 records every 3600 s from T0 - 1 day (bins T0-DAY, T0, T0+DAY), value = index."""
        times = T0 - DAY + np.arange(60) * 3600.0
        store.write(KEY, frame(times, v=np.arange(60.0)), bin_seconds=DAY)
        return times

    def test_time_range(self, store: Store, three_days: np.ndarray) -> None:
        t = three_days
        cases = [
            (t[0], t[-1] + 1, list(range(60))),
            (t[5], t[9], [5, 6, 7, 8]),  # half-open: stop excluded
            (t[5] - 0.5, t[9] + 0.5, [5, 6, 7, 8, 9]),
            (T0 - 1, T0 + DAY + 1, list(range(24, 49))),  # touches three bins
            (t[-1] + 1, t[-1] + 1e6, []),
            (t[0] - 1e6, t[0], []),
            (t[3] + 1, t[4] - 1, []),
            (t[7], t[7], []),
            (-math.inf, math.inf, list(range(60))),
        ]
        for start, stop, expected in cases:
            got = store.read(KEY, ["v"], time_range=TimeRange(start, stop))
            assert got["v"].tolist() == expected, (start - T0, stop - T0)
            np.testing.assert_array_equal(got["time"], t[expected])

    def test_index_range(self, store: Store, three_days: np.ndarray) -> None:
        cases = [(0, 60, 1), (0, 1, 1), (10, 50, 1), (23, 25, 1), (0, 60, 7), (5, 59, 13),
                 (3, 60, 100), (59, 60, 1), (60, 70, 1), (58, 1000, 1), (20, 20, 1), (1, 59, 2)]
        for start, stop, step in cases:
            got = store.read(KEY, ["v"], index_range=IndexRange(start, stop, step))
            assert got["v"].tolist() == list(range(60))[start:stop:step], (start, stop, step)

    def test_both_ranges_rejected(self, store: Store, three_days: np.ndarray) -> None:
        with pytest.raises(ValueError):
            store.read(KEY, time_range=TimeRange(0, 1), index_range=IndexRange(0, 1))

    def test_partition_index(self, store: Store, three_days: np.ndarray) -> None:
        t = three_days
        assert store.partitions(KEY) == [
            Partition(int(T0 - DAY), 24, t[0], t[23]),
            Partition(int(T0), 24, t[24], t[47]),
            Partition(int(T0 + DAY), 12, t[48], t[59]),
        ]
        cov = store.coverage(KEY)
        assert (cov.count, cov.first, cov.last) == (60, t[0], t[59])
        store.write(OTHER, frame([T0 + 5.0]), bin_seconds=3600)
        assert [(s.key, s.count) for s in store.streams()] == [(OTHER, 1), (KEY, 60)]
        assert store.partitions(OTHER) == [Partition(int(T0), 1, T0 + 5.0, T0 + 5.0)]

    def test_bins_follow_floor_of_time(self, store: Store) -> None:
        times = [-10.5, -0.5, 0.0, 99.9, 100.0, 250.0]
        result = store.write(KEY, frame(times), bin_seconds=100)
        assert result.partitions == (-100, 0, 100, 200)
        assert [(p.bin, p.count) for p in store.partitions(KEY)] == [(-100, 2), (0, 2), (100, 1), (200, 1)]

    # -- upserts ---------------------------------------------------------------------------------

    def test_rewrite_is_idempotent(self, store: Store) -> None:
        records = frame(T0 + np.arange(0, 200, 3.0), a=np.arange(67.0), s=[str(i) for i in range(67)])
        first = store.write(KEY, records, bin_seconds=100)
        before, parts = store.read(KEY), store.partitions(KEY)
        second = store.write(KEY, records, bin_seconds=100)
        assert (first.inserted, first.replaced) == (67, 0)
        assert (second.inserted, second.replaced) == (0, 67)
        assert second.partitions == first.partitions
        assert store.partitions(KEY) == parts
        after = store.read(KEY)
        for name in before:
            assert after[name].tolist() == before[name].tolist()

    def test_overlapping_upsert_replaces_whole_records(self, store: Store) -> None:
        store.write(KEY, frame(T0 + np.arange(100.0), a=np.arange(100.0), n=np.arange(100)), bin_seconds=DAY)
        result = store.write(KEY, frame(T0 + np.arange(50.0, 150.0), a=-np.arange(50.0, 150.0)), bin_seconds=DAY)
        assert (result.inserted, result.replaced) == (50, 50)
        got = store.read(KEY)
        assert len(got["time"]) == 150
        np.testing.assert_array_equal(got["a"], np.concatenate([np.arange(50.0), -np.arange(50.0, 150.0)]))
        fill = np.iinfo(np.int64).min + 2
        assert got["n"].tolist() == list(range(50)) + [fill] * 100
        assert store.partitions(KEY)[0].count == 150

    def test_same_time_other_deployment_is_another_record(self, store: Store) -> None:
        store.write(KEY, frame([T0, T0 + 1], deployment=2, a=[2.0, 2.5]), bin_seconds=DAY)
        result = store.write(KEY, frame([T0 + 1, T0], deployment=1, a=[1.5, 1.0]), bin_seconds=DAY)
        assert (result.inserted, result.replaced) == (2, 0)
        got = store.read(KEY)
        assert got["time"].tolist() == [T0, T0, T0 + 1, T0 + 1]
        assert got["deployment"].tolist() == [1, 2, 1, 2]
        assert got["a"].tolist() == [1.0, 2.0, 1.5, 2.5]

    def test_unsorted_input_and_duplicate_keys(self, store: Store) -> None:
        result = store.write(KEY, frame([T0 + 3, T0 + 1, T0 + 2, T0 + 1], a=[3.0, 1.0, 2.0, 1.1]), bin_seconds=DAY)
        assert result.inserted == 3
        got = store.read(KEY)
        assert got["time"].tolist() == [T0 + 1, T0 + 2, T0 + 3]
        assert got["a"].tolist() == [1.1, 2.0, 3.0]  # the later duplicate wins

    def test_missing_columns_are_filled(self, store: Store) -> None:
        store.write(KEY, frame([T0], f=[1.0], i=np.array([5], np.int16), u=np.array([5], np.uint32),
                               s=["x"], b=[True], arr=[[1.0, 2.0]]), bin_seconds=DAY)
        store.write(KEY, frame([T0 + 1], other=[7]), bin_seconds=DAY)
        got = store.read(KEY)
        assert math.isnan(got["f"][1]) and got["f"][0] == 1.0
        assert got["i"].tolist() == [5, -32767] and got["u"].tolist() == [5, 4294967295]
        assert got["s"].tolist() == ["x", ""] and got["b"].tolist() == [True, False]
        assert got["arr"][0].tolist() == [1.0, 2.0] and np.isnan(got["arr"][1]).all()
        assert got["other"].tolist() == [np.iinfo(np.int64).min + 2, 7]

    def test_array_width_change_pads_with_fill(self, store: Store) -> None:
        store.write(KEY, frame([T0, T0 + 1], arr=[[1, 2], [3, 4]]), bin_seconds=DAY)
        store.write(KEY, frame([T0 + 2], arr=[[5, 6, 7]]), bin_seconds=DAY)
        store.write(KEY, frame([T0 + 3], arr=[[8]]), bin_seconds=DAY)
        assert store.columns(KEY)["arr"].shape == (3,)
        f = np.iinfo(np.int64).min + 2
        assert store.read(KEY)["arr"].tolist() == [[1, 2, f], [3, 4, f], [5, 6, 7], [8, f, f]]

    def test_new_column_appears_in_columns(self, store: Store) -> None:
        store.write(KEY, frame([T0], a=[1.0]), bin_seconds=DAY)
        store.write(KEY, frame([T0 + 1], b=np.array([2], np.uint8)), bin_seconds=DAY)
        cols = store.columns(KEY)
        assert list(cols) == ["time", "deployment", "a", "b"]
        assert cols["b"].dtype == "|u1"

    # -- rejected writes -------------------------------------------------------------------------

    def test_dtype_conflict_writes_nothing(self, store: Store) -> None:
        store.write(KEY, frame([T0, T0 + 1], a=np.array([1, 2], np.int32)), bin_seconds=DAY)
        before = store.partitions(KEY)
        bad = frame([T0 + 1, T0 + 5], a=np.array([1.5, 2.5]), z=[1, 2])
        with pytest.raises(ValueError, match="'a'.*<i4"):
            store.write(KEY, bad, bin_seconds=DAY)
        assert store.partitions(KEY) == before
        assert list(store.columns(KEY)) == ["time", "deployment", "a"]
        assert store.read(KEY)["a"].tolist() == [1, 2]
        with pytest.raises(ValueError):
            store.write(KEY, frame([T0 + 9], a=["text"]), bin_seconds=DAY)
        with pytest.raises(ValueError):
            store.write(KEY, frame([T0 + 9], a=[[1, 2]]), bin_seconds=DAY)

    def test_integer_widening_is_allowed(self, store: Store) -> None:
        store.write(KEY, frame([T0], a=np.array([1], np.int32)), bin_seconds=DAY)
        store.write(KEY, frame([T0 + 1], a=np.array([-2], np.int16)), bin_seconds=DAY)
        got = store.read(KEY)["a"]
        assert got.dtype == np.int32 and got.tolist() == [1, -2]

    @pytest.mark.parametrize(
        "records, match",
        [
            (frame([T0, np.nan]), "NaN"),
            (frame([T0, np.inf]), "infinite"),
            ({"time": np.array([T0, T0 + 1]), "deployment": np.array([1], np.int32)}, "unequal"),
            ({"time": np.array([T0])}, "deployment"),
            ({"deployment": np.array([1])}, "time"),
            (frame([T0], a=np.array([1 + 2j])), "unsupported"),
            (frame([T0], a=np.array([None], dtype=object)), "str"),
            ({"time": np.array([T0]), "deployment": np.array([1.5])}, "integer"),
            (frame([T0], a=np.zeros((1, 2, 2))), "dimensions"),
        ],
    )
    def test_bad_records_rejected(self, store: Store, records, match: str) -> None:
        with pytest.raises(ValueError, match=match):
            store.write(KEY, records, bin_seconds=DAY)
        assert store.partitions(KEY) == []
        assert store.streams() == []

    def test_bin_seconds_must_match_the_stream(self, store: Store) -> None:
        store.write(KEY, frame([T0]), bin_seconds=DAY)
        with pytest.raises(ValueError, match="86400"):
            store.write(KEY, frame([T0 + 1]), bin_seconds=3600)

    def test_empty_write_is_a_no_op(self, store: Store) -> None:
        result = store.write(KEY, frame([], a=np.array([])), bin_seconds=DAY)
        assert (result.inserted, result.replaced, result.partitions) == (0, 0, ())
        assert store.streams() == [] and store.partitions(KEY) == []

    # -- a reference model -----------------------------------------------------------------------

    def test_random_upserts_match_a_reference_model(self, store: Store) -> None:
        rng = np.random.default_rng(42)
        model: dict[tuple[float, int], tuple[float, str]] = {}
        for round_ in range(12):
            n = int(rng.integers(1, 40))
            times = T0 + rng.integers(0, 300, n) * 0.5
            deps = rng.integers(1, 3, n).astype(np.int32)
            vals = rng.standard_normal(n)
            labels = [f"r{round_}-{i}" for i in range(n)]
            store.write(KEY, {"time": times, "deployment": deps, "v": vals, "s": np.array(labels, object)}, bin_seconds=40)
            for t, d, v, s in zip(times.tolist(), deps.tolist(), vals.tolist(), labels, strict=True):
                model[(t, d)] = (v, s)
        keys = sorted(model)
        got = store.read(KEY)
        assert list(zip(got["time"].tolist(), got["deployment"].tolist(), strict=True)) == keys
        assert got["v"].tolist() == [model[k][0] for k in keys]
        assert got["s"].tolist() == [model[k][1] for k in keys]
        assert sum(p.count for p in store.partitions(KEY)) == len(keys)
        for _ in range(20):
            a, b = sorted(rng.integers(0, len(keys) + 3, 2).tolist())
            step = int(rng.integers(1, 6))
            sel = store.read(KEY, ["v"], index_range=IndexRange(a, b, step))
            assert sel["v"].tolist() == [model[k][0] for k in keys[a:b:step]]
            lo, hi = sorted((T0 + rng.uniform(-5, 160, 2)).tolist())
            sel = store.read(KEY, ["s"], time_range=TimeRange(lo, hi))
            assert sel["s"].tolist() == [model[k][1] for k in keys if lo <= k[0] < hi]

    # -- assets ----------------------------------------------------------------------------------

    def test_asset_events(self, store: Store) -> None:
        refdes = KEY.refdes
        assert store.asset_events(refdes) == [] and store.asset_refdeses() == []
        events = [{"@class": ".XDeployment", "deploymentNumber": 1, "location": {"latitude": 44.6}},
                  {"@class": ".CalibrationData", "name": "CC_a", "value": [1.5, "x \"q\" ü"]}]
        assert store.put_asset_events(refdes, events) == 2
        assert store.asset_events(refdes) == events
        assert store.put_asset_events(refdes, events[:1]) == 1
        assert store.asset_events(refdes) == events[:1]
        store.put_asset_events(OTHER.refdes, [])
        assert store.asset_refdeses() == sorted([refdes, OTHER.refdes])
        with pytest.raises(ValueError):
            store.put_asset_events(refdes, ["not a mapping"])
        assert store.asset_events(refdes) == events[:1]

    # -- export jobs -----------------------------------------------------------------------------

    def test_job_records(self, store: Store) -> None:
        try:
            assert store.jobs() == [] and store.job("a") is None
        except NotImplementedError:
            pytest.skip(f"the {store.backend} store keeps no export jobs")
        first = {"id": "a", "state": "queued", "created": 1.0, "request": {"streams": [{"x": "ü"}]}}
        second = {"id": "b", "state": "queued", "created": 2.0}
        store.put_job("b", second)
        store.put_job("a", first)
        assert [j["id"] for j in store.jobs()] == ["a", "b"] and store.job("a") == first
        token = store.change_token()
        assert store.claim_job(1, {"pid": 7}) == {**first, "state": "running", "pid": 7}
        assert store.claim_job(1, {}) is None  # one running already
        assert store.claim_job(2, {})["id"] == "b"
        assert store.claim_job(3, {}) is None  # nothing queued
        assert store.update_job("a", {"progress": 0.5})["progress"] == 0.5
        assert store.job("a")["pid"] == 7
        assert store.delete_job("a") and not store.delete_job("a")
        assert store.update_job("a", {"progress": 1.0}) is None and store.job("a") is None
        assert token is None or store.change_token() == token  # job records never move it

    # -- data-quality records --------------------------------------------------------------------

    def test_quality_records(self, store: Store) -> None:
        store.write(KEY, frame([T0]), bin_seconds=DAY)
        stream_token, asset_token = store.stream_token(KEY), store.asset_token(KEY.refdes)
        assert [store.quality_records(k) for k in ("annotation", "qartod", "qc")] == [[], [], []]
        note = {"@class": ".AnnotationRecord", "subsite": KEY.subsite, "annotation": "bad \"pump\" ü",
                "beginDT": 1.5e12, "endDT": None, "parameters": [13, 14]}
        assert store.add_quality_records("annotation", [note, {**note, "annotation": "second"}]) == [1, 2]
        assert store.add_quality_records("annotation", [{**note, "id": 7}, {**note, "annotation": "next"}]) == [7, 8]
        assert store.add_quality_records("annotation", [{**note, "id": 2, "annotation": "replaced"}]) == [2]
        found = store.quality_records("annotation")
        assert [r["id"] for r in found] == [1, 2, 7, 8]
        assert found[0] == {**note, "id": 1} and found[1]["annotation"] == "replaced"
        assert store.quality_records("qartod") == [] and store.quality_records("qc") == []
        assert store.add_quality_records("qc", [{"qcParameterName": "x"}]) == [1]  # ids per kind
        assert store.asset_refdeses() == []  # kept apart from the asset events
        with pytest.raises(ValueError, match="kind"):
            store.add_quality_records("flags", [note])
        with pytest.raises(ValueError, match="JSON object"):
            store.add_quality_records("annotation", [note, "not a record"])
        with pytest.raises(ValueError, match="id"):
            store.add_quality_records("annotation", [{**note, "id": -3}])
        with pytest.raises(ValueError, match="JSON"):
            store.add_quality_records("annotation", [{**note, "beginDT": float("nan")}])
        assert [r["id"] for r in store.quality_records("annotation")] == [1, 2, 7, 8]  # nothing of those
        # annotations belong to the version of the streams they touch (digested per response),
        # never to a stream's record token or a refdes's asset token
        assert store.stream_token(KEY) == stream_token and store.asset_token(KEY.refdes) == asset_token
