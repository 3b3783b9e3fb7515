"""Deployments, locations and calibration coefficients from asset-management event JSON.

The input is what the OOI asset-management service returns for a reference designator: a JSON
list of events. Events of type ``DEPLOYMENT`` (``@class`` ``.XDeployment``) carry the deployment
number, the start and stop times (Unix milliseconds), the location and, under
``sensor.calibration``, the calibration coefficients of the instrument, each with a list of
``calData`` values that came into force at their own ``eventStartTime``. Other event types are
ignored (and counted).

Rules, as the original Stream Engine applied them:

* times become NTP seconds (``unix + 2208988800``);
* an open deployment (no stop time) is closed at the start of the next deployment of the same
  reference designator; only the last one may stay open (``stop is None``);
* a coefficient's value at time ``t`` is the one with the latest start ``<= t``; before the first
  start, the first value is used (calibrations are usually dated before the deployment);
* ``CC_lat``/``CC_latitude``, ``CC_lon``/``CC_longitude`` and ``CC_depth`` come from the
  deployment location when it has one.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from stream_engine.asset_merge import MergeSummary, merge_events
from stream_engine.errors import IngestError

if TYPE_CHECKING:
    from stream_engine.store.base import Store

log = logging.getLogger(__name__)

NTP_UNIX_OFFSET = 2208988800.0
DEPLOYMENT_EVENT = "DEPLOYMENT"
_LOCATION_CALIBRATIONS = {
    "CC_lat": "lat",
    "CC_latitude": "lat",
    "CC_lon": "lon",
    "CC_longitude": "lon",
    "CC_depth": "depth",
}


def unix_ms_to_ntp(ms: float) -> float:
    """Unix milliseconds (asset-management times) to NTP seconds."""
    return ms / 1000.0 + NTP_UNIX_OFFSET


def ntp_to_unix_ms(ntp: float) -> int:
    """NTP seconds to Unix milliseconds (rounded), the inverse of :func:`unix_ms_to_ntp`."""
    return round((ntp - NTP_UNIX_OFFSET) * 1000.0)


@dataclass(frozen=True, slots=True, eq=False)
class CalibrationValue:
    """One value of a calibration coefficient, in force from ``start`` (NTP seconds) on."""

    name: str
    start: float
    value: float | np.ndarray

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CalibrationValue):
            return NotImplemented
        return (
            self.name == other.name
            and self.start == other.start
            and np.array_equal(self.value, other.value, equal_nan=True)
        )

    def __hash__(self) -> int:
        return hash((self.name, self.start))


@dataclass(frozen=True, slots=True)
class Deployment:
    """A period an instrument was in the water, with its location and calibrations.

    ``start``/``stop`` are NTP seconds; ``stop is None`` means still deployed. ``calibrations``
    maps each ``CC_`` name to its values sorted by start.
    """

    refdes: str
    number: int
    start: float
    stop: float | None
    lat: float | None
    lon: float | None
    depth: float | None
    calibrations: Mapping[str, tuple[CalibrationValue, ...]] = field(
        default_factory=dict, hash=False, compare=False
    )

    def covers(self, t: Any) -> Any:
        """Whether ``start <= t < stop``; works on a number (bool) or an array (bool array)."""
        if self.stop is None:
            return t >= self.start
        if isinstance(t, np.ndarray):
            return (t >= self.start) & (t < self.stop)
        return self.start <= t < self.stop


# -- parsing -----------------------------------------------------------------------------------


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise IngestError(f"{what} must be a number, got {value!r}")
    return float(value)


def _optional_number(value: Any, what: str) -> float | None:
    return None if value is None else _number(value, what)


def event_refdes(event: Mapping[str, Any]) -> str:
    """The reference designator of an event: ``referenceDesignator`` (text or
    ``{subsite, node, sensor}``), else ``eventName``."""
    rd = event.get("referenceDesignator")
    if isinstance(rd, Mapping):
        parts = [rd.get(k) for k in ("subsite", "node", "sensor")]
        names = [p for p in parts if isinstance(p, str) and p]
        rd = "-".join(names) if len(names) == len(parts) else None
    if not isinstance(rd, str) or not rd:
        rd = event.get("eventName")
    if not isinstance(rd, str) or rd.count("-") < 3 or any(c in rd for c in " /|"):
        raise IngestError(
            "event has no usable reference designator (referenceDesignator or eventName like "
            f"'CE02SHSM-SBD11-06-METBKA000'), got {rd!r}"
        )
    return rd


def _cal_value(data: Mapping[str, Any], what: str) -> float | np.ndarray:
    raw = data.get("value")
    if raw is None and "values" in data:  # older service format: flat values + dimensions
        raw = data["values"]
        dims = data.get("dimensions")
        if isinstance(raw, list) and isinstance(dims, list) and dims:
            if dims == [1] and len(raw) == 1:
                raw = raw[0]
            elif math.prod(dims) == len(raw):
                raw = np.asarray(raw, dtype=object).reshape(dims).tolist()
    if raw is None:
        raise IngestError(f"{what} has no value")
    if isinstance(raw, list):
        try:
            arr = np.array([np.nan if v is None else v for v in raw], dtype=np.float64) if (
                raw and not isinstance(raw[0], list)
            ) else np.array(
                [[np.nan if v is None else v for v in row] for row in raw], dtype=np.float64
            )
        except (TypeError, ValueError):
            raise IngestError(
                f"{what} must be a number or a (nested) list of numbers of equal lengths, "
                f"got {str(raw)[:80]}"
            ) from None
        arr.setflags(write=False)
        return arr
    return _number(raw, what)


def _calibrations(event: Mapping[str, Any], where: str) -> dict[str, tuple[CalibrationValue, ...]]:
    sensor = event.get("sensor") or {}
    if not isinstance(sensor, Mapping):
        raise IngestError(f"{where}: 'sensor' must be an object, got {type(sensor).__name__}")
    cals = sensor.get("calibration") or []
    if not isinstance(cals, list):
        raise IngestError(f"{where}: 'sensor.calibration' must be a list")
    out: dict[str, list[CalibrationValue]] = {}
    for cal in cals:
        if not isinstance(cal, Mapping) or not isinstance(cal.get("name"), str):
            raise IngestError(f"{where}: each calibration needs a 'name', got {str(cal)[:80]}")
        name = cal["name"]
        data_list = cal.get("calData") or []
        if not isinstance(data_list, list):
            raise IngestError(f"{where}: calibration {name!r} 'calData' must be a list")
        for data in data_list:
            what = f"{where}: calibration {name!r}"
            if not isinstance(data, Mapping):
                raise IngestError(f"{what}: each calData entry must be an object")
            start = unix_ms_to_ntp(_number(data.get("eventStartTime"), f"{what} eventStartTime"))
            out.setdefault(name, []).append(CalibrationValue(name, start, _cal_value(data, what)))
    return {k: tuple(sorted(v, key=lambda c: c.start)) for k, v in out.items()}


def _location(event: Mapping[str, Any], where: str) -> tuple[float | None, float | None, float | None]:
    loc = event.get("location") or {}
    if not isinstance(loc, Mapping):
        raise IngestError(f"{where}: 'location' must be an object")
    return (
        _optional_number(loc.get("latitude"), f"{where}: location.latitude"),
        _optional_number(loc.get("longitude"), f"{where}: location.longitude"),
        _optional_number(loc.get("depth"), f"{where}: location.depth"),
    )


def is_deployment_event(event: Mapping[str, Any]) -> bool:
    return event.get("eventType") == DEPLOYMENT_EVENT or event.get("@class") == ".XDeployment"


def _parse_deployment(event: Mapping[str, Any], index: int) -> Deployment:
    try:
        refdes = event_refdes(event)
    except IngestError as exc:
        raise IngestError(f"event {index}: {exc}") from None
    where = f"event {index} ({refdes})"
    number = event.get("deploymentNumber")
    if isinstance(number, bool) or not isinstance(number, int) or number < 0:
        raise IngestError(f"{where}: deploymentNumber must be a non-negative integer, got {number!r}")
    where = f"event {index} ({refdes} deployment {number})"
    start = unix_ms_to_ntp(_number(event.get("eventStartTime"), f"{where}: eventStartTime"))
    stop_ms = _optional_number(event.get("eventStopTime"), f"{where}: eventStopTime")
    stop = None if stop_ms is None else unix_ms_to_ntp(stop_ms)
    if stop is not None and stop <= start:
        raise IngestError(f"{where}: eventStopTime {stop_ms!r} is not after eventStartTime")
    lat, lon, depth = _location(event, where)
    return Deployment(refdes, number, start, stop, lat, lon, depth, _calibrations(event, where))


def _close_open(deps: list[Deployment]) -> list[Deployment]:
    """Sort by (start, number) and close each open deployment at the next one's start."""
    deps = sorted(deps, key=lambda d: (d.start, d.number))
    out = []
    for i, d in enumerate(deps):
        if d.stop is None and i + 1 < len(deps):
            nxt = deps[i + 1].start
            d = Deployment(d.refdes, d.number, d.start, nxt, d.lat, d.lon, d.depth, d.calibrations)
        out.append(d)
    return sorted(out, key=lambda d: (d.number, d.start))


