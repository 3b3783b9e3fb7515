"""Storage backends by name: the one place that turns ``settings.STORE`` into a :class:`Store`.

A backend is a factory ``(settings, create) -> Store``. Built-ins are listed in :data:`BACKENDS`; the
Cassandra backend lives in ``stream_engine/store/cassandra.py`` and must expose
``from_settings(settings) -> Store``. Backend modules are imported only when chosen, so a missing
optional dependency (cassandra-driver) never breaks the embedded store.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from stream_engine.errors import ConfigError
from stream_engine.store.base import Store


def _embedded(settings: Any, create: bool) -> Store:
    from stream_engine.store.embedded import EmbeddedStore

    return EmbeddedStore(settings.path("DATA_DIR"), create=create)


def _cassandra(settings: Any, create: bool) -> Store:  # noqa: ARG001 - a keyspace is never created here
    try:
        module = importlib.import_module("stream_engine.store.cassandra")
    except ImportError as exc:
        raise ConfigError(
            f"the cassandra backend is not available yet ({exc}); set STORE = 'embedded' "
            "(or STREAM_ENGINE_STORE=embedded) to use the local database file"
        ) from exc
    factory: Callable[[Any], Store] | None = getattr(module, "from_settings", None)
    if factory is None:
        raise ConfigError(
            "the cassandra backend is not available yet: stream_engine.store.cassandra has no "
            "from_settings(settings); set STORE = 'embedded' meanwhile"
        )
    return factory(settings)


BACKENDS: dict[str, Callable[[Any, bool], Store]] = {"embedded": _embedded, "cassandra": _cassandra}


def open_store(settings: Any, *, create: bool = True) -> Store:
    """Open the storage backend named by ``settings.STORE``.

    Parameters
    ----------
    settings
        Loaded settings (:func:`stream_engine.config.load_settings`).
    create
        Whether a store that does not exist yet may be created (the command line); a server
        passes ``False`` so that a missing store is an error, never a new empty one.

    Raises
    ------
    ConfigError
        ``STORE`` names no backend, or the backend cannot be loaded.
    """
    name = getattr(settings, "STORE", None)
    factory = BACKENDS.get(name) if isinstance(name, str) else None
    if factory is None:
        raise ConfigError(
            f"setting STORE = {name!r} names no storage backend; choose one of: "
            + ", ".join(sorted(BACKENDS))
        )
    return factory(settings, create)
