"""Which other streams may supply an input a stream lacks: co-location tiers and method variants.

Candidates are only streams that hold data in the requested range (the store's stream list and
coverage, index calls that never read data). They are ordered by

1. co-location tier:

   0. same reference designator (another stream of the same instrument);
   1. same subsite at the same nominal depth (``nominal_depths.csv``);
   2. same subsite and node;
   3. same subsite within ``MAX_DEPTH_VARIANCE`` metres of nominal depth;

   anything else is not a candidate. A mobile platform (glider, profiler: :func:`is_mobile`)
   moves through the depths, so for its streams only tiers 0 and 2 apply, as in the original;
2. acquisition method: the exact method first, then a variant of the same family
   (``recovered_host`` / ``recovered_inst`` / ``recovered_cspp`` ...), then any other method
   (``telemetered`` <-> ``recovered_*`` <-> ``streamed``); a method containing ``bad`` never matches;
3. the stream key, so the choice is deterministic.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from stream_engine.store.base import StreamCoverage, StreamKey, TimeRange

MOBILE_NODE_PREFIXES = ("GL", "PG", "SF", "WFP", "SP", "DP", "PC")

TIER_NAMES = (
    "same reference designator",
    "same subsite and nominal depth",
    "same subsite and node",
    "same subsite within depth variance",
)


@dataclass(frozen=True, slots=True)
class Candidate:
    """A stream that may supply an input, with why it qualifies."""

    key: StreamKey
    tier: int
    method_rank: int

    @property
    def colocation(self) -> str:
        return TIER_NAMES[self.tier]


def is_mobile(key: StreamKey) -> bool:
    """Whether the stream's platform moves (glider, profiler), by its node name."""
    return key.node.upper().startswith(MOBILE_NODE_PREFIXES)


def method_family(method: str) -> str:
    """``recovered`` for every ``recovered_*`` method, else the method itself (lower case)."""
    m = method.lower()
    return "recovered" if m.startswith("recovered") else m


def method_rank(wanted: str, candidate: str) -> int | None:
    """0 exact, 1 same family, 2 any other method; ``None`` if ``candidate`` is excluded (``bad``)."""
    if "bad" in candidate.lower():
        return None
    if candidate == wanted:
        return 0
    if method_family(candidate) == method_family(wanted):
        return 1
    return 2


def colocation_tier(
    primary: StreamKey,
    candidate: StreamKey,
    nominal_depths: Mapping[str, float],
    max_depth_variance: float,
    *,
    mobile: bool = False,
) -> int | None:
    """The tier (0..3, see module docstring) of ``candidate`` relative to ``primary``, or ``None``;
    ``mobile``: only tiers 0 and 2."""
    if candidate.refdes == primary.refdes:
        return 0
    if candidate.subsite != primary.subsite:
        return None
    if mobile:
        return 2 if candidate.node == primary.node else None
    d1 = nominal_depths.get(primary.refdes)
    d2 = nominal_depths.get(candidate.refdes)
    if d1 is not None and d2 is not None and d1 == d2:
        return 1
    if candidate.node == primary.node:
        return 2
    if d1 is not None and d2 is not None and abs(d1 - d2) <= max_depth_variance:
        return 3
    return None


def candidate_streams(
    coverage: Iterable[StreamCoverage],
    primary: StreamKey,
    time_range: TimeRange,
    nominal_depths: Mapping[str, float],
    max_depth_variance: float,
    *,
    mobile: bool = False,
) -> list[Candidate]:
    """Streams other than ``primary`` holding data in ``time_range``, best candidate first
    (``mobile``: the primary is on a mobile platform, see :func:`colocation_tier`)."""
    found = []
    for cov in coverage:
        key = cov.key
        if key == primary or cov.count <= 0 or not time_range.overlaps(cov.first, cov.last):
            continue
        rank = method_rank(primary.method, key.method)
        tier = colocation_tier(primary, key, nominal_depths, max_depth_variance, mobile=mobile)
        if rank is None or tier is None:
            continue
        found.append(Candidate(key, tier, rank))
    found.sort(key=lambda c: (c.tier, c.method_rank, c.key))
    return found
