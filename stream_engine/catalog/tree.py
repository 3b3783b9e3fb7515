"""The catalog hierarchy subsite -> node -> sensor -> method -> stream, and the catalog filter.

Everything here comes from :meth:`Store.streams <stream_engine.store.base.Store.streams>` (the
partition index) and the preload dictionary; nothing reads data.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from stream_engine.errors import NotFound
from stream_engine.preload.model import Preload
from stream_engine.store.base import StreamCoverage

#: The levels of the hierarchy, root excluded.
LEVELS = ("subsite", "node", "sensor", "method", "stream")


def _parts(coverage: StreamCoverage) -> tuple[str, ...]:
    key = coverage.key
    return (key.subsite, key.node, key.sensor, key.method, key.stream)


@dataclass(frozen=True, slots=True)
class Folder:
    """A level of the hierarchy (the root has ``path == ()``) and the streams under it.

    Attributes
    ----------
    path
        The names from the subsite down to this folder (``("CE07SHSM", "MFD37")``).
    streams
        Every stream under the folder, sorted by key.
    """

    path: tuple[str, ...]
    streams: tuple[StreamCoverage, ...]

    @property
    def level(self) -> str:
        """``root``, ``subsite``, ``node``, ``sensor`` or ``method``."""
        return "root" if not self.path else LEVELS[len(self.path) - 1]

    @property
    def child_level(self) -> str:
        """The level of this folder's children."""
        return LEVELS[len(self.path)]

    @property
    def name(self) -> str:
        return self.path[-1] if self.path else ""

    @property
    def count(self) -> int:
        """Records in every stream under the folder."""
        return sum(c.count for c in self.streams)

    @property
    def first(self) -> float:
        return min(c.first for c in self.streams)

    @property
    def last(self) -> float:
        return max(c.last for c in self.streams)

    def children(self) -> list[Folder]:
        """The sub-folders one level down (empty at the method level: its children are streams)."""
        if len(self.path) >= len(LEVELS) - 1:
            return []
        depth = len(self.path)
        groups: dict[str, list[StreamCoverage]] = {}
        for coverage in self.streams:
            groups.setdefault(_parts(coverage)[depth], []).append(coverage)
        return [Folder((*self.path, name), tuple(streams)) for name, streams in sorted(groups.items())]


def folder(streams: Iterable[StreamCoverage], path: Sequence[str]) -> Folder:
    """The folder at ``path`` (``()`` for the root).

    Raises
    ------
    NotFound
        No stored stream lies under ``path``; the message names the level's existing entries.
    """
    path = tuple(path)
    if len(path) >= len(LEVELS):
        raise NotFound(f"a catalog folder has at most {len(LEVELS) - 1} levels, got {'/'.join(path)!r}")
    every = tuple(sorted(streams, key=lambda c: c.key))
    parent: tuple[StreamCoverage, ...] = every
    for depth, name in enumerate(path):
        here = tuple(c for c in parent if _parts(c)[depth] == name)
        if not here:
            known = sorted({_parts(c)[depth] for c in parent})
            where = "/".join(path[:depth]) or "the store"
            raise NotFound(
                f"no {LEVELS[depth]} {name!r} in {where}; "
                f"known: {', '.join(known) if known else 'none (the store holds no streams)'}"
            )
        parent = here
    return Folder(path, parent)


@dataclass(frozen=True, slots=True)
class Match:
    """A stream the filter kept, and what each filter word matched in it."""

    coverage: StreamCoverage
    matched: tuple[str, ...]


def _haystack(coverage: StreamCoverage, preload: Preload) -> list[tuple[str, str]]:
    """``(what, text)`` pairs a filter word is searched in, for one stream."""
    key = coverage.key
    out = [(level, value) for level, value in zip(LEVELS, _parts(coverage), strict=True)]
    out.append(("reference designator", key.refdes))
    if key.stream in preload.streams:
        for p in preload.stream_parameters(key.stream):
            for text in dict.fromkeys((p.name, p.netcdf_name, p.display_name)):
                if text:
                    out.append(("parameter", text))
            if p.data_product_identifier:
                out.append(("data product", p.data_product_identifier))
    return out


def filter_streams(streams: Iterable[StreamCoverage], preload: Preload, query: str) -> list[Match]:
    """The streams every word of ``query`` matches (case-insensitive substring).

    A word matches a stream when it occurs in any part of its reference designator, its method,
    its stream name, the name (preload, NetCDF or display) of one of its parameters or one of its
    data product identifiers (``PRACSAL_L2``; ``PRACSAL`` matches too).

    Returns
    -------
    list of Match
        In key order, each with ``what: text`` for the first thing every word matched.
    """
    words = [w.lower() for w in query.split()]
    found: list[Match] = []
    for coverage in sorted(streams, key=lambda c: c.key):
        haystack = _haystack(coverage, preload)
        matched: list[str] = []
        for word in words:
            hit = next((f"{what}: {text}" for what, text in haystack if word in text.lower()), None)
            if hit is None:
                break
            matched.append(hit)
        else:
            found.append(Match(coverage, tuple(dict.fromkeys(matched))))
    return found
