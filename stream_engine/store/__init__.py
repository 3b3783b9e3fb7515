"""Storage backends behind one interface (:class:`stream_engine.store.base.Store`)."""

from __future__ import annotations

from stream_engine.store.base import (
    NEVER_WRITTEN,
    ChangeToken,
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
    "NEVER_WRITTEN",
    "ChangeToken",
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


def open_store(settings: object, *, create: bool = True) -> Store:
    """Open the backend named by ``settings.STORE`` (``embedded`` or ``cassandra``); ``create=False``
    refuses to create a store that does not exist (servers)."""
    from stream_engine.store.registry import open_store as _open

    return _open(settings, create=create)
