"""Data-quality records in the Cassandra keyspace: one table per kind (annotations, QARTOD tests,
legacy QC parameters), ``quality_<kind>``.

Each table keeps its records in one partition (``part`` = 0), ordered by ``id``, with the next
free id in a static column. Adding records first reserves their ids with a lightweight
transaction on that column (so two nodes adding records at once never take the same id), then
writes the records in unlogged batches to that one partition: each batch is atomic and
isolated. A load too large for one batch (``BATCH_BYTES`` of JSON) is written in several;
should one fail, the ones before it stay stored, and loading the same records again (they have
their ids then) replaces them. Records are JSON text, as OOI's services returned them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from cassandra.query import BatchStatement, BatchType

from stream_engine.store.base import check_quality_kind, merge_quality_records
from stream_engine.store.cassandra_session import CassandraConnection

__all__ = ["BATCH_BYTES", "CassandraQualityTables", "quality_table"]

#: Most bytes of JSON records sent in one batch (Cassandra refuses batches over 50 KiB by default).
BATCH_BYTES = 40_000
_ATTEMPTS = 50


def quality_table(kind: str) -> str:
    """The table name of one kind of data-quality record."""
    check_quality_kind(kind)
    return f"quality_{kind}"


class CassandraQualityTables:
    """:meth:`~stream_engine.store.base.Store.add_quality_records` and ``quality_records`` on
    the ``quality_<kind>`` tables of one keyspace."""

    def __init__(self, conn: CassandraConnection, keyspace: str) -> None:
        self.conn = conn
        self.keyspace = keyspace

    def _reserve(self, table: str, old: int | None, new: int) -> bool:
        """Move the table's next free id from ``old`` to ``new`` if nobody moved it meanwhile."""
        applied, _ = self.conn.conditional(f"UPDATE {self.keyspace}.{table} SET next_id=? WHERE part=0 IF next_id=?",
                                           (new, old), doing=f"reserve ids in {table}")
        return applied

    def add(self, kind: str, records: Iterable[Mapping[str, Any]]) -> list[int]:
        """Add or replace records of ``kind`` by id; their ids (see the module docstring)."""
        table = quality_table(kind)
        records = list(records)
        for _ in range(_ATTEMPTS):
            rows = self.conn.execute(f"SELECT next_id FROM {self.keyspace}.{table} WHERE part=0 LIMIT 1",
                                     (), doing=f"read the next id of {table}")
            old = rows[0][0] if rows else None
            merged, ids = merge_quality_records({} if old is None else {int(old) - 1: {}}, records)
            if not ids:
                return []
            texts = {}
            for rid in dict.fromkeys(ids):
                try:
                    texts[rid] = json.dumps(merged[rid], allow_nan=False)
                except (TypeError, ValueError) as exc:
                    raise ValueError(f"data-quality record {rid} cannot be stored as JSON: {exc}") from exc
            new = max(int(old or 1), max(ids) + 1)
            if new == old or self._reserve(table, old, new):
                break
        else:
            raise RuntimeError(f"the ids of {table} kept changing; could not add the records")
        insert = f"INSERT INTO {self.keyspace}.{table} (part, id, record) VALUES (0, ?, ?)"
        with self.conn.errors(f"prepare the insert into {table}"):
            statement = self.conn.prepare(insert)
        self.conn.concurrent_statements(_batches(statement, list(texts.items()), self.conn.consistency),
                                        doing=f"store the records of {table}")
        return ids

    def records(self, kind: str) -> list[dict[str, Any]]:
        """Every record of ``kind``, by id."""
        table = quality_table(kind)
        rows = self.conn.execute(f"SELECT record FROM {self.keyspace}.{table} WHERE part=0", (),
                                 doing=f"read the records of {table}")
        return [dict(json.loads(r[0])) for r in rows if r[0] is not None]


def _batches(insert: Any, items: list[tuple[int, str]], consistency: int) -> list[BatchStatement]:
    """Unlogged batches of ``(id, JSON)`` rows of the one partition, each under :data:`BATCH_BYTES`."""
    out: list[BatchStatement] = []
    size = BATCH_BYTES
    for rid, text in items:
        if size + len(text) > BATCH_BYTES:
            out.append(BatchStatement(batch_type=BatchType.UNLOGGED, consistency_level=consistency))
            out[-1].is_idempotent = True  # the same rows again: safe to resend
            size = 0
        out[-1].add(insert, (rid, text))
        size += len(text)
    return out

