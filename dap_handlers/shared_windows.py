"""Computed DAP product windows shared by every worker process, in a folder of the data folder.

Windows computed by one worker (one product over aligned spans of records, keyed like the
worker's own :class:`~dap_handlers.product_windows.WindowCache`: the dataset's version built
from the change tokens of the stream, its input streams and their assets, the dictionary and
the settings) are written here too, so the same records asked of *another* worker are read back
instead of computed again. An ingest into one stream changes only the versions that depend on
it, so other streams' windows stay valid; files under an old version are never asked for again
and age out.

* **One file per group** of aligned windows holding about ``GROUP_BYTES`` (:func:`group_windows`;
  :meth:`SharedWindows.put` takes a run of consecutive windows at once): creating a file costs
  far more than writing its bytes, so a cold 10M-record float32 request writes ~10 files, not
  ~150. A file holds one contiguous run of
  records of its group (the whole group when a request covered it); any span inside that run is
  a hit, whatever windows the request that wrote it was cut into. A later run next to or over
  the kept one is merged with it (the file is replaced by the union), a disjoint one replaces it
  only when longer.
* **Read in place**: a file is memory-mapped (read-only) and a hit is a view of that mapping, so
  the worker's own cache can keep windows without a copy in its heap (the pages are the file's,
  which the system shares with every process reading it and may drop when memory is short).
  Files are only ever created whole and renamed into place, never written again, so a mapping
  stays valid: a file another process removes or replaces keeps its old (identical) contents for
  the mappings still open on it.
* **Crash-safe**: a file is written to a temporary file in the folder and renamed into place
  (atomic on POSIX), so a reader sees a whole file or none; a file that cannot be read as what it
  should be (wrong magic, header, length) is removed and computed again. Temporary files left by
  a crashed writer are removed by the next clean-up.
* **Bounded**: once the files' total passes ``max_bytes`` (setting ``DAP_SHARED_CACHE_BYTES``),
  the least recently used (oldest modification time; a hit refreshes it) are removed down to
  90% of the bound. Every process cleans up after writing; several may do so at once.
* Only numeric windows are shared (strings stay per process). The format is this module's own:
  a header (magic, length, JSON with dtype, first record, rows, row shape) padded to 64 bytes,
  then the values in native order.
"""

from __future__ import annotations

import hashlib
import json
import mmap
import os
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Hashable, Sequence
from pathlib import Path

import numpy as np

#: Sub-folder of the data folder holding the shared windows.
FOLDER = "dap-windows"
#: Bytes of values per file (the default DAP block, so a response's block is one file): 8
#: windows of the default 131,072 float32 records, 4 of float64 ones.
GROUP_BYTES = 4 * 1024 * 1024
#: Temporary files older than this (seconds) belong to a writer that died.
STALE_TEMPORARY = 600.0
#: A clean-up scans the folder at most this often (seconds), or when a tenth of the bound was written.
SCAN_INTERVAL = 5.0
#: Files a process keeps mapped for its next hits (a response reads its windows in order).
OPEN_FILES = 8

_MAGIC = b"SEDAPWN1"
_SUFFIX = ".win"
_ALIGN = 64


