"""Cross-cutting behaviour around any store (logging, timing, caching, fault injection).

Subclass :class:`WrapperStore` and override only what the concern needs; every other call goes
to the wrapped store unchanged.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Hashable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from stream_engine.store.base import (
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

if TYPE_CHECKING:
    from pathlib import Path

    import numpy as np


class WrapperStore(Store):
    """A store that delegates every call to ``inner``."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.backend = inner.backend

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.inner!r})"

    def streams(self) -> list[StreamCoverage]:
        # docstring inherited
        return self.inner.streams()

    def partitions(self, key: StreamKey) -> list[Partition]:
        # docstring inherited
        return self.inner.partitions(key)

    def columns(self, key: StreamKey) -> dict[str, ColumnInfo]:
        # docstring inherited
        return self.inner.columns(key)

    def coverage(self, key: StreamKey) -> StreamCoverage | None:
        # docstring inherited
        return self.inner.coverage(key)

    def read(
        self,
        key: StreamKey,
        columns: Sequence[str] | None = None,
        *,
        time_range: TimeRange | None = None,
        index_range: IndexRange | None = None,
    ) -> dict[str, np.ndarray]:
        # docstring inherited
        return self.inner.read(key, columns, time_range=time_range, index_range=index_range)

    def change_token(self) -> Hashable | None:
        # docstring inherited
        return self.inner.change_token()

    def local_folder(self) -> Path | None:
        # docstring inherited
        return self.inner.local_folder()

    def stream_token(self, key: StreamKey) -> ChangeToken | None:
        # docstring inherited
        return self.inner.stream_token(key)

    def asset_token(self, refdes: str) -> ChangeToken | None:
        # docstring inherited
        return self.inner.asset_token(refdes)

    @contextmanager
    def snapshot(self) -> Iterator[Store]:
        """The inner store's snapshot, wrapped by a copy of this wrapper (same concern)."""
        with self.inner.snapshot() as view:
            wrapped = copy.copy(self)
            wrapped.inner = view
            yield wrapped

    def write(
        self, key: StreamKey, records: Mapping[str, np.ndarray], *, bin_seconds: int
    ) -> WriteResult:
        # docstring inherited
        return self.inner.write(key, records, bin_seconds=bin_seconds)

    def put_asset_events(self, refdes: str, events: Iterable[Mapping[str, Any]]) -> int:
        # docstring inherited
        return self.inner.put_asset_events(refdes, events)

    def asset_events(self, refdes: str) -> list[dict[str, Any]]:
        # docstring inherited
        return self.inner.asset_events(refdes)

    def asset_refdeses(self) -> list[str]:
        # docstring inherited
        return self.inner.asset_refdeses()

    def add_quality_records(self, kind: str, records: Iterable[Mapping[str, Any]]) -> list[int]:
        # docstring inherited
        return self.inner.add_quality_records(kind, records)

    def quality_records(self, kind: str) -> list[dict[str, Any]]:
        # docstring inherited
        return self.inner.quality_records(kind)

    def put_job(self, job_id: str, record: Mapping[str, Any]) -> None:
        self.inner.put_job(job_id, record)

    def job(self, job_id: str) -> dict[str, Any] | None:
        return self.inner.job(job_id)

    def update_job(self, job_id: str, changes: Mapping[str, Any]) -> dict[str, Any] | None:
        return self.inner.update_job(job_id, changes)

    def jobs(self) -> list[dict[str, Any]]:
        return self.inner.jobs()

    def delete_job(self, job_id: str) -> bool:
        return self.inner.delete_job(job_id)

    def claim_job(self, limit: int, changes: Mapping[str, Any]) -> dict[str, Any] | None:
        return self.inner.claim_job(limit, changes)

    def close(self) -> None:
        # docstring inherited
        self.inner.close()


class LoggingStore(WrapperStore):
    """Logs every read and write with its size and wall time (``stream_engine.store`` logger, DEBUG)."""

    def __init__(self, inner: Store, logger: logging.Logger | None = None) -> None:
        super().__init__(inner)
        self.log = logger or logging.getLogger("stream_engine.store")

    def read(
        self,
        key: StreamKey,
        columns: Sequence[str] | None = None,
        *,
        time_range: TimeRange | None = None,
        index_range: IndexRange | None = None,
    ) -> dict[str, np.ndarray]:
        # docstring inherited
        start = time.perf_counter()
        out = super().read(key, columns, time_range=time_range, index_range=index_range)
        self.log.debug(
            "read %s columns=%s time_range=%s index_range=%s: %d records in %.1f ms", key,
            columns, time_range, index_range, len(out["time"]), (time.perf_counter() - start) * 1e3,
        )
        return out

    def write(
        self, key: StreamKey, records: Mapping[str, np.ndarray], *, bin_seconds: int
    ) -> WriteResult:
        # docstring inherited
        start = time.perf_counter()
        result = super().write(key, records, bin_seconds=bin_seconds)
        self.log.debug(
            "write %s: %d inserted, %d replaced, %d bins in %.1f ms", key, result.inserted,
            result.replaced, len(result.partitions), (time.perf_counter() - start) * 1e3,
        )
        return result