def parse_events(events: list[dict[str, Any]]) -> list[Deployment]:
    """Deployments found in a list of asset-management events (other event types are ignored).

    Parameters
    ----------
    events
        Events as decoded from JSON; they may belong to several reference designators.

    Returns
    -------
    Deployments sorted by (refdes, number, start). Of two events with the same refdes and
    number, the one with the higher ``versionNumber`` (else the later one) wins.

    Raises
    ------
    IngestError
        An event of type DEPLOYMENT is malformed; the message says which and why.
    """
    if not isinstance(events, list):
        raise IngestError(f"asset events must be a JSON list of events, got {type(events).__name__}")
    chosen: dict[tuple[str, int], tuple[int, Deployment]] = {}
    for index, event in enumerate(events):
        if not isinstance(event, Mapping):
            raise IngestError(f"event {index} must be a JSON object, got {type(event).__name__}")
        if not is_deployment_event(event):
            continue
        dep = _parse_deployment(event, index)
        version = event.get("versionNumber")
        version = version if isinstance(version, int) and not isinstance(version, bool) else 0
        key = (dep.refdes, dep.number)
        if key not in chosen or version >= chosen[key][0]:
            chosen[key] = (version, dep)
    by_refdes: dict[str, list[Deployment]] = {}
    for _, dep in chosen.values():
        by_refdes.setdefault(dep.refdes, []).append(dep)
    return [d for refdes in sorted(by_refdes) for d in _close_open(by_refdes[refdes])]


