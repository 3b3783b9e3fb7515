"""Computed DAP product windows shared by every worker process, in a folder of the data folder.

A window computed by one worker (one product over one aligned span of records, keyed like the
worker's own :class:`~dap_handlers.product_windows.WindowCache`: the dataset's version built
from the change tokens of the stream, its input streams and their assets, the dictionary and
the settings) is written here too, so the same window asked of *another* worker is read back
instead of computed again. An ingest into one stream changes only the versions that depend on
it, so other streams' windows stay valid; windows under an old version are never asked for again
and age out.

* **Crash-safe**: a window is written to a temporary file in the folder and renamed into place
  (atomic on POSIX), so a reader sees a whole file or none; a file that cannot be read as the
  window it should be (wrong length, damaged) is removed and computed again. Temporary files left
  by a crashed writer are removed by the next clean-up.
* **Bounded**: once the files' total passes ``max_bytes`` (setting ``DAP_SHARED_CACHE_BYTES``),
  the least recently used (oldest modification time; a hit refreshes it) are removed down to
  90% of the bound. Every process cleans up after writing; several may do so at once.
* Only numeric windows are shared (strings stay per process). Files are NumPy ``.npy`` read
  without pickles.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
import time
from collections.abc import Hashable
from pathlib import Path

import numpy as np

#: Sub-folder of the data folder holding the shared windows.
FOLDER = "dap-windows"
#: Temporary files older than this (seconds) belong to a writer that died.
STALE_TEMPORARY = 600.0
#: A clean-up scans the folder at most this often (seconds), or when a tenth of the bound was written.
SCAN_INTERVAL = 5.0


class SharedWindows:
    """Windows by key in ``folder``, bounded by ``max_bytes`` across all processes using it.

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
        self._lock = threading.Lock()
        self._written_since_scan = 0
        self._last_scan = 0.0

    def _path(self, key: Hashable) -> Path:
        digest = hashlib.sha256(repr(key).encode()).hexdigest()
        return self.folder / f"{digest}.npy"

    def get(self, key: Hashable, length: int) -> np.ndarray | None:
        """The window under ``key`` if a whole one of ``length`` records is there, else ``None``."""
        path = self._path(key)
        try:
            values = np.load(path, allow_pickle=False)
        except FileNotFoundError:
            self.misses += 1
            return None
        except (OSError, ValueError, EOFError):
            _remove(path)  # damaged: compute it again
            self.misses += 1
            return None
        if values.ndim == 0 or values.shape[0] != length:
            _remove(path)
            self.misses += 1
            return None
        try:
            os.utime(path)  # recently used: evicted last
        except OSError:
            pass
        self.hits += 1
        values.flags.writeable = False
        return values

    def put(self, key: Hashable, values: np.ndarray) -> None:
        """Write ``values`` under ``key`` (numeric arrays only; failures are ignored: a cache)."""
        if values.dtype.kind not in "biuf" or values.nbytes > self.max_bytes:
            return
        path = self._path(key)
        if path.exists():
            return
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd, temporary = tempfile.mkstemp(prefix=".tmp-", suffix=".npy", dir=self.folder)
            try:
                with os.fdopen(fd, "wb") as fh:
                    np.save(fh, np.ascontiguousarray(values), allow_pickle=False)
                os.replace(temporary, path)
            except BaseException:
                _remove(Path(temporary))
                raise
        except OSError:
            return
        with self._lock:
            self._written_since_scan += values.nbytes
            due = (self._written_since_scan * 10 > self.max_bytes
                   or time.monotonic() - self._last_scan > SCAN_INTERVAL)
            if due:
                self._written_since_scan = 0
                self._last_scan = time.monotonic()
        if due:
            self.clean_up()

    def clean_up(self) -> None:
        """Remove dead writers' temporary files, then the least recently used windows while the
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
            if entry.name.endswith(".npy"):
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
        """Bytes the windows' files hold now."""
        try:
            return sum(e.stat().st_size for e in os.scandir(self.folder) if e.name.endswith(".npy"))
        except OSError:
            return 0


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


__all__ = ["FOLDER", "SharedWindows", "shared_windows_in"]
