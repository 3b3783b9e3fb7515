"""What a query run used and computed: merged over its chunks, JSON-serialisable.

:class:`ProvenanceLog` gathers the provenance each computed window reports (functions, versions,
argument sources, status and reasons of every product; external inputs; record counts) into
one account for the whole response: the original engine's ``computed_provenance``.
:func:`instrument_provenance` lists the asset-management deployment events behind a query
(its ``instrument_provenance``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from stream_engine.assets import is_deployment_event, unix_ms_to_ntp

if TYPE_CHECKING:
    from stream_engine.engine.computed import ComputedSlice
    from stream_engine.engine.query import Query
    from stream_engine.store.base import Store

#: Product statuses from best to worst; a product's merged status is the worst seen.
STATUS_ORDER = ("ok", "partial", "unavailable", "failed")
_COUNTS = ("records_read", "dropped_outside_deployment", "dropped_duplicate_time")


def _merge_span(span: list[float] | None, other: list[float] | None) -> list[float] | None:
    if other is None:
        return span
    if span is None:
        return list(other)
    return [min(span[0], other[0]), max(span[1], other[1])]


class ProvenanceLog:
    """Provenance of one query run, merged window by window."""

    def __init__(self, query: Query):
        self.query = query
        self.products: dict[str, dict[str, Any]] = {}
        self.unavailable_parameters: list[dict[str, Any]] = []
        self.externals: dict[str, dict[str, Any]] = {}
        self.counts = dict.fromkeys(_COUNTS, 0)
        self.time_range: list[float] | None = None
        self.deployments: set[int] = set()

    def add_slice(self, computed: ComputedSlice) -> None:
        """Merge the provenance of one computed window of the primary stream."""
        prov = computed.provenance
        for name in _COUNTS:
            self.counts[name] += int(prov.get(name, 0))
        self.time_range = _merge_span(self.time_range, prov.get("time_range"))
        self.deployments.update(int(d) for d in prov.get("deployments", ()))
        for name, info in prov.get("products", {}).items():
            merged = self.products.get(name)
            if merged is None:
                self.products[name] = {**info, "errors": list(info.get("errors", ())),
                                       "notes": list(info.get("notes", ()))}
                continue
            status = info.get("status", "ok")
            if STATUS_ORDER.index(status) > STATUS_ORDER.index(merged.get("status", "ok")):
                merged["status"] = status
                if "reason" in info:
                    merged["reason"] = info["reason"]
            for listed in ("errors", "notes"):
                for item in info.get(listed, ()):
                    if item not in merged[listed]:
                        merged[listed].append(item)

    def add_externals(self, info: dict[str, dict[str, Any]]) -> None:
        """Merge what one window's further-stream inputs report (by working name)."""
        for column, entry in info.items():
            merged = self.externals.setdefault(column, {k: v for k, v in entry.items() if k != "time_range"})
            merged["time_range"] = _merge_span(merged.get("time_range"), entry.get("time_range"))
            if "deployments" in entry:
                merged["deployments"] = sorted(set(merged.get("deployments", ())) | set(entry["deployments"]))

    def computed_provenance(self) -> dict[str, Any]:
        """Everything merged so far (the original's ``computed_provenance``)."""
        errors = [f"{name}: {e}" for name, info in self.products.items() for e in info.get("errors", ())]
        return {
            "stream": self.query.primary.key.path,
            "time_range": self.time_range,
            "deployments": sorted(self.deployments),
            **self.counts,
            "calculations": self.products,
            "interpolated": self.externals,
            "unavailable": self.unavailable_parameters,
            "errors": errors,
        }


def instrument_provenance(store: Store, query: Query) -> dict[str, list[dict[str, Any]]]:
    """The deployment events (with calibrations) of each requested instrument overlapping the
    query's range, by reference designator."""
    out: dict[str, list[dict[str, Any]]] = {}
    for stream in query.streams:
        refdes = stream.key.refdes
        if refdes in out:
            continue
        events = []
        for event in store.asset_events(refdes):
            if not is_deployment_event(event):
                continue
            start = event.get("eventStartTime")
            stop = event.get("eventStopTime")
            begins = unix_ms_to_ntp(start) if isinstance(start, int | float) else float("-inf")
            ends = unix_ms_to_ntp(stop) if isinstance(stop, int | float) else float("inf")
            if begins <= query.stop and ends >= query.start:
                events.append(event)
        out[refdes] = events
    return out
