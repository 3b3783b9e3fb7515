"""Serving a keyspace written by OOI's tools as it is: rows put in with plain CQL the way OOI's
ingest wrote them (random ids, array values as msgpack lists, nulls, a key stored twice), no
partition index and no stream columns; ``stream-engine cassandra reindex`` builds those, and the
stream is then served over DAP with the values of the same file ingested into the embedded store."""

from __future__ import annotations

import os
import subprocess
import uuid

import msgpack
import netCDF4
import numpy as np
import pytest
from cassandra.cluster import Cluster
from live_server import http, start_server, stream_engine_command

from stream_engine.config import REPO_ROOT
from stream_engine.ingest import ingest_file
from stream_engine.preload import load_preload
from stream_engine.store.base import StreamKey
from stream_engine.store.cassandra_schema import dictionary_tables, stream_table_cql
from stream_engine.store.embedded import EmbeddedStore
from stream_engine.store.records import STRING_DTYPE, fill_array

pytestmark = pytest.mark.cassandra

SAMPLE = "deployment0000_RS03AXBS-LJ03A-10-ADCPTE301-streamed-adcp_velocity_beam.nc"
STREAM = "adcp_velocity_beam"
SMALL = StreamKey("CE01ISSM", "MFD35", "04-ADCPTA000", "recovered_host", STREAM)  # hand-made rows


