"""The Cassandra store's column chunks: the conformance suite over rows-only and mixed keyspaces,
chunks agreeing with their OOI rows, resumed ingests, reads during writes, derived rows."""

from __future__ import annotations

import os
import subprocess
import threading
import uuid

import numpy as np
import pytest
import test_cassandra
from cassandra_node import CassandraNode
from live_server import stream_engine_command
from store_suite import DAY, KEY, T0, frame
from test_cassandra import empty_keyspace

from stream_engine.errors import StoreUnavailable
from stream_engine.store import cassandra_bulk, cassandra_snapshot
from stream_engine.store.base import IndexRange, TimeRange
from stream_engine.store.cassandra import CassandraStore
from stream_engine.store.cassandra_chunks import CHUNK_TABLE
from stream_engine.store.cassandra_reads import read_bins
from stream_engine.store.cassandra_schema import quote
from stream_engine.store.cassandra_session import CassandraConnection
from stream_engine.store.cassandra_tables import KEY_WHERE, key_params

pytestmark = pytest.mark.cassandra


def forget_chunks(store: CassandraStore, key, every: int = 1) -> None:
    """Make every ``every``-th bin of ``key`` a rows-only bin, as OOI's tools leave them: its index
    row names no chunk version and its chunks are gone; the rows stay."""
    session = store.conn.session()
    clear = session.prepare(f"UPDATE {store.keyspace}.partition_metadata SET chunk_version=null, rows_version=null "
                            f"WHERE {KEY_WHERE} AND bin=?")
    drop = session.prepare(f"DELETE FROM {store.keyspace}.{CHUNK_TABLE} WHERE {KEY_WHERE} AND bin=?")
    for i, state in enumerate(store.bin_states(key)):
        if i % every == 0 and state.version is not None:
            session.execute(clear, (*key_params(key), state.bin))
            session.execute(drop, (*key_params(key), state.bin))


class RowsOnlyAfterWrites(CassandraStore):
    """Every write leaves its stream's bins as rows only (every ``every``-th bin): the next read
    goes to the rows, the next write into such a bin first brings its rows into chunks."""

    every = 1
    ROWS = "with-ingest"  # the rows are all that will be left of a bin

    def write(self, key, records, *, bin_seconds):
        result = super().write(key, records, bin_seconds=bin_seconds)
        forget_chunks(self, key, self.every)
        return result


class MixedAfterWrites(RowsOnlyAfterWrites):
    every = 2


def _store_of(cls, node: CassandraNode, keyspace: str, rows: str | None = None) -> CassandraStore:
    base = node.store(keyspace)
    store = cls(base.conn, rows=rows or getattr(cls, "ROWS", "background"))
    store.ensure_schema()
    empty_keyspace(store)
    return store


class TestRowsOnlyKeyspace(test_cassandra.TestCassandraStore):
    """The conformance suite with every bin read from (and upserted over) OOI rows."""

    @pytest.fixture
    def store(self, cassandra_node: CassandraNode):
        store = _store_of(RowsOnlyAfterWrites, cassandra_node, "suite_rows")
        yield store
        store.close()


class TestMixedKeyspace(test_cassandra.TestCassandraStore):
    """The conformance suite with half the bins in chunks and half in rows only."""

    @pytest.fixture
    def store(self, cassandra_node: CassandraNode):
        store = _store_of(MixedAfterWrites, cassandra_node, "suite_mixed")
        yield store
        store.close()


@pytest.fixture
def store(cassandra_node: CassandraNode):
    """A store writing the OOI rows with every ingest (the tests compare them with the chunks)."""
    store = _store_of(CassandraStore, cassandra_node, "chunks", rows="with-ingest")
    yield store
    store.close()


def _rows(store: CassandraStore, key=KEY) -> dict[str, np.ndarray]:
    """Every record as the OOI row table holds it (the row read path, whatever the index says)."""
    stored = store.columns(key)
    bins = [p.bin for p in store.partitions(key)]
    return read_bins(store.conn, store.keyspace, key, bins, list(stored.values()), None)


