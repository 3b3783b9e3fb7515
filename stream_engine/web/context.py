"""Per-worker application state: settings, and the store and preload opened on first use."""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stream_engine.config import Settings
    from stream_engine.preload.model import Preload
    from stream_engine.store.base import Store
    from stream_engine.store.cassandra_deriver import RowDeriver
    from stream_engine.web.health import HealthMonitor


class AppContext:
    """What views share: settings, the store and the preload dictionary.

    The store and the preload are opened lazily, on first use, once per process and shared by
    the process's threads. A process that inherited them across ``fork`` (gunicorn workers fork
    from the master) opens its own instead of sharing file handles or connections.
    """

    def __init__(self, settings: Settings):
        self.settings = settings
        self._lock = threading.Lock()
        self._store: Store | None = None
        self._preload: Preload | None = None
        self._health: HealthMonitor | None = None
        self._row_deriver: RowDeriver | None = None
        self._pid = os.getpid()

    def _check_fork(self) -> None:
        if self._pid != os.getpid():
            self._store = None
            self._preload = None
            self._health = None
            self._row_deriver = None
            self._lock = threading.Lock()
            self._pid = os.getpid()

    def _lazy(self, attribute: str, opener: Any) -> Any:
        self._check_fork()
        value = getattr(self, attribute)
        if value is None:
            with self._lock:
                value = getattr(self, attribute)
                if value is None:
                    value = opener(self.settings)
                    setattr(self, attribute, value)
        return value

    @property
    def store(self) -> Store:
        """The store named by ``settings.STORE``, opened on first use, with the dictionary's
        virtual streams (:class:`~stream_engine.engine.virtual.VirtualStreams`).

        Never created: a server over a missing store answers 503 until it is restored.
        """
        if self._store is not None:
            return self._store
        from stream_engine.engine.virtual import VirtualStreams
        from stream_engine.store import open_store

        preload = self.preload
        return self._lazy("_store", lambda settings: VirtualStreams(open_store(settings, create=False), preload,
                                                                     settings))

    @property
    def preload(self) -> Preload:
        """The preload dictionary of ``settings.PRELOAD``, loaded on first use."""
        from stream_engine.preload import default_preload

        return self._lazy("_preload", default_preload)

    @property
    def health(self) -> HealthMonitor:
        """This process's ``/health`` answer (:class:`~stream_engine.web.health.HealthMonitor`)."""
        from stream_engine.web.health import HealthMonitor

        return self._lazy("_health", lambda settings: HealthMonitor(self))

    @property
    def row_deriver(self) -> RowDeriver | None:
        """This process's background row deriver (``STORE = "cassandra"`` only, else ``None``;
        see :mod:`~stream_engine.store.cassandra_deriver`), made on first use, not started."""
        if self.settings.STORE != "cassandra":
            return None
        from stream_engine.store.cassandra import from_settings
        from stream_engine.store.cassandra_deriver import RowDeriver

        def make(settings: Settings) -> RowDeriver:
            return RowDeriver(from_settings(settings), mode=settings.CASSANDRA_ROWS, batch=settings.CASSANDRA_ROWS_BATCH,
                              pause=settings.CASSANDRA_ROWS_PAUSE, lease_seconds=settings.CASSANDRA_ROWS_LEASE_SECONDS,
                              poll_seconds=settings.CASSANDRA_ROWS_POLL_SECONDS)

        deriver: RowDeriver = self._lazy("_row_deriver", make)
        return deriver

    def close(self) -> None:
        """Close the store if this process opened it."""
        with self._lock:
            store, self._store = self._store, None
            deriver, self._row_deriver = self._row_deriver, None
        if deriver is not None and self._pid == os.getpid():
            deriver.stop()
            deriver.store.close()
        if store is not None and self._pid == os.getpid():
            store.close()