def _ooi_row(key: StreamKey, bin_seconds: int, columns: dict, values: dict, i: int) -> dict:
    """One record as OOI's ingest wrote it: bin from the time, a random id, arrays msgpack."""
    row = {"subsite": key.subsite, "node": key.node, "sensor": key.sensor, "method": key.method,
           "bin": int(values["time"][i] // bin_seconds) * bin_seconds, "id": uuid.uuid4(),
           "time": float(values["time"][i]), "deployment": int(values["deployment"][i]),
           "provenance": uuid.uuid4(), "quality_flag": "ok"}
    for name, info in columns.items():
        value = values[name][i]
        if info.shape:
            row[name] = msgpack.packb(value.tolist())
        elif info.dtype == STRING_DTYPE:
            row[name] = str(value)
        else:
            row[name] = value.item()
    return row


@pytest.fixture(scope="module")
def ooi_keyspace(cassandra_node, ooi_dir, tmp_path_factory):
    """(node, keyspace, embedded data folder, the sample's key, its records, its columns)."""
    curated = load_preload(REPO_ROOT / "preload_database")
    data = tmp_path_factory.mktemp("ooi_keyspace") / "data"
    with EmbeddedStore(data) as store:
        ingest_file(store, curated, ooi_dir / "samples" / SAMPLE)
        (coverage,) = store.streams()
        key = coverage.key
        records, columns = store.read(key), store.columns(key)
    keyspace = f"ooi_{uuid.uuid4().hex[:10]}"
    cluster = Cluster([cassandra_node.host], port=cassandra_node.port, protocol_version=5)
    session = cluster.connect()
    session.execute(f"CREATE KEYSPACE {keyspace} WITH replication = {{'class': 'SimpleStrategy', "
                    "'replication_factor': 1}", timeout=120)
    (spec,) = [s for s in dictionary_tables(curated) if s.name == STREAM]
    spec.columns.update(provenance="uuid", quality_flag="text")  # OOI's extra columns
    session.execute(stream_table_cql(keyspace, spec), timeout=120)
    bin_seconds = curated.stream(STREAM).bin_seconds
    data_columns = {n: i for n, i in columns.items() if n not in ("time", "deployment")}
    rows = [_ooi_row(key, bin_seconds, data_columns, records, i) for i in range(len(records["time"]))]
    rows.append({**rows[5], "id": uuid.uuid4()})  # one key stored twice (under two ids)
    # the hand-made key: a null scalar, a null array, a short (ragged) array, nested lists
    width = columns["velocity_beam1"].shape[0]
    small = [{**rows[i], "subsite": SMALL.subsite, "node": SMALL.node, "sensor": SMALL.sensor,
              "method": SMALL.method, "id": uuid.uuid4()} for i in range(3)]
    small[0]["heading"] = None
    small[1]["velocity_beam1"] = None
    small[2]["velocity_beam1"] = msgpack.packb([[1, 2], [3]])
    for row in rows + small:
        names = list(row)
        insert = f"INSERT INTO {keyspace}.{STREAM} ({', '.join(names)}) VALUES ({', '.join('%s' for _ in names)})"
        session.execute(insert, [row[n] for n in names])
    try:
        yield cassandra_node, keyspace, data, key, records, columns, width
    finally:
        session.execute(f"DROP KEYSPACE IF EXISTS {keyspace}", timeout=120)
        cluster.shutdown()


def _cli(ooi_keyspace, *args):
    node, keyspace, data, *_ = ooi_keyspace
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAM_ENGINE_")}
    env.update(node.settings_env(keyspace), STREAM_ENGINE_LOG_DIR=str(data.parent / "cli_logs"))
    return subprocess.run([*stream_engine_command(), "cassandra", *args], env=env, capture_output=True,
                          text=True, timeout=600)


@pytest.fixture(scope="module")
def reindexed(ooi_keyspace) -> str:
    """The keyspace made servable as an operator would: ``schema --apply``, then ``reindex``
    (its output)."""
    assert _cli(ooi_keyspace, "schema", "--check").returncode == 1  # no index: not servable yet
    done = _cli(ooi_keyspace, "schema", "--apply")
    assert done.returncode == 0, done.stderr
    done = _cli(ooi_keyspace, "reindex", "nosuchstream")
    assert done.returncode == 2 and "nosuchstream" in done.stderr
    done = _cli(ooi_keyspace, "reindex")
    assert done.returncode == 0, done.stderr
    assert _cli(ooi_keyspace, "schema", "--check").returncode == 0
    return done.stdout


def test_reindex_then_serve_the_ooi_rows_as_the_embedded_store_serves_the_file(ooi_keyspace, reindexed, tmp_path):
    node, keyspace, data, key, records, columns, width = ooi_keyspace
    n = len(records["time"])
    assert f"{STREAM}: 2 stream keys, {n + 3} records" in reindexed
    assert "provenance, quality_flag" in reindexed  # not dictionary parameters: reported, not served

    with node.store(keyspace) as store:
        assert [s.key for s in store.streams()] == sorted([key, SMALL])
        assert sum(p.count for p in store.partitions(key)) == n  # the key stored twice counts once
        got = store.read(key)
        assert set(got) == set(columns)
        for name, values in records.items():
            np.testing.assert_array_equal(got[name], values, err_msg=name)
        small = store.read(SMALL, ["heading", "velocity_beam1"])
        fill = fill_array(columns["velocity_beam1"], 1)[0]
        np.testing.assert_array_equal(small["heading"], [fill_array(columns["heading"], 1)[0],
                                                         *records["heading"][1:3]])
        assert small["velocity_beam1"].shape == (3, width)
        np.testing.assert_array_equal(small["velocity_beam1"][0], records["velocity_beam1"][0])
        np.testing.assert_array_equal(small["velocity_beam1"][1], fill)  # null: all fill
        assert small["velocity_beam1"][2, :3].tolist() == [1, 2, 3]  # nested lists flattened
        np.testing.assert_array_equal(small["velocity_beam1"][2, 3:], fill[3:])  # padded as OOI padded

    servers = [start_server(data, tmp_path / "logs_embedded"),
               start_server(data, tmp_path / "logs_ooi", extra_env=node.settings_env(keyspace))]
    try:
        for suffix in (".das", ".dods"):  # every raw and computed variable, byte for byte
            answers = [http(f"{s.url}/dap/{key.path}{suffix}") for s in servers]
            assert [a[0] for a in answers] == [200, 200], [a[2][:300] for a in answers]
            assert _timeless(answers[0][2]) == _timeless(answers[1][2]), suffix
        with netCDF4.Dataset(f"{servers[1].url}/dap/{key.path}") as dap:
            assert len(dap["time"]) == n
            beam = dap["velocity_beam1"]
            beam.set_auto_mask(False)
            np.testing.assert_array_equal(beam[:], records["velocity_beam1"])
    finally:
        for server in servers:
            server.stop()


def test_writes_to_an_ooi_table_keep_its_msgpack_arrays(ooi_keyspace, reindexed):
    node, keyspace, _, key, records, columns, width = ooi_keyspace
    with node.store(keyspace, rows="with-ingest") as store:
        more = {name: values[:2].copy() for name, values in records.items()}
        more["time"] = more["time"] + 0.25
        store.write(key, more, bin_seconds=store.stored(key)[0])
        got = store.read(key, ["velocity_beam1"])
        assert len(got["time"]) == len(records["time"]) + 2
        row = store.conn.session().execute(
            f"SELECT velocity_beam1 FROM {keyspace}.{STREAM} WHERE subsite=%s AND node=%s AND sensor=%s "
            "AND bin=%s AND method=%s AND time=%s",
            (key.subsite, key.node, key.sensor, next(p.bin for p in store.partitions(key)
                                                     if p.first <= more["time"][0] <= p.last),
             key.method, float(more["time"][0]))).one()
        assert msgpack.unpackb(row[0]) == records["velocity_beam1"][0].tolist()  # OOI's tools read it


def _timeless(body: bytes) -> bytes:
    """A DAP response without the lines stamped with the time it was computed."""
    lines = body.split(b"\n")
    return b"\n".join(line for line in lines if b"date_created" not in line and b"String history" not in line)
