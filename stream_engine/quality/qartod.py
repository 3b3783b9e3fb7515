"""QARTOD tests through ``ioos_qc``: OOI ``.QartodTestRecord`` JSON, matching, running on a slice.

A record as OOI's QARTOD test service returned it::

    {"@class": ".QartodTestRecord", "id": 7,
     "refDes": {"subsite": "CE07SHSM", "node": "MFD37", "sensor": "03-CTDBPC000"},
     "stream": "ctdbp_cdef_instrument_recovered",
     "parameters": "{'inp': 'practical_salinity', 'tinp': 'time', 'zinp': 'None'}",
     "qcConfig": "{'qartod': {'gross_range_test': {'suspect_span': [30, 37], 'fail_span': [0, 42]}}}",
     "source": "..."}

``refDes`` may also be a ``subsite-node-sensor`` string; a null (or ``""``) refDes field or stream
is a wildcard. ``parameters`` and ``qcConfig`` are JSON objects or strings holding them (the
service sent Python-literal strings; those are read too). ``inp`` names the tested parameter (preload
name), ``tinp`` is time. Tests run with ``ioos_qc``'s ``QcConfig`` on time as UTC ``datetime64``.

Results follow the QARTOD convention (1 pass, 2 not evaluated, 3 suspect or of high interest, 4 fail,
9 missing). As the original, ``<param>_qartod_results`` is the largest flag of the tests run on a
record and ``<param>_qartod_executed`` one digit per test in the order of ``tests_executed``.

Tests that look at neighbours (spike: the records before and after; rate of change: the one
before; flat line: the ``fail_threshold`` seconds before) are given a *context* around a slice
(:func:`context_needed`), so a slice's flags equal a whole-stream run's.
"""

from __future__ import annotations

import ast
import json
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from stream_engine.assets import NTP_UNIX_OFFSET
from stream_engine.quality.records_file import store_checked

if TYPE_CHECKING:
    from stream_engine.store.base import Store, StreamKey

KIND = "qartod"
FLAG_VALUES = np.array([1, 2, 3, 4, 9], dtype=np.uint8)
FLAG_MEANINGS = "pass not_evaluated suspect_or_of_high_interest fail missing_data"
MISSING_FLAG = 9
#: Tests whose flag for a record depends on its neighbours in the stream.
WINDOW_TESTS = ("spike_test", "rate_of_change_test", "flat_line_test")


def _object(value: Any, field: str) -> dict[str, Any]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            try:
                value = ast.literal_eval(value)
            except (ValueError, SyntaxError) as exc:
                raise ValueError(f"{field} is neither a JSON object nor a literal one: {exc}") from None
    if not isinstance(value, dict):
        raise ValueError(f"{field} must be an object (or a string holding one), got {value!r}")
    return value


@dataclass(frozen=True, slots=True)
class QartodRecord:
    """One parsed QARTOD test record; ``record`` is the stored JSON object."""

    id: int
    subsite: str | None
    node: str | None
    sensor: str | None
    stream: str | None
    parameter: str
    inputs: Mapping[str, str]
    config: Mapping[str, Any]
    record: Mapping[str, Any]

    def applies_to(self, key: StreamKey) -> bool:
        """Whether the record's designator and stream (wildcards included) match ``key``."""
        return all(getattr(self, f) in (None, getattr(key, f)) for f in ("subsite", "node", "sensor", "stream"))

    @property
    def tests(self) -> list[str]:
        """The test names, in the order they run (``qartod.<test>``)."""
        return [f"{module}.{name}" for module, tests in self.config.items() for name in tests]


def _refdes(value: Any) -> tuple[str | None, str | None, str | None]:
    if value in (None, ""):
        return None, None, None
    if isinstance(value, str):
        parts = value.split("-", 2)
        if len(parts) != 3:
            raise ValueError(f"refDes {value!r} is not subsite-node-sensor")
        return tuple(p or None for p in parts)  # type: ignore[return-value]
    if isinstance(value, Mapping):
        out = tuple(value.get(f) or None for f in ("subsite", "node", "sensor"))
        if any(v is not None and not isinstance(v, str) for v in out):
            raise ValueError(f"refDes fields must be strings or null, got {value!r}")
        return out  # type: ignore[return-value]
    raise ValueError(f"refDes must be an object, a subsite-node-sensor string or null, got {value!r}")