def group_windows(block_records: int, record_bytes: int) -> int:
    """Aligned windows of ``block_records`` records of ``record_bytes`` each in one file (at
    least one)."""
    return max(1, GROUP_BYTES // max(1, block_records * record_bytes))


class _Run:
    """A file's records ``[first, first + len(values))``, mapped read-only."""

    __slots__ = ("first", "values")

    def __init__(self, first: int, values: np.ndarray) -> None:
        self.first = first
        self.values = values

    @property
    def stop(self) -> int:
        return self.first + len(self.values)

    def holds(self, first: int, stop: int) -> bool:
        return self.first <= first and stop <= self.stop

    def part(self, first: int, stop: int) -> np.ndarray:
        return self.values[first - self.first: stop - self.first]


class SharedWindows:
    """Runs of windows by group key in ``folder``, bounded by ``max_bytes`` across all
    processes using it.

    Parameters
    ----------
    folder
        Where the files live (created when missing).
    max_bytes
        Bound on the files' total size.
    """

    def __init__(self, folder: Path, max_bytes: int) -> None:
        self.folder = Path(folder)
        self.max_bytes = int(max_bytes)
        self.hits = 0
        self.misses = 0
        #: Files created so far by this process (for tests and logs).
        self.files_written = 0
        self._lock = threading.Lock()
        self._open: OrderedDict[Path, _Run] = OrderedDict()
        self._written_since_scan = 0
        self._last_scan = 0.0

    def _path(self, key: Hashable) -> Path:
        digest = hashlib.sha256(repr(key).encode()).hexdigest()
        return self.folder / f"{digest}{_SUFFIX}"

    def get(self, key: Hashable, first: int, stop: int) -> np.ndarray | None:
        """Records ``[first, stop)`` of the group ``key`` (a read-only view of the file) if its
        file holds them all, else ``None``."""
        path = self._path(key)
        with self._lock:
            run = self._open.get(path)
            if run is not None:
                self._open.move_to_end(path)
        if run is None or not run.holds(first, stop):
            run = self._map(path)
            if run is not None:
                self._remember(path, run)
                try:
                    os.utime(path)  # recently used: evicted last
                except OSError:
                    pass
        if run is None or not run.holds(first, stop):
            self.misses += 1
            return None
        self.hits += 1
        return run.part(first, stop)

    def put(self, key: Hashable, first: int, parts: Sequence[np.ndarray]) -> tuple[int, np.ndarray] | None:
        """Write the consecutive windows ``parts`` (records from ``first`` on) of the group ``key``,
        merged with what its file holds when the runs touch; numeric values only.

        Returns
        -------
        tuple or None
            The first record and the read-only mapped values of the run the file holds now
            (``None`` when nothing was written: not numeric, over the bound, already there,
            or the write failed; a cache ignores its failures).
        """
        if not parts or any(p.dtype.kind not in "biuf" for p in parts):
            return None
        dtype, row_shape = parts[0].dtype, parts[0].shape[1:]
        if any(p.dtype != dtype or p.shape[1:] != row_shape for p in parts):
            return None
        stop = first + sum(len(p) for p in parts)
        path = self._path(key)
        kept = self._map(path)
        if kept is not None and kept.values.dtype == dtype and kept.values.shape[1:] == row_shape:
            if kept.holds(first, stop):
                self._remember(path, kept)
                return kept.first, kept.values
            if kept.first <= stop and first <= kept.stop:  # touching or overlapping: the union
                before = [kept.part(kept.first, first)] if kept.first < first else []
                after = [kept.part(stop, kept.stop)] if stop < kept.stop else []
                parts, first, stop = [*before, *parts, *after], min(first, kept.first), max(stop, kept.stop)
            elif len(kept.values) >= stop - first:
                self._remember(path, kept)
                return None
        nbytes = sum(p.nbytes for p in parts)
        if nbytes > self.max_bytes:
            return None
        run = self._write(path, first, dtype, row_shape, parts)
        if run is None:
            return None
        self._remember(path, run)
        self._after_write(nbytes)
        return run.first, run.values

    def _write(self, path: Path, first: int, dtype: np.dtype, row_shape: tuple[int, ...],
               parts: Sequence[np.ndarray]) -> _Run | None:
        """A new file at ``path`` holding ``parts`` from record ``first``, mapped; ``None`` on failure."""
        rows = sum(len(p) for p in parts)
        header = _header(dtype, first, rows, row_shape)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd, temporary = tempfile.mkstemp(prefix=".tmp-", suffix=_SUFFIX, dir=self.folder)
        except OSError:
            return None
        try:
            _write_all(fd, [header, *(np.ascontiguousarray(p) for p in parts)])
            os.replace(temporary, path)
            self.files_written += 1
            return _Run(first, _mapped(fd, len(header), dtype, rows, row_shape))
        except (OSError, ValueError):
            _remove(Path(temporary))
            return None
        finally:
            os.close(fd)

    def _map(self, path: Path) -> _Run | None:
        """The run in the file at ``path``, mapped; ``None`` when there is none (a damaged file is
        removed)."""
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            return None
        try:
            try:
                found = _read_header(fd)
                whole = found is not None and os.fstat(fd).st_size == (
                    found[0] + found[3] * found[1].itemsize * int(np.prod(found[4])))
            except (OSError, ValueError, KeyError, TypeError):  # not this module's header
                found, whole = None, False
            if found is None or not whole:
                _remove(path)  # damaged: computed again
                return None
            length, dtype, first, rows, row_shape = found
            return _Run(first, _mapped(fd, length, dtype, rows, row_shape))
        except (OSError, ValueError):  # not mapped (e.g. out of address space): a miss, the file stays
            return None
        finally:
            os.close(fd)

    def _remember(self, path: Path, run: _Run) -> None:
        with self._lock:
            self._open[path] = run
            self._open.move_to_end(path)
            while len(self._open) > OPEN_FILES:
                self._open.popitem(last=False)

    def _after_write(self, nbytes: int) -> None:
        with self._lock:
            self._written_since_scan += nbytes
            due = (self._written_since_scan * 10 > self.max_bytes
                   or time.monotonic() - self._last_scan > SCAN_INTERVAL)
            if due:
                self._written_since_scan = 0
                self._last_scan = time.monotonic()
        if due:
            self.clean_up()

    def clean_up(self) -> None:
        """Remove dead writers' temporary files, then the least recently used files while the
        total passes the bound (down to 90% of it)."""
        now = time.time()
        files: list[tuple[float, int, Path]] = []
        try:
            entries = list(os.scandir(self.folder))
        except OSError:
            return
        for entry in entries:
            try:
                found = entry.stat()
            except OSError:
                continue
            if entry.name.startswith(".tmp-"):
                if now - found.st_mtime > STALE_TEMPORARY:
                    _remove(Path(entry.path))
                continue
            files.append((found.st_mtime, found.st_size, Path(entry.path)))
        total = sum(size for _, size, _ in files)
        if total <= self.max_bytes:
            return
        for _, size, path in sorted(files):
            if total <= self.max_bytes * 0.9:
                break
            _remove(path)
            total -= size

    def nbytes(self) -> int:
        """Bytes the files hold now."""
        try:
            return sum(e.stat().st_size for e in os.scandir(self.folder) if not e.name.startswith(".tmp-"))
        except OSError:
            return 0


def _header(dtype: np.dtype, first: int, rows: int, row_shape: tuple[int, ...]) -> bytes:
    text = json.dumps({"dtype": dtype.str, "first": first, "rows": rows, "row_shape": list(row_shape)}).encode()
    length = -(-(len(_MAGIC) + 8 + len(text)) // _ALIGN) * _ALIGN
    return _MAGIC + length.to_bytes(8, "little") + text.ljust(length - len(_MAGIC) - 8)


def _read_header(fd: int) -> tuple[int, np.dtype, int, int, tuple[int, ...]] | None:
    """(header length, dtype, first record, rows, row shape) of a file, ``None`` if it has none."""
    start = os.pread(fd, 16, 0)
    if len(start) < 16 or start[:8] != _MAGIC:
        return None
    length = int.from_bytes(start[8:], "little")
    if length % _ALIGN or not 16 < length <= 4096:
        return None
    fields = json.loads(os.pread(fd, length - 16, 16))
    dtype = np.dtype(fields["dtype"])
    if dtype.kind not in "biuf":
        return None
    return length, dtype, int(fields["first"]), int(fields["rows"]), tuple(int(n) for n in fields["row_shape"])


def _mapped(fd: int, offset: int, dtype: np.dtype, rows: int, row_shape: tuple[int, ...]) -> np.ndarray:
    """The values after the header, a read-only view of the file mapped in memory."""
    count = rows * int(np.prod(row_shape))
    if count == 0:
        return np.empty((0, *row_shape), dtype=dtype)
    mapping = mmap.mmap(fd, 0, access=mmap.ACCESS_READ)
    return np.frombuffer(mapping, dtype=dtype, count=count, offset=offset).reshape(rows, *row_shape)


def _write_all(fd: int, buffers: Sequence[bytes | np.ndarray]) -> None:
    """Write every buffer, in order, whatever the system writes per call."""
    for buffer in buffers:
        view = memoryview(buffer).cast("B")
        done = 0
        while done < len(view):
            done += os.write(fd, view[done:])


def _remove(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass


_shared: dict[tuple[str, int], SharedWindows] = {}
_shared_lock = threading.Lock()


def shared_windows_in(data_dir: Path, max_bytes: int) -> SharedWindows | None:
    """The process's :class:`SharedWindows` for a data folder (``None`` when ``max_bytes`` is 0)."""
    if max_bytes <= 0:
        return None
    folder = Path(data_dir) / FOLDER
    with _shared_lock:
        found = _shared.get((str(folder), int(max_bytes)))
        if found is None:
            found = _shared[(str(folder), int(max_bytes))] = SharedWindows(folder, max_bytes)
        return found


__all__ = ["FOLDER", "GROUP_BYTES", "SharedWindows", "group_windows", "shared_windows_in"]
