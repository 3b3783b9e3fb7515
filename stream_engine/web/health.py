"""``GET /health``: whether this worker can serve, answered without waiting behind data requests.

The answer has to stay quick while every request thread is busy computing, and mean something:

* **The store**: whether it can be opened and read (:meth:`Store.change_token
  <stream_engine.store.base.Store.change_token>`: a file check and one ``PRAGMA`` on the embedded
  store), checked in a background thread at most every :data:`CHECK_INTERVAL` seconds and cached
  in between, so a probe never waits for the store (nor for a slow Cassandra node). A check
  that has not returned after :data:`STUCK_AFTER` seconds counts as a failure.
* **The OOI rows** (Cassandra): ``store.ooi_rows`` says how they are written
  (``CASSANDRA_ROWS``), the bins and records whose rows still lag the chunks (as the row deriver
  last knew them, never read while answering), which process derives and whether it is this one
  (:mod:`~stream_engine.store.cassandra_deriver`).
* **The process**: its id, uptime, resident memory (as of the last store check: no file is
  read while answering) and the bytes its bounded caches hold
  (``COMPUTE_CACHE_BYTES``, ``DAP_CACHE_BYTES``); the gunicorn worker class
  (:mod:`stream_engine.web.worker`) adds its connections, requests in progress and queued, and
  whether it is stopping (reload).

200 with ``"status": "ok"`` when the store answers, 503 with ``"status": "unavailable"`` (and the
path-free store message) when it does not; 200 with ``"status": "starting"`` while a new worker's
first check (it opens the store and loads the dictionary) has not returned, for up to
:data:`FIRST_STUCK_AFTER` seconds. The gunicorn worker starts that check before it accepts. The gunicorn worker answers ``/health`` in its
accepting thread (see :mod:`stream_engine.web.worker`); in-process and through the route table
the same answer comes from :class:`~stream_engine.web.views.version.HealthView`.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import tracemalloc
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from stream_engine import __version__
from stream_engine.errors import STORE_TROUBLE_MESSAGE, StreamEngineError

if TYPE_CHECKING:
    from stream_engine.web.context import AppContext

logger = logging.getLogger("stream_engine.web")

#: Seconds a store check stays fresh; a probe after that starts a new check in the background.
CHECK_INTERVAL = 2.0
#: Seconds the first probe of a process waits for the first check.
FIRST_CHECK_WAIT = 1.0
#: A check running longer than this counts as a failed one ...
STUCK_AFTER = 10.0
#: ... and a process's first one (which opens the store and loads the dictionary) this long.
FIRST_STUCK_AFTER = 60.0
_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


@dataclass(frozen=True, slots=True)
class StoreCheck:
    """The outcome of one store check: ``ok``, what clients may be told, when and how long."""

    ok: bool
    message: str | None
    finished: float
    seconds: float


def resident_mib() -> float | None:
    """This process's resident memory in MiB (``/proc/self/statm``), ``None`` where unknown."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return round(int(statm.read().split()[1]) * _PAGE_SIZE / 2**20, 1)
    except (OSError, ValueError, IndexError):
        return None


def cache_bytes(settings: Mapping[str, Any]) -> dict[str, int]:
    """Bytes held now by this process's bounded caches, and their bounds (from ``settings``)."""
    from dap_handlers.product_windows import shared_windows
    from stream_engine.engine.cache import shared_cache

    products = shared_cache(settings)
    windows = shared_windows(int(settings["DAP_CACHE_BYTES"]))
    return {"compute": products.nbytes, "compute_bound": products.max_bytes,
            "dap": windows.nbytes, "dap_bound": windows.max_bytes}


class HealthMonitor:
    """This process's health answer: a cached store check plus the process's state."""

    def __init__(self, context: AppContext, interval: float = CHECK_INTERVAL) -> None:
        self.context = context
        self.interval = interval
        self.started = time.monotonic()
        self._lock = threading.Lock()
        self._last: StoreCheck | None = None
        self._running_since: float | None = None
        self._first = threading.Event()
        self._rss_mib: float | None = None

    def _check(self) -> None:
        began = time.monotonic()
        self._rss_mib = resident_mib()  # read here, not in the thread that answers probes
        ok, message = True, None
        try:
            self.context.store.change_token()
        except StreamEngineError as exc:
            ok, message = False, exc.client_message()
            logger.error("health check: the store cannot be read: %s", exc)
        except Exception:  # anything else is a failed check too, and goes to the log
            ok, message = False, STORE_TROUBLE_MESSAGE
            logger.exception("health check: the store check failed")
        finished = time.monotonic()
        with self._lock:
            self._last = StoreCheck(ok, message, finished, finished - began)
            self._running_since = None
        self._first.set()

    def store_check(self, wait: float = FIRST_CHECK_WAIT) -> StoreCheck | None:
        """The latest store check; starts a new one in the background when it is stale.

        Never waits for the store, except that until the process's first check has returned,
        a caller waits up to ``wait`` seconds for it; ``None`` if it is still running then.
        """
        now = time.monotonic()
        with self._lock:
            last, running = self._last, self._running_since
            stale = last is None or now - last.finished >= self.interval
            if stale and running is None:
                running = self._running_since = now
                threading.Thread(target=self._check, name="health-check", daemon=True).start()
        if last is None and wait > 0:
            self._first.wait(wait)
            with self._lock:
                last, running = self._last, self._running_since
        limit = STUCK_AFTER if last is not None else FIRST_STUCK_AFTER
        if running is not None and now - running > limit:
            return StoreCheck(False, f"the store check has not returned for {now - running:.0f} s",
                              now, now - running)
        return last

    def process_state(self) -> dict[str, Any]:
        """What this process holds: id, uptime, resident memory, cache bytes (and, when the
        process runs under ``PYTHONTRACEMALLOC``, the bytes Python allocations hold)."""
        state = {"pid": os.getpid(), "uptime_seconds": round(time.monotonic() - self.started, 1),
                 "rss_mib": self._rss_mib, "cache_bytes": cache_bytes(self.context.settings)}
        if tracemalloc.is_tracing():
            state["traced_mib"] = round(tracemalloc.get_traced_memory()[0] / 2**20, 1)
        return state

    def answer(self, worker: Mapping[str, Any] | None = None) -> tuple[int, bytes]:
        """The status code and JSON body of ``/health``.

        Parameters
        ----------
        worker
            The serving worker's state (connections, requests in progress...), if it has any.
        """
        check = self.store_check()
        now = time.monotonic()
        if check is None:  # a new worker opening its store: no verdict yet, and no reason to fail
            status, store = "starting", {"ok": None, "message": "the first store check of this "
                                         "worker is still running", "checked_seconds_ago": None,
                                         "check_ms": None}
        else:
            status = "ok" if check.ok else "unavailable"
            store = {"ok": check.ok, "message": check.message,
                     "checked_seconds_ago": round(max(now - check.finished, 0.0), 3),
                     "check_ms": round(check.seconds * 1e3, 2)}
        body = {
            "status": status,
            "version": __version__,
            "store": {"backend": self.context.settings.STORE, **store},
            "worker": {**self.process_state(), **(worker or {})},
        }
        deriver = self.context.row_deriver
        if deriver is not None:
            body["store"]["ooi_rows"] = deriver.status()
        return (503 if status == "unavailable" else 200), orjson.dumps(body)
