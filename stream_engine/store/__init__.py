"""Storage backends behind one interface (:class:`stream_engine.store.base.Store`)."""

from __future__ import annotations

from stream_engine.store.base import (
    ColumnInfo,
    IndexRange,
    Partition,
    Store,
    StreamCoverage,
    StreamKey,
    TimeRange,
    WriteResult,
)

__all__ = [
    "ColumnInfo",
    "IndexRange",
    "Partition",
    "Store",
    "StreamCoverage",
    "StreamKey",
    "TimeRange",
    "WriteResult",
    "open_store",
]


def open_store(settings: object) -> Store:
    """Open the backend named by ``settings.STORE`` (``embedded`` or ``cassandra``)."""
    from stream_engine.store.registry import open_store as _open

    return _open(settings)
