"""The threads that compute a DAP request's product windows, and the one that reads ahead.

* :func:`compute_pool`: the process's pool of window-computing threads (``DAP_COMPUTE_THREADS``),
  shared by requests, so it bounds them.
* :func:`read_ahead`: the store reads of upcoming windows, done on a reader thread a few windows
  ahead of the windows being computed, so reading (which waits on the store and, for the
  embedded store, on its snapshot's connection) overlaps computing instead of adding to it. Reads
  still go through the request's one snapshot; none is left running when the iterator ends, is
  closed or fails.
"""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import TypeVar

_S = TypeVar("_S")
_R = TypeVar("_R")

_POOLS: dict[str, tuple[int, int, ThreadPoolExecutor]] = {}
_POOLS_LOCK = threading.Lock()
#: Threads reading ahead for all requests of a process.
READ_THREADS = 2


def _named_pool(name: str, threads: int) -> ThreadPoolExecutor:
    with _POOLS_LOCK:
        known = _POOLS.get(name)
        if known is None or known[:2] != (os.getpid(), threads):
            if known is not None and known[0] == os.getpid():
                known[2].shutdown(wait=False)
            known = _POOLS[name] = (os.getpid(), threads, ThreadPoolExecutor(max_workers=threads,
                                                                             thread_name_prefix=name))
        return known[2]


def compute_pool(threads: int) -> ThreadPoolExecutor:
    """The process's pool of window-computing threads (shared by requests, so it bounds them)."""
    return _named_pool("dap-window", threads)


def read_ahead(read: Callable[[_S], _R], items: Iterable[_S], depth: int = 2) -> Iterator[tuple[_S, _R]]:
    """``(item, read(item))`` for each item in order, each read started up to ``depth`` items
    before it is taken, on the process's reader threads."""
    pool = _named_pool("dap-read", READ_THREADS)
    upcoming = iter(items)
    pending: deque[tuple[_S, Future[_R]]] = deque()
    try:
        for item in upcoming:
            pending.append((item, pool.submit(read, item)))
            if len(pending) > depth:
                first, future = pending.popleft()
                yield first, future.result()
        while pending:
            first, future = pending.popleft()
            yield first, future.result()
    finally:  # nothing may still read the request's snapshot once the caller is done
        for _, future in pending:
            future.cancel()
        wait([future for _, future in pending])


__all__ = ["READ_THREADS", "compute_pool", "read_ahead"]
