"""Why a product is missing where it is, said without reading data.

Everything here comes from a :class:`~stream_engine.engine.plan.Plan`, the partition index
(``bin, count, first, last`` per partition) and the asset events, so a dataset's attributes can
state it before a value is computed:

* :func:`unavailable_for`: the deployments and time spans of the stream for which a product
  cannot be computed, and why: a calibration (``CC_x``) or the deployment location missing for
  deployment N, records outside every deployment the asset events know (by time, from the
  partition index), the stream supplying an input holding no data near those records;
* :func:`missing_where`: the limits that make single records missing: an input value missing
  (a fill in the raw data); an external input's records either side more than
  ``MAX_INTERPOLATION_GAP`` apart, or none within it at either end (linear; last seen: none
  within it before); only records of the same deployment for inputs from the same instrument
  (:mod:`stream_engine.engine.interpolate`).

What the engine computes agrees with these statements (:func:`stream_engine.engine.compute.compute`
fills exactly such records); the DAP layer serves them as attributes, the tests read data and
check both.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from stream_engine.engine.plan import (
    CALIBRATION,
    EXTERNAL,
    LOCATION,
    LOCATION_CALIBRATIONS,
    PRODUCT,
    RAW,
)
from stream_engine.engine.resolve_sources import ntp_iso

if TYPE_CHECKING:
    from stream_engine.assets import Deployment
    from stream_engine.engine.plan import ArgumentPlan, Plan, ProductStep
    from stream_engine.store.base import Partition, StreamCoverage

#: A time span of stored records: (first, last, records in partitions it touches).
Span = tuple[float, float, int]


def _windows(deployments: Sequence[Deployment]) -> list[tuple[float, float]]:
    return sorted((d.start, float("inf") if d.stop is None else d.stop) for d in deployments)


def uncovered_spans(partitions: Sequence[Partition], deployments: Sequence[Deployment]) -> list[Span]:
    """Spans of stored records (by the partition index) that no deployment window covers.

    A span's count is the number of records of the partitions it touches, so an upper bound
    when a partition is only partly outside every deployment.
    """
    windows = _windows(deployments)
    edges = sorted({t for window in windows for t in window})
    spans: list[list[float]] = []
    for part in sorted(partitions, key=lambda p: p.first):
        pieces = [(float(part.first), float(part.last))]
        for start, stop in windows:
            cut: list[tuple[float, float]] = []
            for lo, hi in pieces:
                if hi < start or lo >= stop:
                    cut.append((lo, hi))
                    continue
                if lo < start:
                    cut.append((lo, start))
                if hi >= stop:
                    cut.append((stop, hi))
            pieces = cut
        for lo, hi in pieces:
            if spans and not any(spans[-1][1] <= t <= lo for t in edges):
                spans[-1][1] = hi  # no deployment starts or ends between: one span
            else:
                spans.append([lo, hi, 0])
            spans[-1][2] += part.count
    return [(lo, hi, int(n)) for lo, hi, n in spans]


def overlapping(partitions: Sequence[Partition], deployments: Sequence[Deployment]) -> list[Deployment]:
    """Deployments whose window overlaps stored records (by the partition index)."""
    out = []
    for dep in deployments:
        stop = float("inf") if dep.stop is None else dep.stop
        if any(p.first < stop and p.last >= dep.start for p in partitions):
            out.append(dep)
    return sorted(out, key=lambda d: d.number)


def _has(dep: Deployment, name: str) -> bool:
    attr = LOCATION_CALIBRATIONS.get(name)
    if attr is not None and getattr(dep, attr) is not None:
        return True
    return bool(dep.calibrations.get(name))


def _lack(name: str, kind: str) -> str:
    return f"no deployment location ({name})" if kind == LOCATION else f"missing calibration {name}"


def span_text(span: Span) -> str:
    """``records from <first> to <last> (up to <n> by the partition index)``."""
    first, last, count = span
    return f"records from {ntp_iso(first)} to {ntp_iso(last)} (up to {count} by the partition index)"


def _arguments(plan: Plan, step: ProductStep) -> list[ArgumentPlan]:
    return [arg for s in plan.closure(step) for arg in s.arguments]


def unavailable_for(
    plan: Plan,
    step: ProductStep,
    deployments: Sequence[Deployment],
    partitions: Sequence[Partition],
    sources: Sequence[StreamCoverage],
    *,
    max_gap: float,
    require_deployment: bool,
) -> list[str]:
    """Deployments and time spans for which ``step`` cannot be computed, each with its reason.

    Parameters
    ----------
    plan, step
        The plan of the stream and one of its products.
    deployments
        Every deployment of the stream's instrument (asset events).
    partitions
        The stream's partition index.
    sources
        Coverage (partition index) of the streams supplying external inputs.
    max_gap
        ``MAX_INTERPOLATION_GAP`` in seconds.
    require_deployment
        The ``REQUIRE_DEPLOYMENT`` setting.
    """
    arguments = _arguments(plan, step)
    needs = sorted({(a.calibration, a.kind) for a in arguments
                    if a.kind in (CALIBRATION, LOCATION) and a.calibration})
    reasons = []
    for dep in overlapping(partitions, deployments):
        lacking = [_lack(name, kind) for name, kind in needs if not _has(dep, name)]
        if lacking:
            reasons.append(f"deployment {dep.number}: {', '.join(lacking)}")
    for span in uncovered_spans(partitions, deployments):
        where = f"{span_text(span)}: outside every deployment in the asset events"
        if require_deployment:
            reasons.append(f"{where}, not served (REQUIRE_DEPLOYMENT = True)")
        elif needs:
            reasons.append(f"{where}, so {', '.join(_lack(n, k) for n, k in needs)}")
    first = min((p.first for p in partitions), default=None)
    last = max((p.last for p in partitions), default=None)
    seen = set()
    for arg in arguments:
        if arg.kind != EXTERNAL or arg.stream is None or arg.stream in seen or first is None or last is None:
            continue
        seen.add(arg.stream)
        cover = next((c for c in sources if c.key == arg.stream), None)
        if cover is None:
            reasons.append(f"all records: {arg.stream.path} (input {arg.name}) holds no data")
            continue
        if first < cover.first - max_gap:
            reasons.append(f"records before {ntp_iso(cover.first - max_gap)}: {arg.stream.path} "
                           f"(input {arg.name}) holds no data within MAX_INTERPOLATION_GAP of them")
        if last > cover.last + max_gap:
            reasons.append(f"records after {ntp_iso(cover.last + max_gap)}: {arg.stream.path} "
                           f"(input {arg.name}) holds no data within MAX_INTERPOLATION_GAP of them")
    return reasons


def missing_where(plan: Plan, step: ProductStep, *, max_gap: float) -> list[str]:
    """The limits that make single records of ``step`` missing."""
    arguments = _arguments(plan, step)
    limits = []
    if any(a.kind in (RAW, PRODUCT, EXTERNAL) for a in arguments):
        limits.append("a record where one of its input values is missing (a fill in the raw data)")
    by_stream: dict[tuple[str, str, bool], list[str]] = {}
    for arg in arguments:
        ext = next((e for e in plan.externals if e.column == arg.column), None) if arg.kind == EXTERNAL else None
        if ext is None:
            continue
        names = by_stream.setdefault((ext.key.path, ext.interpolation, ext.same_instrument), [])
        text = f"{arg.name}: {ext.parameter}"
        if text not in names:
            names.append(text)
    for (path, interpolation, same_instrument), names in by_stream.items():
        same = " (only records of the same deployment count)" if same_instrument else ""
        inputs = f"input{'s' if len(names) > 1 else ''} {', '.join(names)}"
        if interpolation == "linear":
            limits.append(
                f"a record whose records of {path} either side are more than MAX_INTERPOLATION_GAP "
                f"= {max_gap:g} s apart, or that is more than that before its first or after its "
                f"last record{same} ({inputs}, linear interpolation)"
            )
        else:
            limits.append(
                f"a record without an earlier record of {path} within MAX_INTERPOLATION_GAP = "
                f"{max_gap:g} s{same} ({inputs}, last seen)"
            )
    return limits
