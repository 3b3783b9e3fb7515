"""Operators' annotations: OOI ``.AnnotationRecord`` JSON, which streams and records they cover.

A record as OOI's annotation service returned it::

    {"@class": ".AnnotationRecord", "id": 12, "subsite": "CE02SHSM", "node": "SBD11",
     "sensor": "06-METBKA000", "method": null, "stream": null, "parameters": [],
     "beginDT": 1459468800000, "endDT": null, "annotation": "Sensor failed",
     "exclusionFlag": true, "qcFlag": "fail", "source": "ops@ooi"}

``subsite`` is required; ``node``, ``sensor``, ``method`` and ``stream`` may be null (or absent, or
``""``), meaning *any* (a wildcard). ``beginDT``/``endDT`` are milliseconds since 1970 (Unix), the
end null for "still open". ``parameters`` lists preload parameter ids (names are accepted too);
empty means the whole stream.

An *exclusion* annotation (``exclusionFlag`` true) removes data: records whose time lies in
``[begin, end]`` (end inclusive, as the original's ``time <= endDT``; no end = everything after
``begin``). A stream-wide one (no parameters) removes the records; one naming parameters makes
only those parameters missing there (see :func:`exclusion_masks`).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np

from stream_engine.assets import NTP_UNIX_OFFSET
from stream_engine.quality.records_file import store_checked

if TYPE_CHECKING:
    from stream_engine.preload.model import Parameter
    from stream_engine.store.base import Store, StreamKey

KIND = "annotation"
_KEY_FIELDS = ("subsite", "node", "sensor", "method", "stream")


@dataclass(frozen=True, slots=True)
class Annotation:
    """One annotation, parsed; ``record`` is the stored JSON object."""

    id: int
    subsite: str
    node: str | None
    sensor: str | None
    method: str | None
    stream: str | None
    begin: float
    end: float | None
    text: str
    exclusion: bool
    qc_flag: str | None
    parameters: tuple[int | str, ...]
    record: Mapping[str, Any]

    def applies_to(self, key: StreamKey) -> bool:
        """Whether the annotation's designator (wildcards included) matches the stream."""
        return all(getattr(self, f) in (None, getattr(key, f)) for f in _KEY_FIELDS)

    def overlaps(self, first: float, last: float) -> bool:
        """Whether ``[begin, end]`` meets the closed time interval ``[first, last]`` (NTP s)."""
        return self.begin <= last and (self.end is None or self.end >= first)

    def names(self, parameter: Parameter) -> bool:
        """Whether the annotation covers ``parameter`` (every parameter when it names none)."""
        return not self.parameters or parameter.id in self.parameters or parameter.name in self.parameters

    def covers(self, times: np.ndarray) -> np.ndarray:
        """Which of ``times`` (NTP s) fall in the annotation's span."""
        inside = times >= self.begin
        if self.end is not None:
            inside &= times <= self.end
        return np.asarray(inside, dtype=bool)


def ntp_iso(seconds: float) -> str:
    """NTP seconds as ISO 8601 UTC with milliseconds (``2016-04-01T00:00:00.000Z``)."""
    moment = datetime(1900, 1, 1, tzinfo=UTC) + timedelta(seconds=float(seconds))
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _ms_to_ntp(value: Any, field: str, allow_null: bool) -> float | None:
    if value is None and allow_null:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{field} must be milliseconds since 1970-01-01 (a number), got {value!r}")
    return float(value) / 1000.0 + NTP_UNIX_OFFSET


def _optional_text(record: Mapping[str, Any], field: str) -> str | None:
    value = record.get(field)
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise ValueError(f"{field} must be a string or null, got {value!r}")
    return value


def parse_annotation(record: Mapping[str, Any]) -> Annotation:
    """Check and parse one ``.AnnotationRecord`` (``id`` may be absent before it is stored).

    Raises
    ------
    ValueError
        Naming the field that is wrong.
    """
    if not isinstance(record, Mapping):
        raise ValueError(f"an annotation must be a JSON object, got {record!r}")
    subsite = _optional_text(record, "subsite")
    if subsite is None:
        raise ValueError("subsite is required (node, sensor, method and stream may be null)")
    begin = _ms_to_ntp(record.get("beginDT"), "beginDT", allow_null=False)
    end = _ms_to_ntp(record.get("endDT"), "endDT", allow_null=True)
    assert begin is not None
    if end is not None and end < begin:
        raise ValueError(f"endDT {record.get('endDT')!r} is before beginDT {record.get('beginDT')!r}")
    params = record.get("parameters") or []
    if not isinstance(params, list) or any(isinstance(p, bool) or not isinstance(p, int | str) for p in params):
        raise ValueError(f"parameters must be a list of parameter ids or names, got {params!r}")
    exclusion = record.get("exclusionFlag", False)
    if not isinstance(exclusion, bool):
        raise ValueError(f"exclusionFlag must be true or false, got {exclusion!r}")
    text = record.get("annotation", "")
    if not isinstance(text, str):
        raise ValueError(f"annotation must be a string, got {text!r}")
    rid = record.get("id", 0)
    return Annotation(
        id=rid if isinstance(rid, int) and not isinstance(rid, bool) else 0,
        subsite=subsite, node=_optional_text(record, "node"), sensor=_optional_text(record, "sensor"),
        method=_optional_text(record, "method"), stream=_optional_text(record, "stream"),
        begin=begin, end=end, text=text, exclusion=exclusion, qc_flag=_optional_text(record, "qcFlag"),
        parameters=tuple(params), record=dict(record),
    )


