"""Connections to a Cassandra cluster: sessions, prepared statements, paged concurrent queries, errors.

:class:`CassandraConnection` connects lazily and once per process (a driver ``Cluster`` must not
cross ``fork``: gunicorn forks its workers after the app is loaded), keeps two sessions - one
returning rows as tuples, one decoding result pages into numpy columns
(:class:`~stream_engine.store.cassandra_columnar.ColumnarProtocolHandler`) - and turns every
driver failure into :class:`~stream_engine.errors.StoreUnavailable` (HTTP 503) naming the cluster.
A cluster that was unreachable is tried again on the next call, so a server recovers by itself
once the cluster is back; the driver reconnects to nodes that went down and came back.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from cassandra import (
    ConsistencyLevel,
    DriverException,
    OperationTimedOut,
    ReadTimeout,
    RequestExecutionException,
    RequestValidationException,
    Unavailable,
    WriteTimeout,
)
from cassandra.cluster import (
    EXEC_PROFILE_DEFAULT,
    Cluster,
    ExecutionProfile,
    NoHostAvailable,
    Session,
)
from cassandra.concurrent import execute_concurrent
from cassandra.connection import ConnectionBusy
from cassandra.policies import ExponentialReconnectionPolicy, RoundRobinPolicy
from cassandra.query import (
    BatchStatement,
    BoundStatement,
    PreparedStatement,
    SimpleStatement,
    Statement,
    tuple_factory,
)

from stream_engine.errors import ConfigError, StoreError, StoreUnavailable
from stream_engine.store.cassandra_columnar import ColumnarProtocolHandler

__all__ = ["CassandraConnection", "contact_points"]

# Failures after which an idempotent statement may simply be sent again.
_TRANSIENT = (WriteTimeout, ReadTimeout, OperationTimedOut, Unavailable)
_R = TypeVar("_R")


def contact_points(hosts: Sequence[str], port: int) -> list[tuple[str, int]]:
    """``host`` or ``host:port`` strings as ``(host, port)`` pairs (``port`` where none is named)."""
    points = []
    for text in hosts:
        host, sep, rest = text.strip().rpartition(":")
        if sep and rest.isdigit() and host and not host.endswith(":"):
            points.append((host.strip("[]"), int(rest)))
        else:
            points.append((text.strip(), port))
    return points


def consistency_level(name: str) -> int:
    """A ``ConsistencyLevel`` by name (``ONE``, ``LOCAL_QUORUM``, ...), or :class:`ConfigError`."""
    value = getattr(ConsistencyLevel, str(name).upper(), None)
    if not isinstance(value, int):
        known = ", ".join(sorted(ConsistencyLevel.name_to_value))
        raise ConfigError(f"setting CASSANDRA_CONSISTENCY = {name!r} is not a consistency level; use one of: {known}")
    return value


class CassandraConnection:
    """One process's connection to the cluster (see the module docstring).

    Parameters
    ----------
    hosts, port
        Contact points (``host`` or ``host:port``) and the default native-protocol port.
    keyspace
        The keyspace every query names (statements are fully qualified; no ``USE``).
    consistency
        Consistency level name for every read and write.
    protocol_version
        Native protocol version, or ``None`` to negotiate.
    connect_timeout, query_timeout
        Seconds to wait for a connection, and for one query (each page).
    concurrency
        Queries in flight at once for per-bin reads and per-partition write batches.
    fetch_size
        Rows per result page.
    """

    RETRIES = 3

    def __init__(
        self,
        hosts: Sequence[str],
        port: int = 9042,
        *,
        keyspace: str,
        consistency: str = "LOCAL_QUORUM",
        protocol_version: int | None = None,
        connect_timeout: float = 10.0,
        query_timeout: float = 60.0,
        concurrency: int = 16,
        fetch_size: int = 5000,
    ) -> None:
        self.points = contact_points(hosts, port)
        self.keyspace = keyspace
        self.consistency = consistency_level(consistency)
        self.protocol_version = protocol_version
        self.connect_timeout = float(connect_timeout)
        self.query_timeout = float(query_timeout)
        self.concurrency = int(concurrency)
        self.fetch_size = int(fetch_size)
        self._lock = threading.Lock()
        self._pid = -1
        self._cluster: Cluster | None = None
        self._rows: Session | None = None
        self._columns: Session | None = None
        self._prepared: dict[tuple[str, bool], PreparedStatement] = {}

    def describe(self) -> str:
        """``host:port, ...`` of the contact points, for messages."""
        return ", ".join(f"{h}:{p}" for h, p in self.points)

    # -- sessions ----------------------------------------------------------------------------------

    def _connect(self) -> tuple[Session, Session]:
        with self._lock:
            if self._pid == os.getpid() and self._rows is not None and self._columns is not None:
                return self._rows, self._columns
            if self._pid != os.getpid():
                self._cluster, self._rows, self._columns, self._prepared = None, None, None, {}
            profile = ExecutionProfile(
                load_balancing_policy=RoundRobinPolicy(),
                consistency_level=self.consistency,
                request_timeout=self.query_timeout,
                row_factory=tuple_factory,
            )
            options: dict[str, Any] = {}
            if self.protocol_version is not None:
                options["protocol_version"] = self.protocol_version
            cluster = Cluster(
                [h for h, _ in self.points],
                port=self.points[0][1],
                execution_profiles={EXEC_PROFILE_DEFAULT: profile},
                connect_timeout=self.connect_timeout,
                control_connection_timeout=self.connect_timeout,
                reconnection_policy=ExponentialReconnectionPolicy(0.5, 10.0),
                **options,
            )
            try:
                rows = cluster.connect()
                columns = cluster.connect()
            except BaseException:
                cluster.shutdown()
                raise
            columns.client_protocol_handler = ColumnarProtocolHandler
            self._cluster, self._rows, self._columns, self._pid = cluster, rows, columns, os.getpid()
            return rows, columns

    @property
    def cluster(self) -> Cluster:
        """The driver ``Cluster`` (connecting first if needed)."""
        self._connect()
        assert self._cluster is not None
        return self._cluster

    def session(self, *, columnar: bool = False) -> Session:
        """The session returning tuples, or (``columnar``) dicts of numpy columns per page."""
        rows, columns = self._connect()
        return columns if columnar else rows

    def prepare(self, cql: str, *, columnar: bool = False) -> PreparedStatement:
        """A prepared statement, prepared once per process and session."""
        key = (cql, columnar)
        statement = self._prepared.get(key)
        if statement is None:
            statement = self.session(columnar=columnar).prepare(cql)
            statement.fetch_size = self.fetch_size
            statement.is_idempotent = True  # every statement of this store: the driver may retry elsewhere
            self._prepared[key] = statement
        return statement

    def forget_prepared(self) -> None:
        """Drop prepared statements (after a schema change alters a table's columns)."""
        self._prepared.clear()

    def close(self) -> None:
        """Shut the cluster connection down (in this process only)."""
        with self._lock:
            if self._cluster is not None and self._pid == os.getpid():
                self._cluster.shutdown()
            self._cluster, self._rows, self._columns, self._prepared = None, None, None, {}

    # -- running queries ---------------------------------------------------------------------------

    @contextmanager
    def errors(self, doing: str) -> Iterator[None]:
        """Turn driver failures while ``doing`` into :class:`StoreUnavailable` naming the cluster;
        a statement the cluster refused (invalid, too large, not authorized) into
        :class:`StoreError`, since retrying it cannot help."""
        try:
            yield
        except RequestValidationException as exc:
            raise StoreError(
                f"the Cassandra cluster at {self.describe()} (keyspace {self.keyspace!r}) refused to "
                f"{doing}: {type(exc).__name__}: {_short(exc)}. Sending it again will not help."
            ) from exc
        except (NoHostAvailable, RequestExecutionException, DriverException, OSError) as exc:
            raise StoreUnavailable(
                f"the Cassandra cluster at {self.describe()} (keyspace {self.keyspace!r}) could not "
                f"{doing}: {type(exc).__name__}: {_short(exc)}. Retry when the cluster is reachable."
            ) from exc

    def execute(self, cql: str | Statement, params: Sequence[Any] = (), *, doing: str) -> list[Any]:
        """Run one idempotent statement and return all its rows (tuples); a timeout or too few
        replicas is retried (up to ``RETRIES`` times) before the failure is raised."""
        with self.errors(doing):
            if isinstance(cql, str):
                statement = self.prepare(cql) if params else SimpleStatement(cql, is_idempotent=True)
            else:
                statement = cql
            return self._retried(lambda: list(self.session().execute(statement, params or None)))

    def _retried(self, run: Callable[[], _R]) -> _R:
        """``run()``, run again after a timeout or too few replicas (up to ``RETRIES`` times, waiting
        longer each time) before that failure is raised."""
        for attempt in range(self.RETRIES + 1):
            try:
                return run()
            except _TRANSIENT:
                if attempt == self.RETRIES:
                    raise
                time.sleep(0.5 * 2**attempt)
        raise AssertionError("not reached")

    def conditional(self, cql: str, params: Sequence[Any], *, doing: str) -> tuple[bool, tuple[Any, ...]]:
        """Run one lightweight transaction (``... IF ...``) once: never resent, since after a
        timeout its outcome is unknown (the caller reads the state again). Whether it applied,
        and the values of the row it found (those the condition names; empty when applied).
        Lightweight transactions need a quorum of the replicas (``SERIAL``)."""
        with self.errors(doing):
            bound = BoundStatement(self.prepare(cql))
            bound.bind(params)
            bound.is_idempotent = False
            row = self.session().execute(bound).one()
        return bool(row[0]), tuple(row[1:])

    def conditional_batch(self, batch: BatchStatement, *, doing: str) -> tuple[bool, list[dict[str, Any]]]:
        """Run a conditional batch (its statements' ``IF`` conditions all on one partition), which
        applies whole or not at all; whether it applied, and else the rows its conditions found
        (each a dict by column name: the row's key and the columns the conditions name; a row
        that does not exist is not among them). A timeout or too few replicas is retried (up to
        ``RETRIES`` times), so a batch that applied before its answer was lost comes back as not
        applied, finding the values it wrote: the caller recognises its own values."""
        with self.errors(doing):
            batch.is_idempotent = True  # sent again after a timeout: the caller checks what it finds
            found = self._retried(lambda: self.session().execute(batch))
            names = list(found.column_names or [])
            rows = [dict(zip(names, row, strict=True)) for row in found]
        applied = bool(rows and rows[0].get("[applied]"))
        return applied, [] if applied else rows

    def concurrent(self, statement: Statement, params: Sequence[Sequence[Any]], *, doing: str,
                   concurrency: int | None = None) -> None:
        """Run an idempotent ``statement`` once per parameter tuple, ``concurrency`` (default: the
        connection's) at a time."""
        self._idempotent([(statement, p) for p in params], doing, concurrency)

    def concurrent_statements(self, statements: Sequence[Statement], *, doing: str) -> None:
        """Run ready idempotent statements (batches), ``concurrency`` at a time."""
        self._idempotent([(s, None) for s in statements], doing)

    def _idempotent(self, work: list[tuple[Statement, Any]], doing: str, concurrency: int | None = None) -> None:
        """Run statements whose repetition changes nothing; the ones that time out, find too few
        replicas or meet a full socket are sent again (up to ``RETRIES`` rounds) before the failure
        is raised."""
        with self.errors(doing):
            for attempt in range(self.RETRIES + 1):
                results = execute_concurrent(self.session(), work, concurrency=concurrency or self.concurrency,
                                             raise_on_first_error=False)
                failed = [(item, r.result_or_exc) for item, r in zip(work, results, strict=True) if not r.success]
                if not failed:
                    return
                retry = all(_transient(exc) for _, exc in failed)
                if not retry or attempt == self.RETRIES:
                    raise failed[0][1]
                work = [item for item, _ in failed]
                time.sleep(0.5 * 2**attempt)

    def column_pages(self, statement: PreparedStatement, params: Sequence[Sequence[Any]], *, doing: str) -> list[list[dict[str, Any]]]:
        """Run a columnar ``statement`` once per parameter tuple, concurrently, every page fetched.

        Returns, per parameter tuple in order, its pages (dicts of column -> numpy array or list).
        """
        with self.errors(doing):
            session = self.session(columnar=True)
            results: list[list[dict[str, Any]]] = [[] for _ in params]
            for start in range(0, len(params), self.concurrency):
                batch = range(start, min(start + self.concurrency, len(params)))
                futures = {i: session.execute_async(statement, params[i]) for i in batch}
                for i, future in futures.items():
                    for attempt in range(self.RETRIES + 1):
                        try:
                            results[i] = _all_pages(future.result())
                            break
                        except _TRANSIENT:
                            if attempt == self.RETRIES:
                                raise
                            time.sleep(0.5 * 2**attempt)
                            future = session.execute_async(statement, params[i])
            return results


def _transient(exc: BaseException) -> bool:
    """Whether sending the statement again may succeed: a timeout, too few replicas, or only
    connections whose socket buffer was full (the node reading slower than we send)."""
    if isinstance(exc, _TRANSIENT):
        return True
    errors = getattr(exc, "errors", None)
    if not isinstance(exc, NoHostAvailable) or not isinstance(errors, dict) or not errors:
        return False
    return all(isinstance(e, ConnectionBusy) for e in errors.values())


def _all_pages(result: Any) -> list[dict[str, Any]]:
    pages = []
    while True:
        pages.extend(result.current_rows)
        if not result.has_more_pages:
            return pages
        result.fetch_next_page()


def _short(exc: BaseException, limit: int = 300) -> str:
    text = str(exc) or repr(exc)
    return text if len(text) <= limit else text[: limit - 3] + "..."