def _row_count(store: CassandraStore, key=KEY) -> int:
    total = 0
    for p in store.partitions(key):
        total += store.conn.session().execute(
            f"SELECT count(*) FROM {store.keyspace}.{key.stream} WHERE subsite=%s AND node=%s AND sensor=%s "
            "AND bin=%s AND method=%s", (key.subsite, key.node, key.sensor, p.bin, key.method)).one()[0]
    return total


def _versions(store: CassandraStore, key=KEY) -> dict[int, int]:
    """Chunk versions stored per bin (visible or not)."""
    out = {}
    for p in store.partitions(key):
        found = store.conn.session().execute(
            f"SELECT version FROM {store.keyspace}.{CHUNK_TABLE} WHERE {KEY_WHERE.replace('?', '%s')} AND bin=%s",
            (*key_params(key), p.bin))
        out[p.bin] = len({r[0] for r in found})
    return out


def _give_rows_random_ids(store: CassandraStore, key=KEY) -> None:
    """Re-key every row with a random ``id``, as OOI's ingest gave them."""
    session = store.conn.session()
    result = session.execute(f"SELECT * FROM {store.keyspace}.{key.stream}")
    names, rows = result.column_names, list(result)
    insert = session.prepare(f"INSERT INTO {store.keyspace}.{key.stream} ({', '.join(map(quote, names))}) "
                             f"VALUES ({', '.join('?' * len(names))})")
    delete = session.prepare(f"DELETE FROM {store.keyspace}.{key.stream} WHERE subsite=? AND node=? AND "
                             "sensor=? AND bin=? AND method=? AND time=? AND deployment=? AND id=?")
    at = {n: i for i, n in enumerate(names)}
    for row in rows:
        session.execute(delete, [row[at[n]] for n in ("subsite", "node", "sensor", "bin", "method", "time",
                                                      "deployment", "id")])
        values = list(row)
        values[at["id"]] = uuid.uuid4()
        session.execute(insert, values)