def load_annotations(store: Store, records: Iterable[Mapping[str, Any]]) -> list[int]:
    """Check every record, then store them all in one write; returns their ids.

    Raises
    ------
    ValueError
        ``"record <n>: ..."`` for the first bad record; nothing is stored then.
    """
    return store_checked(store, KIND, records, parse_annotation, ".AnnotationRecord")


def annotations_for(
    store: Store, key: StreamKey, first: float = -math.inf, last: float = math.inf
) -> list[Annotation]:
    """The stored annotations that apply to ``key`` and meet ``[first, last]`` (NTP s), by begin."""
    found = [a for a in map(parse_annotation, store.quality_records(KIND))
             if a.applies_to(key) and a.overlaps(first, last)]
    return sorted(found, key=lambda a: (a.begin, a.id))


def stream_digest(annotations: Sequence[Annotation]) -> str:
    """A short digest of the annotations of one stream: part of what a cached answer depends on,
    so adding an annotation changes it for the streams it touches and no others."""
    text = json.dumps([a.record for a in annotations], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def describe(a: Annotation) -> str:
    """One line saying what an annotation covers: id, span, parameters, flags, text."""
    span = f"{ntp_iso(a.begin)} to {'open end' if a.end is None else ntp_iso(a.end)}"
    params = f"parameters {', '.join(map(str, a.parameters))}" if a.parameters else "all parameters"
    flags = ("exclusion, " if a.exclusion else "") + (f"qcFlag {a.qc_flag}, " if a.qc_flag else "")
    return f"annotation {a.id}: {span}, {params}, {flags}{a.text!r}"


def annotation_attributes(found: Sequence[Annotation]) -> dict[str, str]:
    """Dataset attributes naming the annotations of a stream: ``annotations`` (every one, one per
    line) and ``annotations_excluded`` (the exclusion ones: their records are missing, or their
    named parameters are). Empty when there are none."""
    if not found:
        return {}
    out = {"annotations": "\n".join(describe(a) for a in found)}
    excluded = [a for a in found if a.exclusion]
    if excluded:
        out["annotations_excluded"] = "\n".join(
            describe(a) + (" -- values of those parameters are missing there" if a.parameters
                           else " -- every variable but time and deployment is missing there")
            for a in excluded)
    return out


@dataclass(frozen=True, slots=True)
class ExclusionMasks:
    """Which records of a stretch of times exclusion annotations remove.

    ``records``: removed whole (a stream-wide exclusion covers them); ``by_annotation``: the
    records each exclusion annotation covers, by id, for saying which annotation removed what.
    """

    records: np.ndarray
    by_annotation: dict[int, np.ndarray]
    annotations: tuple[Annotation, ...]

    def parameter(self, parameter: Parameter) -> np.ndarray:
        """Records in which ``parameter`` is missing: the stream-wide exclusions, and those of
        exclusion annotations that name it."""
        out = self.records.copy()
        for a in self.annotations:
            if a.parameters and a.names(parameter):
                out |= self.by_annotation[a.id]
        return out


def exclusion_masks(annotations: Sequence[Annotation], times: np.ndarray) -> ExclusionMasks | None:
    """The exclusion masks over ``times`` (NTP s); ``None`` when no exclusion covers any of them."""
    times = np.asarray(times, dtype=np.float64)
    records = np.zeros(len(times), dtype=bool)
    by_id: dict[int, np.ndarray] = {}
    used = []
    for a in annotations:
        if not a.exclusion:
            continue
        covered = a.covers(times)
        if not covered.any():
            continue
        by_id[a.id] = covered
        used.append(a)
        if not a.parameters:
            records |= covered
    if not used:
        return None
    return ExclusionMasks(records, by_id, tuple(used))
