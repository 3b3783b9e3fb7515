"""Selections on ``time`` in a DAP2 constraint: dates instead of indices.

A constraint may carry clauses such as ``&time>=3.9e9&time<3.91e9`` or
``&time>="2019-05-01"&time<2019-05-02T12:00:00Z``: numbers are in the units of the ``time``
variable (NTP seconds, ``seconds since 1900-01-01``), strings are ISO 8601 (UTC unless they say
otherwise; the quotes are optional). The clauses are intersected into one half-open window, which
the dataset's ``time_index`` maps to a record index range through the partition index; every
variable on the ``time`` dimension is then cut to that range *before* the projection's
hyperslabs apply, so ``obs`` in the DDS is the window's size and ``time[0:9]`` means the first
ten records of the window. The DAS of a windowed dataset gives the window's ``actual_range`` and
``time_coverage_start``/``_end``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import unquote

import numpy as np

from dap_handlers.errors import ConstraintError
from dap_handlers.model import DapDataset, DapVariable, TimeIndex
from stream_engine.outputs.attributes import ntp_to_iso

TIME = "time"
_NTP_EPOCH = datetime(1900, 1, 1, tzinfo=UTC)
_CLAUSE = re.compile(r"^\s*([A-Za-z_][\w.]*)\s*(<=|>=|!=|=~|<|>|=)\s*(.*?)\s*$")
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """Half-open window ``[start, stop)`` in the units of ``time`` (NTP seconds)."""

    start: float = -math.inf
    stop: float = math.inf

    def narrowed(self, operator: str, value: float) -> TimeWindow:
        """This window intersected with ``time <operator> value``."""
        above = float(np.nextafter(value, math.inf))
        bounds = {
            ">=": (value, math.inf), ">": (above, math.inf), "<": (-math.inf, value),
            "<=": (-math.inf, above), "=": (value, above),
        }[operator]
        return TimeWindow(max(self.start, bounds[0]), min(self.stop, bounds[1]))


def iso_to_ntp(text: str) -> float:
    """ISO 8601 date or date-time (``Z`` or an offset; naive means UTC) as NTP seconds.

    Raises
    ------
    ConstraintError
        If ``text`` is not an ISO 8601 date.
    """
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ConstraintError(
            f"time value {text!r} is neither a number (seconds since 1900-01-01) nor an ISO 8601 "
            "date such as 2019-05-01 or 2019-05-01T12:00:00Z"
        ) from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - _NTP_EPOCH
    return delta.days * 86400.0 + delta.seconds + delta.microseconds / 1e6


def _time_value(text: str) -> float:
    # netCDF-C escapes the quotes of a selection's first string twice (``%2522``)
    for _ in range(2):
        text = unquote(text) if "%" in text else text
    unquoted = text[1:-1] if len(text) >= 2 and text[0] == text[-1] == '"' else text
    if _NUMBER.match(unquoted):
        value = float(unquoted)
        if not math.isfinite(value):
            raise ConstraintError(f"time value {text!r} is not finite")
        return value
    return iso_to_ntp(unquoted)


def parse_time_selections(clauses: list[str]) -> TimeWindow | None:
    """The window selected by ``time`` clauses (``None`` when there are none).

    Raises
    ------
    ConstraintError
        A clause on another variable, an unsupported operator or an unreadable value (HTTP 400).
    """
    if not clauses:
        return None
    window = TimeWindow()
    for clause in clauses:
        match = _CLAUSE.match(clause)
        if match is None:
            raise ConstraintError(f"malformed selection {clause!r}; write e.g. time>=2019-05-01")
        name, operator, value = match.groups()
        if name.rpartition(".")[2] != TIME:
            raise ConstraintError(
                f"selection {clause!r}: only time can be selected by value (time>=..., time<...); "
                "pick other ranges with index hyperslabs, e.g. time[0:99]"
            )
        if operator in ("!=", "=~"):
            raise ConstraintError(
                f"selection {clause!r}: time takes the operators <, <=, >, >= and = only"
            )
        window = window.narrowed(operator, _time_value(value))
    return window


def window_dataset(dataset: DapDataset, window: TimeWindow) -> DapDataset:
    """The records of ``dataset`` inside ``window``: every variable on the time dimension cut.

    Raises
    ------
    ConstraintError
        If the dataset has no ``time`` variable or cannot map times to indices.
    """
    if dataset.time_index is None or TIME not in dataset:
        raise ConstraintError(f"dataset {dataset.name!r} does not support selections on time")
    time_index = dataset.time_index
    dimension = dataset[TIME].dims[0]
    if window.stop <= window.start:
        first = stop = 0
    else:
        first, stop = time_index(window.start, window.stop)
    cut = slice(first, stop)
    variables = [
        v.subset((cut,)) if v.ndim and v.dims[0] == dimension else v for v in dataset.variables
    ]
    attributes = dict(dataset.attributes)
    if stop > first:
        edges = variables[dataset.position(TIME)].read(slice(0, None, max(1, stop - first - 1)))
        low, high = float(edges[0]), float(edges[-1])
        time = variables[dataset.position(TIME)]
        attrs = {**time.attributes, "actual_range": [low, high]}
        variables[dataset.position(TIME)] = DapVariable(
            time.name, time.dtype, time.shape, time.dims, time.read, attrs, time.block_rows
        )
        if "time_coverage_start" in attributes:
            attributes["time_coverage_start"] = ntp_to_iso(low)
        if "time_coverage_end" in attributes:
            attributes["time_coverage_end"] = ntp_to_iso(high)
    return DapDataset(dataset.name, variables, attributes,
                      _window_index(time_index, window, first, stop))


def _window_index(outer: TimeIndex, window: TimeWindow, first: int, stop: int) -> TimeIndex:
    """The time index of a windowed dataset: positions counted from its first record, times
    outside the window holding none (so a dated dataset takes further selections)."""

    def inner(start: float, end: float) -> tuple[int, int]:
        if max(start, window.start) >= min(end, window.stop):
            return 0, 0
        low, high = outer(max(start, window.start), min(end, window.stop))
        low, high = min(max(low, first), stop), min(max(high, first), stop)
        return low - first, max(low, high) - first

    return inner
