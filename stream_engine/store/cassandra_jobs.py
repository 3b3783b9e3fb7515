"""Export-job records in the Cassandra keyspace (table ``async_jobs``), shared by every server node.

Each record is one row: ``id``, ``state`` and the whole record as JSON text in ``body``. Every
change is a lightweight transaction (Paxos) conditioned on the body last read, so concurrent
changes from several nodes never lose one another: :meth:`CassandraJobTable.update` merges into
the current record, and :meth:`CassandraJobTable.claim` turns a queued job into a running one
only if nobody changed it meanwhile, so two nodes never claim the same job. The limit on running
jobs is checked against the records read just before the claim: two nodes claiming at the same
instant can each start one job past it (never the same one). Job rows live apart from stream
data and never move the keyspace's change token. Lightweight transactions need a quorum of the
replicas (``SERIAL``): with replication 2 and one node down, jobs wait until it is back.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from stream_engine.store.cassandra_session import CassandraConnection

__all__ = ["CassandraJobTable"]

_ATTEMPTS = 50  # changes retried after losing a race, before giving up


class CassandraJobTable:
    """Job records (JSON objects with at least ``id``, ``state`` and ``created``) keyed by job id."""

    def __init__(self, conn: CassandraConnection, keyspace: str) -> None:
        self.conn = conn
        self.table = f"{keyspace}.async_jobs"

    def _conditional(self, cql: str, params: tuple[Any, ...], doing: str) -> tuple[bool, tuple[Any, ...]]:
        """Run one lightweight transaction once (never resent: its outcome would be ambiguous);
        whether it applied, and the row it found (when it did not)."""
        return self.conn.conditional(cql, params, doing=doing)

    @staticmethod
    def _text(record: Mapping[str, Any]) -> str:
        try:
            return json.dumps(dict(record), allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"job record {record.get('id')!r} cannot be stored as JSON: {exc}") from exc

    def _swap(self, job_id: str, old: str, record: Mapping[str, Any]) -> tuple[bool, str | None]:
        """Replace the body ``old`` by ``record`` if it is still ``old``; (applied, the body found)."""
        applied, found = self._conditional(
            f"UPDATE {self.table} SET body=?, state=?, updated=toTimestamp(now()) WHERE id=? IF body=?",
            (self._text(record), str(record["state"]), job_id, old), f"update export job {job_id}")
        return applied, (found[0] if found else None)

    def put(self, job_id: str, record: Mapping[str, Any]) -> None:
        """Create or replace the record of ``job_id``."""
        text = self._text(record)
        for _ in range(_ATTEMPTS):
            applied, _ = self._conditional(
                f"INSERT INTO {self.table} (id, state, body, updated) VALUES (?, ?, ?, toTimestamp(now())) "
                "IF NOT EXISTS", (job_id, str(record["state"]), text), f"store export job {job_id}")
            if applied:
                return
            body = self._body(job_id)
            if body is not None and self._swap(job_id, body, record)[0]:
                return
        raise RuntimeError(f"export job {job_id} kept changing; could not store it")

    def _body(self, job_id: str) -> str | None:
        rows = self.conn.execute(f"SELECT body FROM {self.table} WHERE id=?", (job_id,),
                                 doing=f"read export job {job_id}")
        return rows[0][0] if rows else None

    def get(self, job_id: str) -> dict[str, Any] | None:
        """The record of ``job_id``, ``None`` if there is none."""
        body = self._body(job_id)
        return None if body is None else dict(json.loads(body))

    def update(self, job_id: str, changes: Mapping[str, Any]) -> dict[str, Any] | None:
        """Merge ``changes`` into the record; the new record, ``None`` if there is no record."""
        body = self._body(job_id)
        for _ in range(_ATTEMPTS):
            if body is None:
                return None
            record = {**json.loads(body), **changes}
            applied, body = self._swap(job_id, body, record)
            if applied:
                return record
        raise RuntimeError(f"export job {job_id} kept changing; could not update it")

    def all(self) -> list[dict[str, Any]]:
        """Every record, oldest first (by ``created``, then id)."""
        rows = self.conn.execute(f"SELECT body FROM {self.table}", doing="list the export jobs")
        records = [dict(json.loads(r[0])) for r in rows if r[0] is not None]
        return sorted(records, key=lambda r: (float(r["created"]), str(r["id"])))

    def delete(self, job_id: str) -> bool:
        """Remove the record; whether it existed."""
        return self._conditional(f"DELETE FROM {self.table} WHERE id=? IF EXISTS", (job_id,),
                                 f"remove export job {job_id}")[0]

    def claim(self, limit: int, changes: Mapping[str, Any]) -> dict[str, Any] | None:
        """If fewer than ``limit`` jobs run: the oldest queued one, made running with ``changes``."""
        for _ in range(_ATTEMPTS):
            rows = self.conn.execute(f"SELECT body FROM {self.table}", doing="list the export jobs")
            bodies = [r[0] for r in rows if r[0] is not None]
            records = [json.loads(b) for b in bodies]
            if sum(r["state"] == "running" for r in records) >= limit:
                return None
            queued = sorted((float(r["created"]), str(r["id"]), b)
                            for r, b in zip(records, bodies, strict=True) if r["state"] == "queued")
            if not queued:
                return None
            _, job_id, body = queued[0]
            record = {**json.loads(body), **changes, "state": "running"}
            if self._swap(job_id, body, record)[0]:
                return record
        raise RuntimeError("the export jobs kept changing; could not claim one")

