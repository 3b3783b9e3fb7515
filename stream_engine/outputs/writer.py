"""What every export writer shares: one file per deployment, fed chunk by chunk.

A :class:`ChunkWriter` receives computed chunks (``name -> array`` keyed by preload name, with
``time`` and ``deployment``, as :class:`~stream_engine.engine.computed.ComputedSlice` holds
them), splits each chunk by deployment and appends every part to that deployment's open
:class:`DeploymentFile`. Files are written under a hidden temporary name in the output folder
and renamed to their OOI name (which holds the first and last time, known only at the end) by
:meth:`ChunkWriter.close`; :meth:`ChunkWriter.abort` removes them. A format is one
``DeploymentFile`` subclass.

:class:`BackgroundWriter` runs a writer on a thread of its own, so an export computes its next
chunk while the last one is compressed and written (numpy, gsw, zlib and netCDF-C release the
GIL); a chunk is handed over only when the thread is ready for it, so at most two chunks (the
one being written, the one being computed) are in memory.
"""

from __future__ import annotations

import os
import queue
import threading
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from stream_engine.store.base import DEPLOYMENT, TIME

if TYPE_CHECKING:
    from stream_engine.outputs.layout import ExportLayout


class DeploymentFile:
    """One output file, holding the records of one deployment."""

    suffix: ClassVar[str] = ""

    def __init__(self, folder: Path, layout: ExportLayout, deployment: int):
        self.folder, self.layout, self.deployment = folder, layout, deployment
        self.temporary = folder / f".{uuid.uuid4().hex}{self.suffix}.part"
        self.count = 0
        self.first = self.last = float("nan")

    def add(self, chunk: dict[str, np.ndarray]) -> None:
        """Append the records of ``chunk`` (all of this deployment, sorted by time)."""
        n = len(chunk[TIME])
        if n == 0:
            return
        if self.count == 0:
            self.open(chunk)
            self.first = float(chunk[TIME][0])
        self.append(chunk)
        self.count += n
        self.last = float(chunk[TIME][-1])

    def close(self) -> Path:
        """Finish the file and give it its final name; returns the path."""
        self.finish()
        final = self.folder / (self.layout.file_stem(self.deployment, self.first, self.last) + self.suffix)
        os.replace(self.temporary, final)
        return final

    def discard(self) -> None:
        """Close without finishing and remove the temporary file."""
        try:
            self.abandon()
        finally:
            self.temporary.unlink(missing_ok=True)

    # -- what a format implements ------------------------------------------------------------

    def open(self, chunk: dict[str, np.ndarray]) -> None:
        """Create the file and declare its variables from the first chunk's dtypes and shapes."""
        raise NotImplementedError

    def append(self, chunk: dict[str, np.ndarray]) -> None:
        """Write the chunk's records after those already written."""
        raise NotImplementedError

    def finish(self) -> None:
        """Write what needs the whole file (coverage attributes) and close it."""
        raise NotImplementedError

    def abandon(self) -> None:
        """Close the file without finishing it."""
        raise NotImplementedError


def split_by_deployment(chunk: Mapping[str, np.ndarray]) -> list[tuple[int, dict[str, np.ndarray]]]:
    """The chunk's records grouped by deployment number, in order of first appearance."""
    numbers = np.asarray(chunk[DEPLOYMENT])
    if len(numbers) == 0:
        return []
    if numbers[0] == numbers[-1] and bool((numbers == numbers[0]).all()):
        return [(int(numbers[0]), dict(chunk))]
    found, first = np.unique(numbers, return_index=True)
    distinct = found[np.argsort(first)].tolist()
    return [(int(n), {name: values[numbers == n] for name, values in chunk.items()}) for n in distinct]


class ChunkWriter:
    """Writes an export as one file per deployment into ``folder``.

    Parameters
    ----------
    folder
        Existing folder the files go into.
    layout
        What the files hold.
    """

    file_class: ClassVar[type[DeploymentFile]] = DeploymentFile
    format_name: ClassVar[str] = ""

    def __init__(self, folder: Path, layout: ExportLayout):
        self.folder = Path(folder)
        self.layout = layout
        self.files: dict[int, DeploymentFile] = {}
        self.records = 0

    def write(self, chunk: Mapping[str, np.ndarray]) -> None:
        """Append a computed chunk (records sorted by time)."""
        for number, part in split_by_deployment(chunk):
            target = self.files.get(number)
            if target is None:
                target = self.files[number] = self.file_class(self.folder, self.layout, number)
            target.add(part)
            self.records += len(part[TIME])

    def close(self) -> list[Path]:
        """Finish every file; their final paths, by deployment number."""
        paths = []
        try:
            for number in sorted(self.files):
                paths.append(self.files[number].close())
        except BaseException:
            self.abort()
            for path in paths:
                path.unlink(missing_ok=True)
            raise
        self.files.clear()
        return paths

    def abort(self) -> None:
        """Remove every file not yet closed."""
        for handle in self.files.values():
            handle.discard()
        self.files.clear()

    def __enter__(self) -> ChunkWriter:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is not None:
            self.abort()


class BackgroundWriter:
    """Feeds a :class:`ChunkWriter` from a thread of its own (see the module docstring).

    Use as a context manager inside the writer's own ``with``: leaving it (normally or by an
    exception) waits until the thread has written or dropped every chunk handed over, so the
    writer can then be closed or aborted safely. An error raised while writing is raised again
    by the next :meth:`write` or by :meth:`finish`.

    Parameters
    ----------
    writer
        The writer to feed.
    """

    def __init__(self, writer: ChunkWriter):
        self.writer = writer
        self._queue: queue.Queue[Mapping[str, np.ndarray] | None] = queue.Queue(maxsize=1)
        self._taken = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="export-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            chunk = self._queue.get()
            self._taken.set()
            if chunk is None:
                return
            if self._error is None:
                try:
                    self.writer.write(chunk)
                except BaseException as exc:  # handed to the producing thread
                    self._error = exc
            del chunk

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error

    def write(self, chunk: Mapping[str, np.ndarray]) -> None:
        """Hand a chunk to the thread; returns once the thread has taken it (so at most the
        chunk being written and the one being computed are in memory)."""
        self._raise()
        self._taken.clear()
        self._queue.put(chunk)
        self._taken.wait()

    def finish(self) -> None:
        """Wait until every chunk is written; raises what writing raised."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()
        self._raise()

    def __enter__(self) -> BackgroundWriter:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is None:
            self.finish()
        elif self._thread.is_alive():
            self._error = self._error or RuntimeError("export abandoned")
            self._queue.put(None)
            self._thread.join()
