"""The embedded store's export-job records: a small SQLite file ``jobs.sqlite`` beside the data.

Job records live in their own file so that their frequent small updates (progress) never move
the data file's change token, which every cache of computed values is keyed by. Each call opens
its own connection (jobs are touched a few times a second at most), so the table is safe across
threads and ``fork`` without bookkeeping; every change is one ``BEGIN IMMEDIATE`` transaction.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from stream_engine.errors import StoreUnavailable

FILENAME = "jobs.sqlite"
_SCHEMA = """CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY, state TEXT NOT NULL, created REAL NOT NULL, record TEXT NOT NULL)"""


class JobTable:
    """Job records (JSON objects with at least ``state`` and ``created``) keyed by job id."""

    def __init__(self, folder: Path, busy_timeout: float = 60.0) -> None:
        self.path = Path(folder) / FILENAME
        self.busy_timeout = busy_timeout

    @contextmanager
    def _transaction(self, write: bool) -> Iterator[sqlite3.Connection]:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise StoreUnavailable(f"cannot open the job table {self.path}: {exc}") from exc
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute(_SCHEMA)
            conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield conn
            except BaseException:
                conn.rollback()
                raise
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"the job table {self.path} failed: {exc}") from exc
        finally:
            conn.close()

    @staticmethod
    def _write(conn: sqlite3.Connection, job_id: str, record: Mapping[str, Any]) -> None:
        conn.execute("INSERT OR REPLACE INTO jobs (id, state, created, record) VALUES (?, ?, ?, ?)",
                     (job_id, str(record["state"]), float(record["created"]), json.dumps(dict(record))))

    def put(self, job_id: str, record: Mapping[str, Any]) -> None:
        with self._transaction(write=True) as conn:
            self._write(conn, job_id, record)

    def get(self, job_id: str) -> dict[str, Any] | None:
        with self._transaction(write=False) as conn:
            row = conn.execute("SELECT record FROM jobs WHERE id=?", (job_id,)).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def update(self, job_id: str, changes: Mapping[str, Any]) -> dict[str, Any] | None:
        with self._transaction(write=True) as conn:
            row = conn.execute("SELECT record FROM jobs WHERE id=?", (job_id,)).fetchone()
            if row is None:
                return None
            record = {**json.loads(row[0]), **changes}
            self._write(conn, job_id, record)
        return record

    def all(self) -> list[dict[str, Any]]:
        with self._transaction(write=False) as conn:
            rows = conn.execute("SELECT record FROM jobs ORDER BY created, id").fetchall()
        return [dict(json.loads(r[0])) for r in rows]

    def delete(self, job_id: str) -> bool:
        with self._transaction(write=True) as conn:
            return conn.execute("DELETE FROM jobs WHERE id=?", (job_id,)).rowcount > 0

    def claim(self, limit: int, changes: Mapping[str, Any]) -> dict[str, Any] | None:
        with self._transaction(write=True) as conn:
            running = conn.execute("SELECT count(*) FROM jobs WHERE state='running'").fetchone()[0]
            if running >= limit:
                return None
            row = conn.execute("SELECT id, record FROM jobs WHERE state='queued' "
                               "ORDER BY created, id LIMIT 1").fetchone()
            if row is None:
                return None
            record = {**json.loads(row[1]), **changes, "state": "running"}
            self._write(conn, row[0], record)
        return record
