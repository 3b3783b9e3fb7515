"""Resolved plans kept across requests, checked against change tokens so none is ever stale.

A :class:`~stream_engine.engine.plan.Plan` depends only on what its resolution read in the
store: which streams exist (the store's list), the columns and coverage of the streams it
consulted (the primary stream, streams it asked columns of, every co-located stream that could
supply an input whatever its coverage) and the asset events of the instruments it looked at
(:class:`~stream_engine.engine.resolve_sources.Consulted`), plus the dictionary, the settings
and the request (stream, parameters, time range). :class:`PlanCache` keeps each plan with the
change tokens of exactly those streams and reference designators, read through the same
snapshot as the resolution, and the list of streams. A later request, through its own
snapshot, gets the kept plan only if the store still lists the same streams and every one of
those tokens is unchanged; otherwise it resolves again. So an ingest into an unrelated stream
keeps the plan, while an ingest into the stream or a consulted co-located stream, a new stream
appearing, or an asset change resolves again.

Stores without change tokens (``stream_token`` or ``asset_token`` returning ``None``) get no
caching.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from stream_engine.engine.dependencies import Dependencies
from stream_engine.engine.resolve import resolve_consulted

if TYPE_CHECKING:
    from stream_engine.engine.plan import Plan
    from stream_engine.preload.model import Preload
    from stream_engine.store.base import Store, StreamKey, TimeRange

#: Plans kept per process (least recently used out); a plan is a few kB.
DEFAULT_CAPACITY = 1024


@dataclass(frozen=True, slots=True)
class _Entry:
    plan: Plan
    preload: Preload
    #: What its resolution saw: the stream list and the tokens of what it consulted.
    state: Dependencies


class PlanCache:
    """Plans by request, valid while what their resolution consulted is unchanged.

    Parameters
    ----------
    capacity
        Most plans kept (least recently used out).
    """

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self.capacity = max(1, int(capacity))
        self._entries: OrderedDict[tuple[Any, ...], _Entry] = OrderedDict()
        self._lock = threading.Lock()
        #: Resolutions made (misses) and plans served from the cache (hits), for tests and logs.
        self.resolutions = 0
        self.hits = 0

    def resolve(
        self,
        store: Store,
        preload: Preload,
        key: StreamKey,
        parameters: Sequence[int] | None,
        time_range: TimeRange,
        *,
        settings: Mapping[str, Any],
        positions: bool = True,
    ) -> Plan:
        """:func:`~stream_engine.engine.resolve.resolve`, from the cache when still valid.

        ``store`` must be the response's snapshot (``with store.snapshot() as view``), so the
        tokens kept describe the state the plan was resolved from.
        """
        ident = (store.local_folder(), key, tuple(parameters) if parameters else None, time_range,
                 positions, id(preload), float(settings["MAX_DEPTH_VARIANCE"]))
        with self._lock:
            entry = self._entries.get(ident)
        if entry is not None and entry.preload is preload and entry.state.unchanged(store):
            with self._lock:
                self.hits += 1
                if ident in self._entries:
                    self._entries.move_to_end(ident)
            return entry.plan
        plan, consulted = resolve_consulted(store, preload, key, parameters, time_range,
                                            settings=settings, positions=positions)
        streams = tuple((k, store.stream_token(k)) for k in sorted(consulted.streams))
        refdeses = tuple((r, store.asset_token(r)) for r in sorted(consulted.refdeses))
        with self._lock:
            self.resolutions += 1
            if all(t is not None for _, t in (*streams, *refdeses)):
                state = Dependencies(streams, refdeses, (), tuple(k.path for k in consulted.listed),  # type: ignore[arg-type]
                                     None)
                self._entries[ident] = _Entry(plan, preload, state)
                self._entries.move_to_end(ident)
                while len(self._entries) > self.capacity:
                    self._entries.popitem(last=False)
        return plan

    def clear(self) -> None:
        """Forget every plan."""
        with self._lock:
            self._entries.clear()


#: The process's cache, shared by every request of a worker.
PLANS = PlanCache()


def cached_resolve(
    store: Store,
    preload: Preload,
    key: StreamKey,
    parameters: Sequence[int] | None,
    time_range: TimeRange,
    *,
    settings: Mapping[str, Any],
    positions: bool = True,
) -> Plan:
    """:meth:`PlanCache.resolve` on the process's cache :data:`PLANS`."""
    return PLANS.resolve(store, preload, key, parameters, time_range, settings=settings, positions=positions)


__all__ = ["DEFAULT_CAPACITY", "PLANS", "PlanCache", "cached_resolve"]
