"""Where computed DAP product windows wait: a per-process cache, and a per-request spool.

* :class:`WindowCache`: computed windows (one product, one span of records) kept per worker
  process, least recently used first out, bounded in bytes (``DAP_CACHE_BYTES``). Its keys hold
  the dataset's version (:func:`stream_engine.engine.versions.response_version`: the change
  tokens of the stream, its input streams and their assets), which moves on with every commit
  those depend on, so a window computed before such a write is never served after it, and a
  write to an unrelated stream leaves it valid. A store without change tokens gets no
  cross-request cache.
* :class:`KeptWindows`: a request's way to that cache and to the folder of windows shared with
  the other workers (:mod:`dap_handlers.shared_windows`), whose files the cache then keeps as
  views instead of copies.
* :class:`PendingWindows`: windows of products that a response sends *later* (DAP2 sends
  variables whole, in declaration order) but that were computed together with an earlier one.
  They stay in memory up to a bound and go to an unlinked temporary file beyond it, so one
  computation of a window serves every projected product without holding a gigabyte response's
  later variables in memory. The file lives as long as the request.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Hashable, Mapping, Sequence
from typing import IO, Any

import numpy as np

from dap_handlers.shared_windows import SharedWindows, group_windows
from stream_engine.engine.cache import BoundedLRU


class WindowCache:
    """Arrays by key, bounded in bytes, least recently used evicted first; thread-safe.

    Parameters
    ----------
    max_bytes
        Bound on the bytes held; ``0`` keeps nothing.
    """

    def __init__(self, max_bytes: int) -> None:
        self._lru = BoundedLRU(max_bytes)
        self.hits = 0
        self.misses = 0

    @property
    def max_bytes(self) -> int:
        return self._lru.max_bytes

    @property
    def nbytes(self) -> int:
        return self._lru.nbytes

    def __len__(self) -> int:
        return len(self._lru)

    def resize(self, max_bytes: int) -> None:
        self._lru.max_bytes = max_bytes

    def get(self, key: Hashable) -> np.ndarray | None:
        """The (read-only) array under ``key``, or ``None``."""
        found = self._lru.get(key)
        if found is None:
            self.misses += 1
        else:
            self.hits += 1
        return found

    def put(self, key: Hashable, values: np.ndarray, *, in_place: bool = False) -> None:
        """Keep ``values`` (made read-only) under ``key``: not copied unless it is a view, or
        not at all with ``in_place`` (a read-only view of a file mapped in memory, e.g. a
        :class:`~dap_handlers.shared_windows.SharedWindows` hit, which holds no heap memory)."""
        if values.nbytes > self._lru.max_bytes:
            return
        if not values.flags.owndata and not in_place:
            values = values.copy()
        values.flags.writeable = False
        self._lru.put(key, values, values.nbytes)

    def clear(self) -> None:
        self._lru.clear()


_shared = WindowCache(0)


def shared_windows(max_bytes: int) -> WindowCache:
    """The process-wide window cache, bounded by ``max_bytes`` (the ``DAP_CACHE_BYTES`` setting)."""
    if _shared.max_bytes != max_bytes:
        _shared.resize(max_bytes)
    return _shared


class KeptWindows:
    """One request's way to the windows kept for the next requests: the worker's
    :class:`WindowCache` and, when there is one, the folder shared with the other workers
    (:class:`~dap_handlers.shared_windows.SharedWindows`), under the request's ``context`` (the
    dataset's version and what else its values depend on).

    Parameters
    ----------
    memory
        The worker's cache.
    disk
        The shared folder (``None``: none).
    context
        The first members of every key.
    block_records
        Records per aligned window.
    record_bytes
        Bytes of one record of each product by name (its files group about
        :data:`~dap_handlers.shared_windows.GROUP_BYTES` of windows); a name not there: 4.
    """

    def __init__(self, memory: WindowCache, disk: SharedWindows | None, context: tuple[Any, ...],
                 block_records: int, record_bytes: Mapping[str, int] | None = None) -> None:
        self.memory = memory
        self.disk = disk
        self.context = context
        self.block_records = block_records
        self.record_bytes = dict(record_bytes or {})

    def _key(self, name: str, span: tuple[int, int]) -> tuple[Any, ...]:
        return (*self.context, name, span)

    def _group(self, name: str, span: tuple[int, int]) -> tuple[Any, ...]:
        """The key of the folder's file holding ``span`` (its aligned group of windows)."""
        records = self.block_records * group_windows(self.block_records, self.record_bytes.get(name, 4))
        # the window size too: values computed in other windows are not shared
        return (*self.context, name, span[0] // records, records, self.block_records)

    def get(self, name: str, span: tuple[int, int]) -> np.ndarray | None:
        """The window of ``name`` over records ``span``, from this worker's cache or the folder."""
        key = self._key(name, span)
        values = self.memory.get(key)
        if values is None and self.disk is not None:
            values = self.disk.get(self._group(name, span), *span)  # another worker's
            if values is not None:
                self.memory.put(key, values, in_place=True)
        return values

    def keep(self, name: str, windows: Sequence[tuple[tuple[int, int], np.ndarray]]) -> None:
        """Windows of ``name`` (in record order) into this worker's cache and the folder: one
        file per run of consecutive windows of a group, and the worker then keeps views of that
        file instead of the arrays given (whose memory goes back for the next windows)."""
        runs: list[list[tuple[tuple[int, int], np.ndarray]]] = []
        for span, values in windows:
            last = runs[-1][-1][0] if runs else None
            if last is not None and last[1] == span[0] and self._group(name, last) == self._group(name, span):
                runs[-1].append((span, values))
            else:
                runs.append([(span, values)])
        for run in runs:
            written = None
            if self.disk is not None:
                written = self.disk.put(self._group(name, run[0][0]), run[0][0][0], [v for _, v in run])
            for span, values in run:
                if written is None:
                    self.memory.put(self._key(name, span), values)
                else:
                    first, mapped = written
                    self.memory.put(self._key(name, span), mapped[span[0] - first: span[1] - first],
                                    in_place=True)


class PendingWindows:
    """Windows one request computed ahead of the variable that sends them; each is taken once.

    Parameters
    ----------
    memory_bytes
        Bytes kept in memory; windows beyond it are written to an unlinked temporary file.
    spool_dir
        Folder of that file (``None``: the system's temporary folder).
    """

    def __init__(self, memory_bytes: int, spool_dir: str | None = None) -> None:
        self.memory_bytes = int(memory_bytes)
        self.spool_dir = spool_dir
        self._memory: dict[Hashable, np.ndarray] = {}
        self._spooled: dict[Hashable, tuple[int, tuple[int, ...], np.dtype]] = {}
        self._file: IO[bytes] | None = None
        self._end = 0
        self.nbytes = 0
        #: Bytes written to the spool file so far (for tests and logs).
        self.spooled_bytes = 0

    def __contains__(self, key: Hashable) -> bool:
        return key in self._memory or key in self._spooled

    def put(self, key: Hashable, values: np.ndarray) -> None:
        """Keep ``values`` until :meth:`take`; strings and object arrays always stay in memory."""
        if key in self:
            return
        if self.nbytes + values.nbytes <= self.memory_bytes or values.dtype.kind in "OUS":
            self._memory[key] = values
            self.nbytes += values.nbytes
            return
        if self._file is None:
            self._file = tempfile.TemporaryFile(prefix="dap-windows-", dir=self.spool_dir)
        data = np.ascontiguousarray(values)
        view = memoryview(data).cast("B")
        done = 0
        while done < len(view):
            done += os.pwrite(self._file.fileno(), view[done:], self._end + done)
        self._spooled[key] = (self._end, data.shape, data.dtype)
        self._end += data.nbytes
        self.spooled_bytes += data.nbytes

    def take(self, key: Hashable) -> np.ndarray | None:
        """The window under ``key``, forgotten here (``None`` if there is none)."""
        values = self._memory.pop(key, None)
        if values is not None:
            self.nbytes -= values.nbytes
            return values
        found = self._spooled.pop(key, None)
        if found is None or self._file is None:
            return None
        offset, shape, dtype = found
        out = np.empty(shape, dtype=dtype)
        view = memoryview(out).cast("B")
        done = 0
        while done < len(view):
            got = os.preadv(self._file.fileno(), [view[done:]], offset + done)
            if got <= 0:
                raise OSError(f"the DAP window spool file ended early at byte {offset + done}")
            done += got
        if not self._spooled:
            self._close_file()
        return out

    def close(self) -> None:
        """Drop everything and delete the spool file."""
        self._memory.clear()
        self._spooled.clear()
        self.nbytes = 0
        self._close_file()

    def _close_file(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
            self._end = 0