def parse_qartod(record: Mapping[str, Any]) -> QartodRecord:
    """Check and parse one ``.QartodTestRecord``.

    Raises
    ------
    ValueError
        Naming the field that is wrong (including a ``qcConfig`` ``ioos_qc`` refuses).
    """
    if not isinstance(record, Mapping):
        raise ValueError(f"a QARTOD test record must be a JSON object, got {record!r}")
    subsite, node, sensor = _refdes(record.get("refDes"))
    stream = record.get("stream") or None
    if stream is not None and not isinstance(stream, str):
        raise ValueError(f"stream must be a string or null, got {stream!r}")
    inputs = {k: v for k, v in _object(record.get("parameters"), "parameters").items()
              if v not in (None, "None", "")}
    parameter = inputs.get("inp")
    if not isinstance(parameter, str):
        raise ValueError(f"parameters must name the tested parameter as 'inp', got {record.get('parameters')!r}")
    config = _object(record.get("qcConfig"), "qcConfig")
    if not config or not all(isinstance(t, dict) and t for t in config.values()):
        raise ValueError(f"qcConfig must map a module (e.g. 'qartod') to its tests, got {config!r}")
    _dry_run(_column_config(config, 0))  # per-column spans (2-D parameters): the first column
    rid = record.get("id", 0)
    return QartodRecord(
        id=rid if isinstance(rid, int) and not isinstance(rid, bool) else 0,
        subsite=subsite, node=node, sensor=sensor, stream=stream, parameter=parameter,
        inputs=inputs, config=config, record=dict(record),
    )


def _qc_config(config: Mapping[str, Any]) -> Any:
    from ioos_qc.config import QcConfig

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            return QcConfig(dict(config))
        except Exception as exc:  # ioos_qc raises assorted errors for a bad config
            raise ValueError(f"qcConfig is not a valid ioos_qc configuration: {exc}") from None


def _dry_run(config: Mapping[str, Any]) -> None:
    """Run the tests on three values, so that a configuration ioos_qc cannot run is refused
    when it is loaded rather than when data is served."""
    stamps = np.array([0, 60, 120], dtype="datetime64[s]")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            ran = _qc_config(config).run(inp=np.ma.masked_invalid([1.0, 2.0, 3.0]), tinp=stamps,
                                         zinp=np.ma.masked_invalid([0.0, 0.0, 0.0]))
        except ValueError:
            raise
        except Exception as exc:  # ioos_qc raises assorted errors for a bad config
            raise ValueError(f"qcConfig cannot be run by ioos_qc: {type(exc).__name__}: {exc}") from None
    done = {f"{module}.{test}" for module, tests in ran.items() for test in tests}
    skipped = [name for name in (f"{m}.{t}" for m, tests in config.items() for t in tests) if name not in done]
    if skipped:
        raise ValueError(f"qcConfig: ioos_qc cannot run {', '.join(skipped)} with the arguments given")


def load_qartod(store: Store, records: Iterable[Mapping[str, Any]]) -> list[int]:
    """Check every record, then store them all in one write; returns their ids.

    Raises
    ------
    ValueError
        ``"record <n>: ..."`` for the first bad record; nothing is stored then.
    """
    return store_checked(store, KIND, records, parse_qartod, ".QartodTestRecord")


def qartod_for(store: Store, key: StreamKey) -> dict[str, list[QartodRecord]]:
    """The stored QARTOD records applying to ``key``, by tested parameter (preload name)."""
    out: dict[str, list[QartodRecord]] = {}
    for record in map(parse_qartod, store.quality_records(KIND)):
        if record.applies_to(key):
            out.setdefault(record.parameter, []).append(record)
    return out


def context_needed(records: Sequence[QartodRecord]) -> tuple[int, float]:
    """Finite neighbours needed on each side of a slice, and seconds needed before it, for the
    window tests of ``records`` to flag a slice as they flag the whole stream."""
    neighbours, seconds = 0, 0.0
    for r in records:
        for tests in r.config.values():
            if "spike_test" in tests or "rate_of_change_test" in tests:
                neighbours = max(neighbours, 1)
            if "flat_line_test" in tests:
                spec = tests["flat_line_test"]
                neighbours = max(neighbours, 1)
                seconds = max(seconds, float(spec.get("fail_threshold", 0)), float(spec.get("suspect_threshold", 0)))
    return neighbours, seconds


