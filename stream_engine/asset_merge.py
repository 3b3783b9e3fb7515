"""Merging a loaded event file into the asset events a store holds for a reference designator.

A deployment is identified by (reference designator, deployment number); its calibrations and
location travel with it. Loading a file adds the deployments the store does not hold, replaces
those it holds with different content, leaves identical ones unchanged, and keeps every other
deployment of the reference designator. ``replace=True`` makes the file the whole truth for the
reference designators it names (deployments it lacks are removed).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

#: (reference designator, deployment number)
DeploymentId = tuple[str, int]


@dataclass
class MergeSummary:
    """What loading one file did, as sorted (refdes, deployment number) lists."""

    added: list[DeploymentId] = field(default_factory=list)
    replaced: list[DeploymentId] = field(default_factory=list)
    unchanged: list[DeploymentId] = field(default_factory=list)
    removed: list[DeploymentId] = field(default_factory=list)
    ignored: int = 0

    @property
    def deployment_count(self) -> int:
        """Deployments the file holds."""
        return len(self.added) + len(self.replaced) + len(self.unchanged)

    def sort(self) -> MergeSummary:
        for ids in (self.added, self.replaced, self.unchanged, self.removed):
            ids.sort()
        return self

    def describe(self) -> str:
        """One line: counts, then the deployments each count covers (``refdes #n``)."""
        parts = []
        for word, ids in (("added", self.added), ("replaced", self.replaced),
                          ("unchanged", self.unchanged), ("removed", self.removed)):
            if ids or word != "removed":
                listed = f" ({', '.join(f'{r} #{n}' for r, n in ids)})" if ids else ""
                parts.append(f"{len(ids)} {word}{listed}")
        text = f"{self.deployment_count} deployments: " + ", ".join(parts)
        if self.ignored:
            text += f"; {self.ignored} non-deployment events ignored"
        return text


def _number(event: Mapping[str, Any]) -> int:
    number = event.get("deploymentNumber")
    return number if isinstance(number, int) else -1


def _canonical(events: Sequence[Mapping[str, Any]]) -> bytes:
    return orjson.dumps(sorted((dict(e) for e in events), key=orjson.dumps), option=orjson.OPT_SORT_KEYS)


def merge_events(
    refdes: str,
    stored: Sequence[Mapping[str, Any]],
    incoming: Sequence[Mapping[str, Any]],
    summary: MergeSummary,
    *,
    replace: bool = False,
) -> list[dict[str, Any]]:
    """The events to store for ``refdes`` after loading ``incoming`` over ``stored``.

    Events are grouped by deployment number; ``summary`` records each number of ``incoming`` as
    added, replaced or unchanged (and, with ``replace``, each stored number it lacks as removed).
    Events without a deployment number in ``stored`` are kept.
    """
    old: dict[int, list[dict[str, Any]]] = {}
    for event in stored:
        old.setdefault(_number(event), []).append(dict(event))
    new: dict[int, list[dict[str, Any]]] = {}
    for event in incoming:
        new.setdefault(_number(event), []).append(dict(event))
    for number, events in new.items():
        if number not in old:
            summary.added.append((refdes, number))
        elif _canonical(old[number]) == _canonical(events):
            summary.unchanged.append((refdes, number))
        else:
            summary.replaced.append((refdes, number))
    merged = dict(new) if replace else {**old, **new}
    if replace:
        summary.removed.extend((refdes, n) for n in old if n not in new and n >= 0)
        merged.update({n: e for n, e in old.items() if n < 0})
    return [event for number in sorted(merged) for event in merged[number]]
