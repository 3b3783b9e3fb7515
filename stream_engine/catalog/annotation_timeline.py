"""A stream page's annotations, laid out on a timeline aligned with the quick-look plot.

The timeline spans the plotted time range and is drawn in the same horizontal frame as the
plot's axes (:data:`AXES_LEFT` to :data:`AXES_RIGHT` of the image width, as
:mod:`stream_engine.catalog.plot` lays them out), so an annotation's bar sits under the records it
covers. Each item also carries everything the list beside it shows (begin, end or open, parameters
or all, QC flag, exclusion, text), so the page reads the same without the picture.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from stream_engine.catalog.plot import AXES_LEFT, AXES_RIGHT
from stream_engine.quality.annotations import ntp_iso

if TYPE_CHECKING:
    from stream_engine.quality.annotations import Annotation


def _percent(value: float) -> float:
    return round(100.0 * value, 3)


def annotation_timeline(annotations: Sequence[Annotation], start: float, stop: float,
                        names: Mapping[int | str, str]) -> dict[str, Any]:
    """The annotations as timeline rows over ``[start, stop]`` (NTP s, the plotted range).

    Parameters
    ----------
    annotations
        The stream's annotations, any time.
    start, stop
        The plotted range.
    names
        Output names of the stream's parameters by preload id and name (what the page calls them).

    Returns
    -------
    dict
        ``start``/``stop`` (ISO), ``frame`` (``left``/``width`` of the plot's axes, percent of
        the image width) and ``items``: one per annotation, begin first, with ``id``, ``begin``,
        ``end`` (``None``: open), ``parameters`` (``[]``: all), ``flag``, ``exclusion``, ``text``,
        ``source`` and, when it meets the range, ``left``/``width`` (percent of the frame) and
        whether it runs on past either edge; ``shown`` is false for one outside the range.
    """
    span = max(stop - start, 1e-9)
    items = []
    for a in sorted(annotations, key=lambda a: (a.begin, a.id)):
        end = a.end if a.end is not None else float("inf")
        shown = a.begin <= stop and end >= start
        left = max(0.0, (a.begin - start) / span)
        right = min(1.0, (end - start) / span)
        items.append({
            "id": a.id,
            "begin": ntp_iso(a.begin),
            "end": None if a.end is None else ntp_iso(a.end),
            "parameters": [names.get(p, str(p)) for p in a.parameters],
            "flag": a.qc_flag,
            "exclusion": a.exclusion,
            "text": a.text,
            "source": a.record.get("source"),
            "shown": shown,
            "left": _percent(left) if shown else None,
            "width": _percent(max(right - left, 0.0)) if shown else None,
            "before": shown and a.begin < start,
            "after": shown and end > stop,
        })
    return {
        "start": ntp_iso(start), "stop": ntp_iso(stop),
        "frame": {"left": _percent(AXES_LEFT), "width": _percent(AXES_RIGHT - AXES_LEFT)},
        "items": items,
    }