@dataclass(frozen=True, slots=True)
class QartodResult:
    """Flags of one parameter: the aggregate per record (per record and column for a 2-D
    parameter), each test's digits, the tests' names and why any record was not run."""

    results: np.ndarray
    executed: np.ndarray
    tests: tuple[str, ...]
    notes: tuple[str, ...] = ()


#: Test arguments that, for a 2-D parameter, may hold one value per column (a list of spans).
PER_COLUMN = ("suspect_span", "fail_span")


def _column_config(config: Mapping[str, Any], column: int) -> dict[str, Any]:
    """The configuration for one column of a 2-D parameter: per-column spans picked (as the
    original did for the gross range test), everything else as given."""
    out: dict[str, Any] = {}
    for module, tests in config.items():
        out[module] = {}
        for name, kwargs in tests.items():
            picked = dict(kwargs) if isinstance(kwargs, Mapping) else kwargs
            if isinstance(picked, dict):
                for arg in PER_COLUMN:
                    span = picked.get(arg)
                    if isinstance(span, list) and span and isinstance(span[0], list | tuple):
                        picked[arg] = span[min(column, len(span) - 1)]
            out[module][name] = picked
    return out


def run_qartod(records: Sequence[QartodRecord], times: np.ndarray, values: np.ndarray,
               extra: Mapping[str, np.ndarray] | None = None) -> QartodResult:
    """Run the tests of ``records`` on ``values`` at ``times`` (NTP s), with ``ioos_qc``.

    ``extra`` supplies the further inputs by the names the records give (``zinp``, ``lat`` ...);
    a record naming one it lacks is not run (noted). A 2-D ``values`` (records x columns) is tested
    column by column, with that column of any 2-D input and per-column spans. Values that are not
    finite are masked (flag 9), as ioos_qc does for masked input.
    """
    times = np.asarray(times, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    if values.ndim == 2:
        columns = [_run_column(records, times, values[:, j], extra, j) for j in range(values.shape[1])]
        if not columns:
            return QartodResult(np.full(values.shape, 2, np.uint8), np.full(values.shape, "", "U1"), ())
        width = max(c.executed.dtype.itemsize // 4 for c in columns) or 1
        return QartodResult(np.column_stack([c.results for c in columns]),
                            np.column_stack([c.executed.astype(f"U{width}") for c in columns]),
                            columns[0].tests, columns[0].notes)
    return _run_column(records, times, values, extra, None)


def _run_column(records: Sequence[QartodRecord], times: np.ndarray, values: np.ndarray,
                extra: Mapping[str, np.ndarray] | None, column: int | None) -> QartodResult:
    stamps = ((times - NTP_UNIX_OFFSET) * 1e6).astype("datetime64[us]")
    inp = np.ma.masked_invalid(values)
    flags: list[np.ndarray] = []
    names: list[str] = []
    notes: list[str] = []
    for record in records:
        kwargs: dict[str, Any] = {"inp": inp, "tinp": stamps}
        lacking = []
        for arg, name in record.inputs.items():
            if arg in ("inp", "tinp"):
                continue
            found = None if extra is None else extra.get(name)
            if found is None:
                lacking.append(f"{arg} ({name!r})")
                continue
            found = np.asarray(found, dtype=np.float64)
            if found.ndim == 2:
                found = found[:, column if column is not None and column < found.shape[1] else 0]
            kwargs[arg] = np.ma.masked_invalid(found)
        if lacking:
            notes.append(f"QARTOD record {record.id} on {record.parameter} not run: no {', '.join(lacking)} "
                         "(neither a parameter of the stream nor of a co-located stream)")
            continue
        config = record.config if column is None else _column_config(record.config, column)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = _qc_config(config).run(**kwargs)
        for module, tests in out.items():
            for test, result in tests.items():
                names.append(f"{module}.{test}")
                flags.append(np.ma.filled(result, MISSING_FLAG).astype(np.uint8))
    if not flags:
        empty = np.full(len(times), 2, dtype=np.uint8)
        return QartodResult(empty, np.full(len(times), "", dtype="U1"), (), tuple(notes))
    stacked = np.vstack(flags)
    executed = np.array(["".join(map(str, column)) for column in stacked.T], dtype=f"U{len(flags)}")
    return QartodResult(stacked.max(axis=0), executed, tuple(names), tuple(notes))
