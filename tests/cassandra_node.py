"""A real Apache Cassandra node on loopback for the tests marked ``@pytest.mark.cassandra``.

One node per test session, started with ``tools/cassandra/start.sh`` (jars from Maven Central on
first use, cached) in a folder of its own with free ports, and stopped by its pid file at the end.
``TEST_STREAM_ENGINE_CASSANDRA_HOSTS=host:port`` uses a running cluster instead.

When Cassandra cannot run: with ``STREAM_ENGINE_TEST_CASSANDRA`` or ``TEST_STREAM_ENGINE_CASSANDRA``
set (CI sets both) the tests fail;
without it they skip with the reason (no Java 11/17, no mvn on first use, the start failed).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cassandra_postmortem import keep_node_logs, node_running, postmortem

from stream_engine.preload import Preload
from stream_engine.store.cassandra import CassandraStore
from stream_engine.store.cassandra_session import CassandraConnection

REPO_ROOT = Path(__file__).resolve().parent.parent
TOOLS = REPO_ROOT / "tools" / "cassandra"
#: Either name makes a missing Cassandra an error: ``STREAM_ENGINE_TEST_CASSANDRA`` (the name the
#: backend's specification uses; the settings loader leaves it alone) or ``TEST_STREAM_ENGINE_CASSANDRA``.
REQUIRED = any(os.environ.get(name) for name in ("STREAM_ENGINE_TEST_CASSANDRA", "TEST_STREAM_ENGINE_CASSANDRA"))
#: The session node's JVM heap (``-Xms``/``-Xmx``); ``TEST_STREAM_ENGINE_CASSANDRA_HEAP`` overrides it.
#: Measured live set (after full GCs) in the heaviest tests: about 220 MiB with each module's
#: keyspaces dropped after it (:func:`drop_keyspaces_after_module`). Without the drops it was about
#: 290 MiB: at 384M G1 ran back-to-back full collections (87 in two minutes), at 320M the node
#: died of OutOfMemoryError in the very test that failed twice in CI at 384M.
SESSION_HEAP = os.environ.get("TEST_STREAM_ENGINE_CASSANDRA_HEAP") or "512M"


def unavailable(reason: str) -> None:
    """Fail (CI) or skip (elsewhere) a test that needs Cassandra, saying why."""
    if REQUIRED:
        pytest.fail(f"TEST_STREAM_ENGINE_CASSANDRA is set but Cassandra cannot run: {reason}", pytrace=False)
    pytest.skip(f"no Apache Cassandra for this test: {reason} (set TEST_STREAM_ENGINE_CASSANDRA to make this an error)")


@dataclass
class CassandraNode:
    """A node this session started (``folder`` set) or was given (``folder`` None)."""

    host: str
    port: int
    folder: Path | None = None
    storage_port: int = 7000
    #: Keyspaces :meth:`store` named that nothing has dropped or promised to drop yet.
    made: set[str] = field(default_factory=set)

    @property
    def hosts(self) -> list[str]:
        return [f"{self.host}:{self.port}"]

    def store(self, keyspace: str | None = None, *, rows: str = "background", **options: object) -> CassandraStore:
        """A store on a keyspace of its own (a fresh random name unless given), writing OOI rows
        as ``rows`` says (``CASSANDRA_ROWS``)."""
        name = keyspace or f"test_{uuid.uuid4().hex[:12]}"
        self.made.add(name)
        options.setdefault("protocol_version", 5)
        conn = CassandraConnection(self.hosts, self.port, keyspace=name, consistency="ONE", **options)  # type: ignore[arg-type]
        return CassandraStore(conn, rows=rows)

    def drop(self, store: CassandraStore) -> None:
        """Drop ``store``'s keyspace and close it (the end of a test's keyspace)."""
        store.conn.session().execute(f"DROP KEYSPACE IF EXISTS {store.keyspace}", timeout=120)
        store.close()
        self.made.discard(store.keyspace)

    @contextmanager
    def laid_out(self, preload: Preload) -> Iterator[CassandraStore]:
        """A store on a fresh keyspace with the dictionary's tables, dropped at the end."""
        from stream_engine.store.cassandra_admin import apply_schema

        store = self.store()
        self.made.discard(store.keyspace)  # dropped below, maybe by a session fixture: not per module
        try:
            apply_schema(store, preload)
            yield store
        finally:
            self.drop(store)

    def drop_made(self) -> None:
        """Drop every keyspace :meth:`store` named (``IF EXISTS``: a test may have dropped it).

        Each table costs a Cassandra node about 0.36 MiB of heap (its metrics) until dropped: the
        test keyspaces of a whole session kept (some 400 tables) took a third of the test node's
        heap and left too little for the heaviest tests (see :func:`drop_keyspaces_after_module`).
        """
        if not self.made:
            return
        conn = CassandraConnection(self.hosts, self.port, keyspace="system", consistency="ONE", protocol_version=5)
        try:
            for name in sorted(self.made):
                conn.session().execute(f"DROP KEYSPACE IF EXISTS {name}", timeout=120)
                self.made.discard(name)
        finally:
            conn.close()

    def settings_env(self, keyspace: str) -> dict[str, str]:
        """Environment that points ``stream-engine`` at this node and keyspace."""
        return {
            "STREAM_ENGINE_STORE": "cassandra",
            "STREAM_ENGINE_CASSANDRA_HOSTS": ",".join(self.hosts),
            "STREAM_ENGINE_CASSANDRA_PORT": str(self.port),
            "STREAM_ENGINE_CASSANDRA_KEYSPACE": keyspace,
            "STREAM_ENGINE_CASSANDRA_CONSISTENCY": "ONE",
        }

    def stop(self) -> None:
        """Stop the node by its pid file (only a node this session started)."""
        if self.folder is not None:
            subprocess.run([str(TOOLS / "stop.sh")], env={**os.environ, "CASS_DIR": str(self.folder)},
                           capture_output=True, timeout=120, check=False)


