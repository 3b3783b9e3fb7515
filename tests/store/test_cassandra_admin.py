"""The keyspace check before serving: ``stream-engine serve`` and ``manage-streamng start`` refuse
a keyspace that differs from the dictionary, naming the difference, and start once it matches."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest
from live_server import free_port, http, stream_engine_command

from stream_engine.config import REPO_ROOT
from stream_engine.preload import load_preload
from stream_engine.store.cassandra_admin import apply_schema
from stream_engine.store.cassandra_schema import dictionary_tables

pytestmark = pytest.mark.cassandra
MANAGE = REPO_ROOT / "manage-streamng"


@pytest.fixture
def keyspace_env(cassandra_node, tmp_path: Path):
    """A new keyspace and the environment of a server on it with private files: (env, store)."""
    store = cassandra_node.store()
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAM_ENGINE_")}
    env.update(cassandra_node.settings_env(store.keyspace), STREAM_ENGINE_BIND=f"127.0.0.1:{free_port()}",
               STREAM_ENGINE_PID_FILE=str(tmp_path / "run" / "se.pid"), STREAM_ENGINE_LOG_DIR=str(tmp_path / "logs"),
               STREAM_ENGINE_DATA_DIR=str(tmp_path / "data"), STREAM_ENGINE_WORKERS="1", STREAM_ENGINE_THREADS="2")
    yield env, store
    pid_file = tmp_path / "run" / "se.pid"
    if pid_file.exists():  # a failed test must not leave its server behind
        os.kill(int(pid_file.read_text().strip()), signal.SIGTERM)
    cassandra_node.drop(store)


def test_serve_and_start_refuse_a_keyspace_unlike_the_dictionary(keyspace_env) -> None:
    env, store = keyspace_env
    curated = load_preload(REPO_ROOT / "preload_database")
    apply_schema(store, curated)
    table = dictionary_tables(curated)[0]
    column, kind = next(iter(table.columns.items()))
    store.conn.session().execute(f'ALTER TABLE {store.keyspace}.{table.name} DROP "{column}"', timeout=120)
    missing = f"stream table {store.keyspace}.{table.name} lacks column {column} ({kind})"
    serve = subprocess.run([*stream_engine_command(), "serve"], env=env, capture_output=True, text=True, timeout=300)
    assert serve.returncode == 2 and "does not match the preload dictionary" in serve.stderr, serve.stderr
    assert missing in serve.stderr and "cassandra schema --apply" in serve.stderr

    start = subprocess.run([str(MANAGE), "start"], env=env, capture_output=True, text=True, timeout=300)
    assert start.returncode == 2, start.stdout + start.stderr
    assert missing in start.stderr and "not starting" in start.stderr
    assert not Path(env["STREAM_ENGINE_PID_FILE"]).exists()
    assert not _listening(env)

    store.conn.session().execute(f'ALTER TABLE {store.keyspace}.{table.name} ADD "{column}" {kind}', timeout=120)
    start = subprocess.run([str(MANAGE), "start"], env=env, capture_output=True, text=True, timeout=300)
    assert start.returncode == 0, start.stdout + start.stderr
    assert http(f"http://{env['STREAM_ENGINE_BIND']}/version")[0] == 200
    stop = subprocess.run([str(MANAGE), "stop"], env=env, capture_output=True, text=True, timeout=120)
    assert stop.returncode == 0, stop.stderr


def _listening(env: dict[str, str]) -> bool:
    import socket

    host, port = env["STREAM_ENGINE_BIND"].split(":")
    with socket.socket() as probe:
        return probe.connect_ex((host, int(port))) == 0