def _mixed_records(n: int, start: float = T0, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    times = start + np.sort(rng.choice(3 * DAY, n, replace=False)).astype(float)
    return frame(times, deployment=rng.integers(1, 3, n),
                 temp=rng.normal(10, 2, n), count=rng.integers(-5, 5, n).astype(np.int16),
                 flag=rng.integers(0, 2, n).astype(bool), label=np.array([f"s{i}é" for i in range(n)], dtype=object),
                 spectrum=rng.normal(size=(n, 3)).astype(np.float32))


def _assert_same(got: dict[str, np.ndarray], want: dict[str, np.ndarray]) -> None:
    assert set(got) == set(want)
    for name in want:
        assert np.array_equal(got[name], want[name], equal_nan=got[name].dtype.kind == "f"), name


def test_chunks_and_their_rows_agree(store: CassandraStore) -> None:
    first = _mixed_records(500)
    store.write(KEY, first, bin_seconds=DAY)
    again = _mixed_records(200, start=T0 + DAY / 2, seed=1)  # upserts over part of day 1 and day 2
    store.write(KEY, again, bin_seconds=DAY)
    from_chunks = store.read(KEY)
    _assert_same(_rows(store), from_chunks)
    assert _row_count(store) == store.coverage(KEY).count == len(from_chunks["time"])
    assert all(s.version is not None and s.rows_complete for s in store.bin_states(KEY))
    assert set(_versions(store).values()) == {1}  # superseded versions are gone


def test_rows_only_bins_become_chunks_on_the_next_write_keeping_row_ids(store: CassandraStore) -> None:
    store.write(KEY, _mixed_records(300), bin_seconds=DAY)
    forget_chunks(store, KEY)
    _give_rows_random_ids(store)
    ids_before = {(r[0], r[1]): r[2] for r in store.conn.session().execute(
        f"SELECT time, deployment, id FROM {store.keyspace}.{KEY.stream}")}
    expected = store.read(KEY)  # from rows
    assert all(s.version is None for s in store.bin_states(KEY))
    upsert = {k: v[::10] for k, v in expected.items()}
    upsert["temp"] = upsert["temp"] + 100
    store.write(KEY, upsert, bin_seconds=DAY)
    expected["temp"][::10] += 100
    _assert_same(store.read(KEY), expected)
    _assert_same(_rows(store), expected)
    ids_after = {(r[0], r[1]): r[2] for r in store.conn.session().execute(
        f"SELECT time, deployment, id FROM {store.keyspace}.{KEY.stream}")}
    assert ids_after == ids_before  # replaced rows kept their (OOI) ids: no duplicate rows
    assert len(ids_after) == _row_count(store) == 300


@pytest.mark.parametrize("switched", [False, True], ids=["before-the-switch", "after-the-switch"])
def test_interrupted_ingest_resumed_gives_the_same_data(store: CassandraStore, cassandra_node: CassandraNode,
                                                        monkeypatch: pytest.MonkeyPatch, switched: bool) -> None:
    """A write cut off once its new versions are stored shows none of its bins, or, cut off
    right after its switch (before the old versions are deleted and the generation moves), all
    of them; writing the same records again gives exactly what one clean write gives."""
    records = _mixed_records(900)
    store.write(KEY, {k: v[:300] for k, v in records.items()}, bin_seconds=DAY)
    real_switch = cassandra_bulk._switch

    def switch_then_fail(store_, key, work):
        if switched:
            assert real_switch(store_, key, work) == {}
        raise StoreUnavailable("the cluster went away mid-write")

    monkeypatch.setattr(cassandra_bulk, "_switch", switch_then_fail)
    with pytest.raises(StoreUnavailable):
        store.write(KEY, records, bin_seconds=DAY)
    monkeypatch.undo()
    assert len(store.read(KEY)["time"]) == (900 if switched else 300)  # every bin of the write, or none
    store.write(KEY, records, bin_seconds=DAY)  # resume: write the same records again
    clean = _store_of(CassandraStore, cassandra_node, "chunks_clean")
    clean.write(KEY, records, bin_seconds=DAY)
    _assert_same(store.read(KEY), clean.read(KEY))
    _assert_same(_rows(store), clean.read(KEY))
    assert _row_count(store) == 900
    assert set(_versions(store).values()) == {1}  # the unswitched and superseded versions were deleted
    clean.close()


def test_a_read_during_a_write_is_never_mixed(store: CassandraStore) -> None:
    times = T0 + np.arange(3000) * 60.0  # three bins
    store.write(KEY, frame(times, v=np.zeros(3000)), bin_seconds=DAY)
    stale = store.bin_states(KEY)
    store.write(KEY, frame(times, v=np.ones(3000)), bin_seconds=DAY)
    with pytest.raises(StoreUnavailable, match="retry"):
        store.read_with(KEY, ["v"], stale, store.columns(KEY))  # the versions it names are gone
    seen, errors, stop = [], [], threading.Event()

    def writer() -> None:
        for k in range(2, 12):
            store.write(KEY, frame(times, v=np.full(3000, float(k))), bin_seconds=DAY)
        stop.set()

    thread = threading.Thread(target=writer)
    thread.start()
    while not stop.is_set():
        try:
            with store.snapshot() as view:
                got = view.read(KEY, ["v"])["v"]
        except StoreUnavailable as exc:
            errors.append(str(exc))
            continue
        seen.append(set(got.tolist()))
    thread.join()
    assert seen and all(len(values) == 1 for values in seen)  # one state per read, never a mix
    assert all("retry" in e for e in errors)
    assert store.read(KEY, ["v"])["v"].tolist() == [11.0] * 3000


def test_a_snapshot_taken_as_a_write_switches_its_bins_sees_all_of_them_or_none(
        store: CassandraStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """The moment a write makes its bins visible, a new snapshot (as a response takes one)
    reads that write in every bin or in none: the bins are switched in one statement, never
    one after the other (a snapshot between two of them read a mix of two states, with the
    stream's generation not yet moved to tell it)."""
    times = T0 + np.arange(3000) * 60.0  # three bins
    store.write(KEY, frame(times, v=np.zeros(3000)), bin_seconds=DAY)
    seen: list[set[float]] = []
    tokens = [store.stream_token(KEY)]
    execute, batch = CassandraConnection.execute, CassandraConnection.conditional_batch

    def snapshot_read() -> None:
        with store.snapshot() as view:
            seen.append(set(view.read(KEY, ["v"])["v"].tolist()))
            tokens.append(view.stream_token(KEY))

    def execute_then_read(self: CassandraConnection, cql: object, params: object = (), *, doing: str) -> object:
        found = execute(self, cql, params, doing=doing)
        if doing.startswith("update the partition index"):
            snapshot_read()
        return found

    def batch_then_read(self: CassandraConnection, statement: object, *, doing: str) -> object:
        found = batch(self, statement, doing=doing)
        if doing.startswith("update the partition index"):
            snapshot_read()
        return found

    monkeypatch.setattr(CassandraConnection, "execute", execute_then_read)
    monkeypatch.setattr(CassandraConnection, "conditional_batch", batch_then_read)
    store.write(KEY, frame(times, v=np.ones(3000)), bin_seconds=DAY)
    assert seen == [{1.0}]  # read once, right after the switch: the new state only
    assert tokens[1] != tokens[0]  # ... with a token of its own, before the write has ended
    assert store.read(KEY, ["v"])["v"].tolist() == [1.0] * 3000


@pytest.mark.parametrize("writes", [1, 3], ids=["one-write", "a-write-every-time"])
def test_a_view_whose_stream_is_written_as_it_opens_reads_its_state_again(
        store: CassandraStore, monkeypatch: pytest.MonkeyPatch, writes: int) -> None:
    """A write landing while a view reads the stream's state (index, then columns) makes the view
    read it again, rather than answer 503 at once; only writes landing every time do."""
    times = T0 + np.arange(300) * 60.0
    store.write(KEY, frame(times, v=np.zeros(300)), bin_seconds=DAY)
    columns = CassandraStore.columns
    landed: list[float] = []

    def columns_then_write(self: CassandraStore, key: object) -> object:
        found = columns(self, key)
        if len(landed) < writes:
            landed.append(len(landed) + 1.0)
            CassandraStore.write(self, KEY, frame(times, v=np.full(300, landed[-1])), bin_seconds=DAY)
        return found

    monkeypatch.setattr(CassandraStore, "columns", columns_then_write)
    with store.snapshot() as view:
        if writes < cassandra_snapshot.STATE_READS:
            assert view.read(KEY, ["v"])["v"].tolist() == [landed[-1]] * 300
            assert view.stream_token(KEY) == store.stream_token(KEY)
        else:
            with pytest.raises(StoreUnavailable, match="retry"):
                view.read(KEY, ["v"])
    assert len(landed) == writes


def test_a_write_of_more_bins_than_one_batch_switches_them_oldest_first(
        store: CassandraStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """A write of more bins than one batch switches becomes visible a group of bins at a time,
    oldest first, each group with a token of its own: as consecutive writes would."""
    monkeypatch.setattr(cassandra_bulk, "SWITCH_BINS", 2)
    times = T0 + np.arange(5) * DAY  # five bins
    store.write(KEY, frame(times, v=np.zeros(5)), bin_seconds=DAY)
    seen: list[tuple[list[float], object]] = []
    batch = CassandraConnection.conditional_batch

    def batch_then_read(self: CassandraConnection, statement: object, *, doing: str) -> object:
        found = batch(self, statement, doing=doing)
        with store.snapshot() as view:
            seen.append((view.read(KEY, ["v"])["v"].tolist(), view.stream_token(KEY)))
        return found

    monkeypatch.setattr(CassandraConnection, "conditional_batch", batch_then_read)
    done = store.write(KEY, frame(times, v=np.ones(5)), bin_seconds=DAY)
    assert (done.inserted, done.replaced) == (0, 5)
    assert [values for values, _ in seen] == [[1, 1, 0, 0, 0], [1, 1, 1, 1, 0], [1, 1, 1, 1, 1]]
    assert len({token for _, token in seen}) == 3
    assert set(_versions(store).values()) == {1}


def test_a_writer_cut_off_after_its_switch_leaves_the_token_of_what_it_switched(
        store: CassandraStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """A writer that dies right after its switch, before it records the write, still moved the
    stream's token with its bins: nothing cached under the old token (computed windows, ETags)
    stands for the new values, and a repeat of the write moves it on again."""
    times = T0 + np.arange(3000) * 60.0  # three bins
    store.write(KEY, frame(times, v=np.zeros(3000)), bin_seconds=DAY)
    with store.snapshot() as view:
        before = view.stream_token(KEY)
    assert store.stream_token(KEY) == before

    def gone(self: CassandraStore, key: object, *, switched: bool = False) -> None:
        raise StoreUnavailable("the cluster went away mid-write")

    monkeypatch.setattr(CassandraStore, "record_write", gone)
    with pytest.raises(StoreUnavailable):
        store.write(KEY, frame(times, v=np.ones(3000)), bin_seconds=DAY)
    with store.snapshot() as view:
        assert view.read(KEY, ["v"])["v"].tolist() == [1.0] * 3000
        cut = view.stream_token(KEY)
    assert cut != before and cut.generation > before.generation
    assert store.stream_token(KEY) == cut
    monkeypatch.undo()
    store.write(KEY, frame(times, v=np.full(3000, 2.0)), bin_seconds=DAY)
    assert store.stream_token(KEY).generation > cut.generation


def test_a_view_reads_a_written_streams_state_in_four_statements(
        store: CassandraStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """A stream whose partition index holds its generation: a view reads its state with the
    index (and generation), its bin size, its columns and one generation check, one round trip
    each; no generation read before the index."""
    times = T0 + np.arange(300) * 60.0
    store.write(KEY, frame(times, v=np.zeros(300)), bin_seconds=DAY)
    execute = CassandraConnection.execute
    done: list[str] = []

    def counted(self: CassandraConnection, statement: object, *args: object, doing: str = "") -> object:
        done.append(doing)
        return execute(self, statement, *args, doing=doing)

    monkeypatch.setattr(CassandraConnection, "execute", counted)
    with store.snapshot() as view:
        token = view.stream_token(KEY)
    assert done == [f"read the partition index of {KEY}", f"read the metadata of {KEY}",
                    f"read the columns of {KEY}", f"read the generation of {KEY}"]
    assert token == store.stream_token(KEY)


def test_a_stream_written_before_the_index_kept_its_generation(store: CassandraStore) -> None:
    """A stream last written by a version that kept the generation in ``stream_metadata`` only:
    its token is that one, until a write moves the partition index's."""
    times = T0 + np.arange(300) * 60.0
    store.write(KEY, frame(times, v=np.zeros(300)), bin_seconds=DAY)
    conn = store.conn
    conn.execute(f"UPDATE {store.keyspace}.partition_metadata SET generation=null WHERE {KEY_WHERE}",
                 key_params(KEY), doing="forget the generation")
    old = conn.execute(f"SELECT generation FROM {store.keyspace}.stream_metadata WHERE {KEY_WHERE}",
                       key_params(KEY), doing="read the older generation")[0][0]
    with store.snapshot() as view:
        assert view.stream_token(KEY) == store.stream_token(KEY)
        assert view.stream_token(KEY).generation == old.time
        assert view.read(KEY, ["v"])["v"].tolist() == [0.0] * 300
    store.write(KEY, frame(times, v=np.ones(300)), bin_seconds=DAY)
    with store.snapshot() as view:
        assert view.stream_token(KEY).generation > old.time
        assert view.stream_token(KEY) == store.stream_token(KEY)


def test_a_view_of_an_older_stream_written_as_it_opens_takes_the_new_index_and_its_generation(
        store: CassandraStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """A stream whose index holds no generation yet: the view reads ``stream_metadata``'s, then
    the index again. A write landing just before that second read leaves the index holding the
    new generation beside the new bins, which the view takes as they are (no third read)."""
    times = T0 + np.arange(300) * 60.0
    store.write(KEY, frame(times, v=np.zeros(300)), bin_seconds=DAY)
    store.conn.execute(f"UPDATE {store.keyspace}.partition_metadata SET generation=null WHERE {KEY_WHERE}",
                       key_params(KEY), doing="forget the generation")
    index_state = CassandraStore.index_state
    reads: list[int] = []
    writing: list[bool] = []

    def write_then_read(self: CassandraStore, key: object) -> object:
        if not writing:  # the view's reads, not the write's own
            reads.append(len(reads) + 1)
            if len(reads) == 2:  # after the first index read and stream_metadata's generation
                writing.append(True)
                CassandraStore.write(self, KEY, frame(times, v=np.ones(300)), bin_seconds=DAY)
                writing.clear()
        return index_state(self, key)

    monkeypatch.setattr(CassandraStore, "index_state", write_then_read)
    with store.snapshot() as view:
        values = view.read(KEY, ["v"])["v"].tolist()
        token = view.stream_token(KEY)
    monkeypatch.undo()
    assert values == [1.0] * 300
    assert token == store.stream_token(KEY) and store.index_state(KEY)[0] is not None
    assert reads == [1, 2]


def test_a_write_that_loses_one_bin_to_another_writer_switches_none_until_it_merged_it_again(
        store: CassandraStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another writer switches one of a write's three bins between the write's merge and its
    switch: the write's batch then switches none of them (a snapshot right after sees the
    other writer's record and none of the write's values), merges that bin again and switches
    all three, losing neither writer's records."""
    times = T0 + np.arange(3000) * 60.0  # three bins
    store.write(KEY, frame(times, v=np.zeros(3000)), bin_seconds=DAY)
    other = T0 + DAY + 30.0  # a new record in the second bin
    batch = CassandraConnection.conditional_batch
    calls: list[bool] = []
    seen: list[list[float]] = []

    def racing(self: CassandraConnection, statement: object, *, doing: str) -> object:
        calls.append(True)
        first = len(calls) == 1
        if first:  # the other writer, inside the first write's switch
            assert store.write(KEY, frame([other], v=[7.0]), bin_seconds=DAY).inserted == 1
        found = batch(self, statement, doing=doing)
        if first:
            with store.snapshot() as view:
                seen.append(sorted(set(view.read(KEY, ["v"])["v"].tolist())))
        return found

    monkeypatch.setattr(CassandraConnection, "conditional_batch", racing)
    done = store.write(KEY, frame(times, v=np.ones(3000)), bin_seconds=DAY)
    assert (done.inserted, done.replaced) == (0, 3000)
    assert len(calls) == 3  # the first batch, the other writer's, the first one again
    assert seen == [[0.0, 7.0]]  # after the first batch failed: nothing of it visible
    got = store.read(KEY, ["time", "v"])
    assert len(got["time"]) == 3001
    assert got["v"][got["time"] == other].tolist() == [7.0]
    assert (got["v"][got["time"] != other] == 1.0).all()
    assert set(_versions(store).values()) == {1}  # the versions of the failed batch were deleted


def test_concurrent_writers_of_one_bin_lose_nothing(store: CassandraStore) -> None:
    store.write(KEY, frame([T0], v=[0.0]), bin_seconds=DAY)
    times = T0 + 1 + np.arange(400) * 10.0

    def write(part: int) -> None:
        for chunk in np.array_split(np.arange(part, 400, 2), 5):
            store.write(KEY, frame(times[chunk], v=chunk.astype(float)), bin_seconds=DAY)

    threads = [threading.Thread(target=write, args=(p,)) for p in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    got = store.read(KEY, ["v"])
    assert got["v"].tolist() == [0.0, *range(400)]
    assert store.coverage(KEY).count == 401


def test_rows_deferred_then_derived(cassandra_node: CassandraNode) -> None:
    store = _store_of(CassandraStore, cassandra_node, "chunks_deferred")
    store.write_rows = False
    records = _mixed_records(400)
    store.write(KEY, records, bin_seconds=DAY)
    assert _row_count(store) == 0 and not any(s.rows_complete for s in store.bin_states(KEY))
    expected = store.read(KEY)
    assert store.derive_rows(KEY) == 400
    assert all(s.rows_complete for s in store.bin_states(KEY))
    _assert_same(_rows(store), expected)
    assert store.derive_rows(KEY) == 0  # nothing lags any more
    store.write_rows = True
    store.write(KEY, {k: v[:50] for k, v in records.items()}, bin_seconds=DAY)
    _assert_same(_rows(store), store.read(KEY))
    store.close()


def test_derive_rows_command(cassandra_node: CassandraNode, tmp_path) -> None:
    """What an operator runs after a chunks-only ingest: every record gets its OOI row, once."""
    store = _store_of(CassandraStore, cassandra_node, "chunks_derive_cli")
    store.write_rows = False
    records = _mixed_records(300)
    store.write(KEY, records, bin_seconds=DAY)
    assert _row_count(store) == 0
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAM_ENGINE_")}
    env.update(cassandra_node.settings_env("chunks_derive_cli"), STREAM_ENGINE_LOG_DIR=str(tmp_path))

    def derive(*streams: str) -> subprocess.CompletedProcess:
        return subprocess.run([*stream_engine_command(), "cassandra", "derive-rows", *streams], env=env,
                              capture_output=True, text=True, timeout=600)

    done = derive("no_such_stream")  # a typo is an error naming it, as for reindex
    assert done.returncode != 0 and "'no_such_stream' is not a stored stream" in done.stderr, done
    assert _row_count(store) == 0
    done = derive("--status")
    assert done.returncode == 0, done.stderr
    assert f"{KEY}: {len(store.partitions(KEY))} bins, 300 records with OOI rows pending" in done.stdout, done.stdout
    assert "no process is deriving rows now" in done.stdout and _row_count(store) == 0
    done = derive()
    assert done.returncode == 0, done.stderr
    assert "OOI rows written for 300 records" in done.stdout
    _assert_same(_rows(store), store.read(KEY))
    assert not store.conn.session().execute(f"SELECT holder FROM {store.keyspace}.store_leases").all()  # released
    assert "OOI rows written for 0 records" in derive(KEY.stream).stdout  # nothing lags any more
    store.close()


def test_a_response_fetches_each_bin_once(store: CassandraStore, monkeypatch: pytest.MonkeyPatch) -> None:
    times = T0 + np.arange(2000) * 60.0  # two bins
    store.write(KEY, frame(times, a=np.arange(2000.0), b=-np.arange(2000.0)), bin_seconds=DAY)
    fetched: list[list[str]] = []
    real = store.conn.column_pages

    def counting(statement, params, *, doing):
        fetched.extend(p[-1] for p in params if "chunks" in doing)
        return real(statement, params, doing=doing)

    monkeypatch.setattr(store.conn, "column_pages", counting)
    with store.snapshot() as view:
        blocks = [view.read_columns(KEY, ["a"], index_range=IndexRange(lo, lo + 250))["a"]
                  for lo in range(0, 2000, 250)]
        assert np.concatenate(blocks).tolist() == list(range(2000))
        assert len(fetched) == 2  # one fetch per bin, not per block
        assert view.read(KEY, ["b"], index_range=IndexRange(1500, 1510))["b"].tolist() == [-float(i) for i in range(1500, 1510)]
        assert len(fetched) == 2  # small bins came whole (every stored column) with the first read
    assert sorted(fetched[0][1:]) == ["a", "b", "deployment", "time"]


def test_an_older_partition_index_gets_the_chunk_columns(cassandra_node: CassandraNode) -> None:
    from stream_engine.config import load_settings
    from stream_engine.preload import default_preload
    from stream_engine.store.cassandra_admin import apply_schema, schema_problems

    store = _store_of(CassandraStore, cassandra_node, "chunks_upgrade")
    session = store.conn.session()
    for column in ("chunk_version", "rows_version", "generation"):
        session.execute(f"ALTER TABLE {store.keyspace}.partition_metadata DROP {column}")
    preload = default_preload(load_settings(environ={}))
    apply_schema(store, preload)
    assert not [p for p in schema_problems(store, preload) if "partition_metadata" in p]
    store.write(KEY, frame([T0, T0 + 1], v=[1.0, 2.0]), bin_seconds=DAY)
    assert store.read(KEY, ["v"])["v"].tolist() == [1.0, 2.0]
    assert store.index_state(KEY)[0] is not None  # the generation moved with the bins
    store.close()


def test_time_range_reads_of_a_large_bin_fetch_only_the_cells_they_need(
        cassandra_node: CassandraNode, monkeypatch: pytest.MonkeyPatch) -> None:
    """Cells of fixed-width columns are laid out by record range: a read of ~1% of a bin fetches
    the cells around it (found through the times the marker keeps), with the values of a whole
    read cut by time, at cell edges, on duplicate times and for versions without the times."""
    store = _store_of(CassandraStore, cassandra_node, "chunks_ranges")  # chunks only: fast to write
    n = 400_000  # seven cells of float64 per column (65,536 records each), one bin
    times = T0 + np.repeat(np.arange(n // 2) * 0.2, 2)  # every time twice, deployments 1 and 2
    deployments = np.tile([1, 2], n // 2)
    store.write(KEY, frame(times, deployment=deployments, a=np.arange(n, dtype=np.float64),
                           b=np.arange(n, dtype=np.int16) % 1000,
                           label=np.array([f"r{i % 7}" for i in range(n)], dtype=object)), bin_seconds=DAY)
    whole = store.read(KEY)
    fetched: list[int] = []
    real = store.conn.column_pages

    def counting(statement, params, *, doing):
        pages = real(statement, params, doing=doing)
        fetched.extend(len(d) for p in pages for page in p for d in page.get("data", []) if d)
        return pages

    monkeypatch.setattr(store.conn, "column_pages", counting)
    windows = [(T0 + 8_000.0, T0 + 8_400.0),  # 1% inside the first cell
               (times[65_530], times[65_545]),  # across the edge of the first and second cells
               (T0 - 5.0, T0 + 1.0), (times[-3], times[-1] + 1.0),  # the bin's two ends
               (T0 + 100.25, T0 + 100.4)]  # between two records: nothing
    for start, stop in windows:
        fetched.clear()
        got = store.read(KEY, ["a", "b", "label"], time_range=TimeRange(start, stop))
        keep = (whole["time"] >= start) & (whole["time"] < stop)
        _assert_same(got, {name: whole[name][keep] for name in got})
        fetched.clear()
        got = store.read(KEY, ["a"], time_range=TimeRange(start, stop))
        _assert_same(got, {name: whole[name][keep] for name in got})
        assert sum(fetched) < 0.4 * n * (8 + 4 + 8), (start, sum(fetched))  # time, deployment, a: not whole
    fetched.clear()
    first = store.read(KEY, ["a"], time_range=TimeRange(*windows[0]))
    assert len(fetched) == 1 + 3 and sum(fetched) < 3 * 512 * 1024 + 4096  # the marker, one cell per column
    assert len(first["time"]) == n // 100 and first["a"][0] == 80_000
    # a version written before the marker kept the times is read whole, with the same values
    state = store.bin_states(KEY)[0]
    store.conn.session().execute(
        f"UPDATE {store.keyspace}.{CHUNK_TABLE} SET data=0x WHERE {KEY_WHERE.replace('?', '%s')} AND bin=%s "
        "AND version=%s AND name=%s AND chunk=0", (*key_params(KEY), state.bin, state.version, "\x00"))
    _assert_same(store.read(KEY, ["a"], time_range=TimeRange(*windows[1])), {
        name: v[(whole["time"] >= windows[1][0]) & (whole["time"] < windows[1][1])]
        for name, v in whole.items() if name in ("time", "deployment", "a")})
    store.close()