# -- files and the store ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EventFile:
    """A validated event file: deployment events grouped by refdes, and what was ignored."""

    path: Path
    events: dict[str, list[dict[str, Any]]]
    ignored: int

    @property
    def deployment_count(self) -> int:
        return sum(len(v) for v in self.events.values())


def read_event_file(path: Path) -> EventFile:
    """Read and validate an asset-management event file without storing anything.

    Raises
    ------
    IngestError
        The file cannot be read, is not JSON, or holds a malformed deployment event; the
        message names the file and the problem.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise IngestError(f"{path}: cannot read asset event file ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise IngestError(f"{path}: not a UTF-8 text file; expected asset-management event JSON") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise IngestError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})") from None
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        raise IngestError(f"{path}: expected a JSON list of asset-management events, got {type(data).__name__}")
    try:
        parse_events(data)
    except IngestError as exc:
        raise IngestError(f"{path}: {exc}") from None
    grouped: dict[str, list[dict[str, Any]]] = {}
    ignored = 0
    for event in data:
        if is_deployment_event(event):
            grouped.setdefault(event_refdes(event), []).append(event)
        else:
            ignored += 1
    if not grouped:
        raise IngestError(f"{path}: no DEPLOYMENT events found ({ignored} other events); nothing to load")
    return EventFile(path, grouped, ignored)


def load_event_file(store: Store, path: Path, *, replace: bool = False) -> MergeSummary:
    """Validate an event file and merge its deployments into the store.

    Deployments are identified by reference designator and deployment number: those of the
    file are added or replaced (with their calibrations and location), the store's other
    deployments are kept (:mod:`stream_engine.asset_merge`). ``replace=True`` makes the file
    the whole record of each reference designator it names.

    Returns
    -------
    MergeSummary
        Deployments added, replaced, unchanged (and removed, with ``replace``), sorted.

    Raises
    ------
    IngestError
        Bad JSON or a malformed event; nothing is stored.
    """
    parsed = read_event_file(path)
    summary = MergeSummary(ignored=parsed.ignored)
    if parsed.ignored:
        log.info("%s: ignored %d non-deployment events", parsed.path, parsed.ignored)
    for refdes, events in sorted(parsed.events.items()):
        before = len(summary.replaced) + len(summary.added) + len(summary.removed)
        merged = merge_events(refdes, store.asset_events(refdes), events, summary, replace=replace)
        if len(summary.replaced) + len(summary.added) + len(summary.removed) > before:
            store.put_asset_events(refdes, merged)
    return summary.sort()


#: Deployments parsed from asset events, by (store folder, refdes, change token); bounded.
_parsed: dict[tuple[str, str, int, float], tuple[Deployment, ...]] = {}
_PARSED_MOST = 256


def deployments(store: Store, refdes: str) -> list[Deployment]:
    """The deployments of a reference designator, sorted by number then start (empty if none).

    Parsing the events (JSON, every calibration) cost more than anything else in a ``.dds``;
    the result is kept per process under the refdes's asset change token of a store with local
    files, so events are parsed again only after a ``put_asset_events`` for that refdes.
    """
    token = store.asset_token(refdes)
    folder = store.local_folder() if token is not None else None
    if token is None or folder is None:
        return [d for d in parse_events(store.asset_events(refdes)) if d.refdes == refdes]
    key = (str(folder), refdes, token.generation, token.modified)
    found = _parsed.get(key)
    if found is None:
        found = tuple(d for d in parse_events(store.asset_events(refdes)) if d.refdes == refdes)
        if len(_parsed) >= _PARSED_MOST:
            _parsed.clear()
        _parsed[key] = found
    return list(found)


# -- lookups -------------------------------------------------------------------------------


def deployment_numbers_at(deps: Sequence[Deployment], times: np.ndarray) -> np.ndarray:
    """The deployment number covering each time (int32), 0 where none does.

    Where deployments overlap, the one that started later wins.
    """
    times = np.asarray(times, dtype=np.float64)
    out = np.zeros(times.shape, dtype=np.int32)
    for dep in sorted(deps, key=lambda d: (d.start, d.number)):
        out[dep.covers(times)] = dep.number
    return out


def deployment_for(deps: Iterable[Deployment], number: int) -> Deployment | None:
    """The deployment with a given number, or None."""
    return next((d for d in deps if d.number == number), None)


def calibration_values(dep: Deployment, name: str, times: np.ndarray) -> np.ndarray | None:
    """The value of a coefficient in force at each time.

    The value with the latest start ``<= t`` wins; before the first start the first value is
    used. Location names (``CC_lat``, ``CC_lon``, ``CC_depth`` and the long forms) come from the
    deployment location when it has one.

    Returns
    -------
    ``(len(times),)`` float64 for scalar coefficients, ``(len(times), *shape)`` for array ones;
    None when the deployment has no such coefficient.

    Raises
    ------
    ValueError
        The coefficient's values have different shapes at different times.
    """
    times = np.asarray(times, dtype=np.float64).reshape(-1)
    attr = _LOCATION_CALIBRATIONS.get(name)
    if attr is not None and getattr(dep, attr) is not None:
        return np.full(times.shape, getattr(dep, attr), dtype=np.float64)
    values = dep.calibrations.get(name)
    if not values:
        return None
    starts = np.array([v.start for v in values], dtype=np.float64)
    idx = np.clip(np.searchsorted(starts, times, side="right") - 1, 0, None)
    shapes = {np.shape(v.value) for v in values}
    if len(shapes) > 1:
        raise ValueError(
            f"calibration {name!r} of {dep.refdes} deployment {dep.number} has values of "
            f"different shapes {sorted(shapes)}; fix the asset events"
        )
    stacked = np.stack([np.asarray(v.value, dtype=np.float64) for v in values])
    return stacked[idx]
