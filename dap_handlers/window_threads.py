"""The threads that compute a DAP request's product windows and read the store ahead of them.

* :func:`compute_pool`: the process's pool of window-computing threads (``DAP_COMPUTE_THREADS``),
  shared by requests, so it bounds them.
* :func:`reader_pool`: the process's few threads reading the store ahead of a window computed on
  the request's own thread (one compute thread), so reading (which waits on the store and, for
  the embedded store, on its snapshot's connection) overlaps computing instead of adding to it.
* :func:`ahead`: the one look-ahead loop both use: items handed out in order, each one's work
  started a bounded number of items before it is taken, and none still running once the loop
  ends, is closed or fails (reads still go through the request's one snapshot, which ends
  after the response).
"""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any, TypeVar

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


def reader_pool() -> ThreadPoolExecutor:
    """The process's pool of threads reading the store ahead of the windows being computed."""
    return _named_pool("dap-read", READ_THREADS)


def done(value: _R) -> Future[_R]:
    """A future already holding ``value`` (an item of :func:`ahead` with nothing left to do)."""
    future: Future[_R] = Future()
    future.set_result(value)
    return future


def ahead(start: Callable[[_S], Future[_R]], items: Iterable[_S], depth: int) -> Iterator[tuple[_S, _R]]:
    """``(item, result)`` for each of ``items`` in order, where ``start(item)`` begins the item's
    work (e.g. ``pool.submit``) and gives its future.

    Items are started in order, up to ``depth`` of them beyond the one the caller holds (so at
    most ``depth`` run at once); the items themselves are drawn from ``items`` on the caller's
    thread, one as each is started. A failure is raised when its item is taken. When the
    caller stops (the iterator is closed) or an item fails, the items started ahead are
    cancelled or waited for: nothing this started still runs once it ends (a failure nobody
    asked for is dropped).
    """
    upcoming = iter(items)
    pending: deque[tuple[_S, Future[_R]]] = deque()
    depth = max(1, int(depth))

    def top_up() -> None:
        while len(pending) < depth:
            item = next(upcoming, _END)
            if item is _END:
                return
            pending.append((item, start(item)))

    try:
        top_up()
        while pending:
            item, future = pending[0]
            result = future.result()
            pending.popleft()
            top_up()  # the next ones run while the caller uses this one
            yield item, result
    finally:  # nothing may still read the request's snapshot once the caller is done
        for _, future in pending:
            future.cancel()
        wait([future for _, future in pending])


_END: Any = object()

__all__ = ["READ_THREADS", "ahead", "compute_pool", "done", "reader_pool"]