def start_node(folder: Path, *, addr: str = "127.0.0.1", port: int = 0, storage_port: int | None = None,
               seeds: str | None = None, heap: str = SESSION_HEAP) -> CassandraNode:
    """Start a node in ``folder`` with tools/cassandra/start.sh; :func:`unavailable` if it cannot."""
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        unavailable("Java 11 or 17 is not installed (apt-get install openjdk-17-jre-headless)")
    from live_server import free_port

    storage = storage_port or free_port()
    env = {**os.environ, "CASS_DIR": str(folder), "CASS_ADDR": addr, "CASS_PORT": str(port),
           "CASS_STORAGE_PORT": str(storage), "CASS_JMX_PORT": "", "CASS_HEAP": heap}
    if seeds:
        env["CASS_SEEDS"] = seeds
    try:
        done = subprocess.run([str(TOOLS / "start.sh")], env=env, capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired:
        unavailable(f"tools/cassandra/start.sh did not finish in 600 s (node folder {folder})")
    if done.returncode != 0:
        unavailable(f"tools/cassandra/start.sh failed: {done.stderr.strip()[-600:]}")
    return CassandraNode(addr, int(done.stdout.split()[-1]), folder, storage)


@pytest.fixture(scope="session")
def cassandra_node(request: pytest.FixtureRequest) -> object:
    """The session's Cassandra node (started on first use, stopped at the end).

    Its folder is deleted at the end; its logs are kept first when it died or a test failed
    (:mod:`cassandra_postmortem`, which also stops the Cassandra tests at once after a death).
    """
    given = os.environ.get("TEST_STREAM_ENGINE_CASSANDRA_HOSTS")
    if given:
        host, _, port = given.split(",")[0].rpartition(":")
        yield CassandraNode(host, int(port))
        return
    folder = Path(tempfile.mkdtemp(prefix="stream-engine-cassandra-"))
    node = start_node(folder / "node1")
    postmortem(request.config).folder = node.folder
    request.config.stash[SESSION_NODE] = node
    try:
        yield node
    finally:
        died = not node_running(folder / "node1")
        node.stop()
        keep_node_logs(request.config, folder / "node1", died=died, failed=request.session.testsfailed > 0)
        shutil.rmtree(folder, ignore_errors=True)


SESSION_NODE = pytest.StashKey[CassandraNode]()


@pytest.fixture(scope="module", autouse=True)
def drop_keyspaces_after_module(request: pytest.FixtureRequest) -> Iterator[None]:
    """After each test module, drop the keyspaces its tests made on the session's own node.

    A module's keyspaces are then never more than its own: kept for the whole session (the
    modules reuse named ones such as ``suite``, emptied at their start), their tables' heap grew
    with every module, and the node died of it in a heavy test near the end of ``tests/store``.
    A node given by ``TEST_STREAM_ENGINE_CASSANDRA_HOSTS`` is left alone; so is a dead node.
    """
    yield
    node = request.config.stash.get(SESSION_NODE, None)
    if node is None or node.folder is None or not node.made or not node_running(node.folder):
        return
    try:
        node.drop_made()
    except Exception as exc:  # the driver's errors share no base; the next module's drop tries again
        warnings.warn(f"could not drop the test keyspaces {sorted(node.made)}: {exc!r}", stacklevel=1)
