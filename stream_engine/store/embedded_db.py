"""The embedded store's SQLite file: connections, snapshots, transactions and the change token.

:class:`Database` opens connections lazily, one per thread and per process (a connection
inherited across ``fork`` is never used nor closed in the child), creates the schema on first
use (``embedded_schema.py``), and runs each read in one snapshot and each write in one ``BEGIN IMMEDIATE`` transaction,
mapping SQLite errors to :class:`~stream_engine.errors.StoreUnavailable` (busy, locked, I/O) and
:class:`~stream_engine.errors.StoreError` (damaged file, failed commit). What the tables hold is
described in ``embedded.py``; how chunks are encoded in ``embedded_chunks.py``.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from stream_engine.errors import StoreError, StoreUnavailable
from stream_engine.store.embedded_schema import SCHEMA, SCHEMA_VERSION, upgrade

__all__ = ["SCHEMA_VERSION", "Database"]

# Connections a forked child inherited. Never closed nor garbage-collected in the child: closing
# an inherited SQLite handle releases the child's own POSIX locks on the file (see SQLite's
# "How To Corrupt An SQLite Database File", section 2.6).
_INHERITED: list[sqlite3.Connection] = []
#: Idle snapshot connections kept per database, so a response does not open a new one.
_IDLE_SNAPSHOT_CONNECTIONS = 8


def _file_identity(path: Path) -> tuple[int, int] | None:
    try:
        found = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        raise StoreUnavailable(f"cannot reach the embedded store {path}: {exc}") from exc
    return found.st_dev, found.st_ino


class Database:
    """Connections to one SQLite file in WAL mode, with the embedded store's schema.

    Parameters
    ----------
    path
        The database file (it and its folder are created on first use).
    busy_timeout
        Seconds a connection waits for another process's write lock before giving up.
    synchronous
        SQLite ``synchronous`` level: ``"FULL"`` or ``"NORMAL"``.
    mmap_bytes
        SQLite ``mmap_size``: bytes of the file each connection may memory-map.
    create
        Create the file (and its folder) if it does not exist. ``False`` (a server) makes a
        missing file :class:`StoreUnavailable` instead, so a store deleted or moved under a
        running server is reported, never silently replaced by an empty one.

    Raises
    ------
    ValueError
        If ``synchronous`` or ``mmap_bytes`` is not one of the accepted values.

    Safe to share between threads (one connection per thread) and across ``fork`` (connections
    are opened lazily, per process).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        busy_timeout: float = 60.0,
        synchronous: str = "FULL",
        mmap_bytes: int = 0,
        create: bool = True,
    ) -> None:
        if synchronous not in ("FULL", "NORMAL"):
            raise ValueError(f"synchronous must be 'FULL' or 'NORMAL', got {synchronous!r}")
        if isinstance(mmap_bytes, bool) or not isinstance(mmap_bytes, int) or mmap_bytes < 0:
            raise ValueError(f"mmap_bytes must be a non-negative integer, got {mmap_bytes!r}")
        self.path = Path(path)
        self._busy_ms = int(busy_timeout * 1000)
        self._synchronous = synchronous
        self._mmap_bytes = mmap_bytes
        self._watch: tuple[int, sqlite3.Connection, int] | None = None
        self._generation = 0
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: list[tuple[int, sqlite3.Connection]] = []
        self._create = create
        self._identity: tuple[int, int] | None = None
        self._idle: list[tuple[int, sqlite3.Connection]] = []

    @property
    def mmap_bytes(self) -> int:
        """The ``mmap_size`` every connection is opened with."""
        return self._mmap_bytes

    def connection(self) -> sqlite3.Connection:
        """This thread's connection in this process, opened on first use (autocommit mode).

        Raises
        ------
        StoreUnavailable
            If the file or its folder cannot be opened or created.
        StoreError
            If the file has a newer store format than this code understands.
        """
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            if self._local.pid == os.getpid():
                return conn
            _INHERITED.append(conn)
        conn = self._connect()
        self._local.conn, self._local.pid = conn, os.getpid()
        with self._lock:
            self._connections.append((os.getpid(), conn))
        return conn

    def _connect(self) -> sqlite3.Connection:
        # Opening a new database file takes locks (journal mode, schema) that SQLite's busy
        # handler does not always wait for; retry those until the busy timeout instead.
        deadline = time.monotonic() + self._busy_ms / 1000
        while True:
            try:
                return self._open_connection()
            except StoreUnavailable as exc:
                locked = isinstance(exc.__cause__, sqlite3.OperationalError) and "locked" in str(exc.__cause__)
                if not locked or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)

    def _open_connection(self) -> sqlite3.Connection:
        conn = None
        if not self._create and _file_identity(self.path) is None:
            raise StoreUnavailable(
                f"the embedded store {self.path} does not exist (was it deleted or moved?); "
                "restore it, or create it with `stream-engine ingest` or `stream-engine demo`, "
                "then restart the server"
            )
        try:
            if self._create:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            target = self.path if self._create else f"{self.path.resolve().as_uri()}?mode=rw"
            conn = sqlite3.connect(
                target, timeout=self._busy_ms / 1000, isolation_level=None, check_same_thread=False,
                uri=not self._create,
            )
            conn.execute(f"PRAGMA busy_timeout = {self._busy_ms}")
            conn.execute("PRAGMA page_size = 65536")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute(f"PRAGMA synchronous = {self._synchronous}")
            conn.execute(f"PRAGMA mmap_size = {self._mmap_bytes}")
            conn.execute("PRAGMA journal_size_limit = 67108864")
            if conn.execute("PRAGMA user_version").fetchone()[0] == 0:
                # Idempotent (IF NOT EXISTS): another connection may be creating it at the same time.
                conn.executescript(
                    f"BEGIN IMMEDIATE; {SCHEMA} PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"
                )
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version < SCHEMA_VERSION:
                version = upgrade(conn)
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"{self.path} has store format {version}, newer than this Stream Engine "
                    f"understands ({SCHEMA_VERSION}); upgrade Stream Engine"
                )
        except sqlite3.DatabaseError as exc:
            if conn is not None:
                conn.close()
            raise StoreUnavailable(f"cannot open the embedded store {self.path}: {exc}") from exc
        except OSError as exc:
            raise StoreUnavailable(f"cannot create the embedded store folder {self.path.parent}: {exc}") from exc
        if self._identity is None:  # the file this store serves: the first one opened
            self._identity = _file_identity(self.path)
        return conn

    def check_file(self) -> None:
        """Raise :class:`StoreUnavailable` if the file is gone or another file took its place.

        SQLite keeps reading a deleted file through open connections; a server must say so
        instead of serving a store nobody can see (one ``stat``, a few microseconds).
        """
        if self._create and self._identity is None:
            return  # nothing opened yet: the first connection creates the file
        identity = _file_identity(self.path)
        if identity is None or (self._identity is not None and identity != self._identity):
            if self._identity is None:
                raise StoreUnavailable(
                    f"the embedded store {self.path} does not exist; create it with "
                    "`stream-engine ingest` or `stream-engine demo` (or restore it)"
                )
            what = "does not exist any more" if identity is None else "was replaced by another file"
            raise StoreUnavailable(
                f"the embedded store {self.path} {what} since this process opened it; restore "
                "it and restart the server"
            )

    @contextmanager
    def read_snapshot(self) -> Iterator[sqlite3.Connection]:
        """A connection of its own inside one read transaction, for as long as the block lasts.

        The transaction starts with a read, so its snapshot is fixed before the caller reads
        anything. Connections are reused (per process, up to a few idle ones).

        Raises
        ------
        StoreUnavailable
            The file is missing, replaced, or cannot be read.
        """
        self.check_file()
        pid = os.getpid()
        with self._lock:
            conn = next((c for p, c in reversed(self._idle) if p == pid), None)
            if conn is not None:
                self._idle.remove((pid, conn))
        if conn is None:
            conn = self._connect()
            with self._lock:
                self._connections.append((pid, conn))
        try:
            conn.execute("BEGIN")
            conn.execute("SELECT count(*) FROM streams").fetchone()
        except sqlite3.DatabaseError as exc:
            self._discard(conn)
            raise StoreUnavailable(f"cannot read the embedded store {self.path}: {exc}") from exc
        try:
            yield conn
        finally:
            try:
                conn.rollback()
            except sqlite3.Error:
                self._discard(conn)
            else:
                with self._lock:
                    if len(self._idle) < _IDLE_SNAPSHOT_CONNECTIONS and os.getpid() == pid:
                        self._idle.append((pid, conn))
                        conn = None
                if conn is not None:
                    self._discard(conn)

    def _discard(self, conn: sqlite3.Connection) -> None:
        with self._lock:
            self._connections = [(p, c) for p, c in self._connections if c is not conn]
        conn.close()

    def change_token(self) -> tuple[int, int]:
        """A value that changes whenever anything was committed to the file since the last call.

        Any commit by any connection, in this process or another, moves it on. One
        ``PRAGMA data_version`` on a connection kept for this purpose (a few microseconds).

        Raises
        ------
        StoreUnavailable
            If the file cannot be opened or read.
        """
        if not self._create:
            self.check_file()
        with self._lock:
            pid = os.getpid()
            if self._watch is None or self._watch[0] != pid:
                if self._watch is not None:
                    _INHERITED.append(self._watch[1])
                conn = self._connect()
                self._watch = (pid, conn, -1)
                self._generation += 1
            pid, conn, seen = self._watch
            try:
                version = conn.execute("PRAGMA data_version").fetchone()[0]
            except sqlite3.DatabaseError as exc:
                raise StoreUnavailable(f"cannot read the embedded store {self.path}: {exc}") from exc
            if version != seen:
                self._generation += 1
                self._watch = (pid, conn, version)
            return pid, self._generation

    @contextmanager
    def transaction(self, write: bool = False) -> Iterator[sqlite3.Connection]:
        """One read snapshot (``write=False``) or one atomic write; rolled back on any error.

        Raises
        ------
        StoreUnavailable
            If the file is busy (no write lock within the busy timeout) or SQLite fails
            operationally inside the block.
        StoreError
            If the file is damaged or the commit fails.
        """
        if not self._create:
            self.check_file()
        conn = self.connection()
        try:
            conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        except sqlite3.OperationalError as exc:
            raise StoreUnavailable(f"the embedded store {self.path} is busy: {exc}") from exc
        try:
            yield conn
        except sqlite3.OperationalError as exc:
            self._abandon(conn, write)
            raise StoreUnavailable(f"the embedded store {self.path} failed: {exc}") from exc
        except sqlite3.DatabaseError as exc:
            self._abandon(conn, write)
            raise StoreError(f"the embedded store {self.path} is damaged: {exc}; restore it from a backup") from exc
        except BaseException:
            self._abandon(conn, write)
            raise
        try:
            conn.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            self._abandon(conn, write)
            raise StoreError(f"commit to the embedded store {self.path} failed: {exc}") from exc

    def _abandon(self, conn: sqlite3.Connection, write: bool) -> None:
        """Roll back; after a failed write, give back the disk its WAL frames took."""
        try:
            conn.rollback()
        except sqlite3.Error:
            return
        if write:
            self.release_wal(conn)

    def release_wal(self, conn: sqlite3.Connection | None = None, *, attempts: int = 20) -> bool:
        """Checkpoint and truncate the WAL file to zero bytes; returns whether it was done.

        A rolled-back write leaves its pages in the WAL, and a server's open connections keep
        the file (and its size) alive until the next write resets it: a failed ingest on a full
        disk would keep the disk full. Readers holding a snapshot delay the truncation; this
        retries for about a second, then leaves it to the next write.
        """
        conn = conn or self.connection()
        try:
            conn.execute("PRAGMA busy_timeout = 50")
            for _ in range(attempts):
                busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
                if not busy:
                    return True
                time.sleep(0.05)
            return False
        except sqlite3.Error:
            return False
        finally:
            try:
                conn.execute(f"PRAGMA busy_timeout = {self._busy_ms}")
            except sqlite3.Error:
                pass

    def close(self) -> None:
        """Close this process's connections; later calls open new ones.

        Connections inherited from a parent process are set aside in ``_INHERITED``, not closed.
        """
        with self._lock:
            mine = [c for pid, c in self._connections if pid == os.getpid()]
            _INHERITED.extend(c for pid, c in self._connections if pid != os.getpid())
            self._connections = []
            self._idle = []
            watch, self._watch = self._watch, None
        if watch is not None:
            (mine if watch[0] == os.getpid() else _INHERITED).append(watch[1])
        for conn in mine:
            conn.close()
        self._local = threading.local()
