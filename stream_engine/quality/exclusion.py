"""Applying exclusion annotations to a chunk of query results (JSON particles, exports).

As the original did (``isel(obs=mask)`` on each stream's dataset), records a stream-wide exclusion
annotation of the primary stream covers are *dropped*: a user asking for data never sees a
record an operator said not to use, and counts and decimation see only the records served. An
exclusion that names parameters (or one on a further stream, whose values are interpolated onto
the primary's times) cannot drop the primary's records: those values become *missing* (``null``
in JSON) where it applies.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from stream_engine.preload.fill_values import fill_value_for
from stream_engine.quality.annotations import Annotation, exclusion_masks

if TYPE_CHECKING:
    from stream_engine.engine.query_run import QueryRun
    from stream_engine.preload.model import Parameter
    from stream_engine.store.base import StreamKey


@dataclass(frozen=True, slots=True)
class MaskedColumn:
    """A result column: its name in the chunk, the stream it comes from and its parameter."""

    name: str
    stream: StreamKey
    parameter: Parameter | None


@dataclass(slots=True)
class ExclusionLog:
    """Records dropped and values made missing so far, by annotation id."""

    dropped: dict[int, int] = field(default_factory=dict)
    masked: dict[int, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, dict[str, int]]:
        return {"records_dropped": {str(k): v for k, v in sorted(self.dropped.items())},
                "values_masked": {str(k): v for k, v in sorted(self.masked.items())}}


def missing_value(values: np.ndarray, parameter: Parameter | None) -> object:
    """How a value of ``values`` is missing (the shared missing-value contract)."""
    if values.dtype.kind == "f":
        return np.nan
    if values.dtype.kind in "USO":
        return ""
    if parameter is not None:
        return fill_value_for(parameter.value_encoding, "" if parameter.fill_value is None else str(parameter.fill_value))
    return 0


def apply_exclusions(
    data: dict[str, np.ndarray],
    times: np.ndarray,
    primary: StreamKey,
    columns: Sequence[MaskedColumn],
    by_stream: Mapping[StreamKey, Sequence[Annotation]],
    log: ExclusionLog | None = None,
) -> dict[str, np.ndarray]:
    """``data`` (columns of equal length, ``times`` their NTP times) with exclusions applied.

    Returns a new dict when anything changed; ``data`` itself is not modified.
    """
    masks = {key: exclusion_masks(found, times) for key, found in by_stream.items() if found}
    masks = {key: m for key, m in masks.items() if m is not None}
    if not masks:
        return data
    out = dict(data)
    for col in columns:
        m = masks.get(col.stream)
        if m is None or col.parameter is None or col.name not in out:
            continue
        hide = m.parameter(col.parameter)
        if col.stream == primary:
            hide &= ~m.records  # those records are dropped below
        if hide.any():
            values = out[col.name].copy()
            values[hide] = missing_value(values, col.parameter)
            out[col.name] = values
            if log is not None:
                for a in m.annotations:
                    n = int((m.by_annotation[a.id] & hide).sum())
                    if n:
                        log.masked[a.id] = log.masked.get(a.id, 0) + n
    primary_mask = masks.get(primary)
    if primary_mask is not None and primary_mask.records.any():
        keep = ~primary_mask.records
        out = {name: values[keep] for name, values in out.items()}
        if log is not None:
            for a in primary_mask.annotations:
                if not a.parameters:
                    log.dropped[a.id] = log.dropped.get(a.id, 0) + int(primary_mask.by_annotation[a.id].sum())
    return out


def run_annotations(run: QueryRun) -> list[dict[str, object]]:
    """The annotation records (OOI JSON) of every stream of a query that meet its time range."""
    seen: dict[int, dict[str, object]] = {}
    for found in run.annotations.values():
        for a in found:
            seen.setdefault(a.id, dict(a.record))
    return [seen[i] for i in sorted(seen)]


def exclusion_messages(log: ExclusionLog) -> list[str]:
    """One line per exclusion annotation that removed something from the answer."""
    lines = [f"annotation {i} (exclusion) removed {n} records" for i, n in sorted(log.dropped.items())]
    lines += [f"annotation {i} (exclusion) made {n} values missing" for i, n in sorted(log.masked.items())]
    return lines
