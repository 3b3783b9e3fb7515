"""The original's legacy QC: ``.QCParameterRecord`` records and running them into bitmasks.

Records are ``.QCParameterRecord`` JSON as OOI's QC service returned them (one argument per record:
``qcParameterPK.qcId`` the function, ``.parameter`` the argument, ``.streamParameter`` the tested
parameter; ``value`` with ``valueType``). A ``VECTOR`` value names per-record values: ``"data"``
the tested values, ``"time"`` the times, any other name a parameter of the dataset (stored or
product, by preload or variable name). A ``LIST`` value is a list, as the service wrote it
(``"[0 2 1 8]"``) or as JSON (``[[0, 2], [1, 8]]``, names quoted). The algorithms are in
:mod:`stream_engine.quality.qc_algorithms`; here each function's arguments are gathered:

========================================  ====  =============================================
``qcId``                                  bit   arguments
========================================  ====  =============================================
``dataqc_globalrangetest_minmax``         1     ``dat``, ``dat_min``, ``dat_max``
``dataqc_localrangetest_wrapper``         2     ``dat``, ``datlim`` (LIST, ``m`` x 2),
                                                ``datlimz`` (LIST, ``m`` x ``k``), ``dims``
                                                (LIST of ``k`` names: ``month`` is the month
                                                of the time, any other a dataset parameter)
``dataqc_spiketest_wrapper``              4     ``dat``, ``acc``, ``N``, ``L``
``dataqc_polytrendtest_wrapper``          8     ``dat``, ``t``, ``ord_n``, ``nstd``
``dataqc_stuckvaluetest_wrapper``         16    ``x``, ``reso``, ``num``
``dataqc_gradienttest_wrapper``           32    ``dat``, ``x``, ``ddatdx`` (a bound ``d`` for
                                                ``[-d, d]`` or a LIST of two), ``toldat``;
                                                optional ``mindx``, ``startdat``
``dataqc_propagateflags_wrapper``         128   any argument names, each a VECTOR naming a
                                                flag variable (1 good): a dataset parameter, or
                                                ``<param>_qc_results`` (1 where every legacy
                                                test run on ``param`` passed)
========================================  ====  =============================================

As the original did, for each tested parameter ``<param>_qc_executed`` has the bit of every test
run set and ``<param>_qc_results`` the bit of every test the record passed (any result other than
1 fails: the original forced them to 0); the bits are the ``qcflag`` column of the preload's
``ParameterFunctions``. A function whose arguments are incomplete, or name what the dataset does
not hold, is not run nor marked executed, with a note saying why.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from stream_engine.quality.qc_algorithms import ntp_month
from stream_engine.quality.qc_tests import (
    PROPAGATE,
    QC_TESTS,
    Arguments,
    NotRun,
    QcTest,
    Resolver,
    flatten,
)
from stream_engine.quality.records_file import store_checked

if TYPE_CHECKING:
    from stream_engine.store.base import Store, StreamKey

KIND = "qc"
#: The tested series, the times and the month of the times, as a record's ``value`` names them.
DATA, TIME_VALUE, MONTH = "data", "time", "month"
#: Names a VECTOR or ``dims`` may hold without naming a dataset parameter.
BUILTIN_NAMES = (DATA, TIME_VALUE, MONTH)
QC_RESULTS_SUFFIX = "_qc_results"


@dataclass(frozen=True, slots=True)
class QcArgument:
    """One ``.QCParameterRecord``: a function's argument for one tested parameter."""

    id: int
    subsite: str | None
    node: str | None
    sensor: str | None
    function: str
    argument: str
    parameter: str
    value: float | str | list[Any]
    record: Mapping[str, Any]

    def applies_to(self, key: StreamKey) -> bool:
        return all(getattr(self, f) in (None, getattr(key, f)) for f in ("subsite", "node", "sensor"))


def _list_value(raw: Any) -> list[Any]:
    """A LIST value: a JSON array, or a string holding one or the service's ``[a b c]``."""
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError:
            tokens = [t for t in re.split(r"[\s,\[\]]+", raw) if t]
            raw = tokens
    if not isinstance(raw, list):
        raw = [raw]

    def item(v: Any) -> Any:
        if isinstance(v, list):
            return [item(x) for x in v]
        if isinstance(v, bool) or v is None:
            raise ValueError(f"list item {v!r} is neither a number nor a name")
        try:
            number = float(v)
        except (TypeError, ValueError):
            if isinstance(v, str) and v:
                return v
            raise ValueError(f"list item {v!r} is neither a number nor a name") from None
        if not math.isfinite(number):
            raise ValueError(f"list item {v!r} is not a finite number")
        return number

    out = [item(v) for v in raw]
    if not out:
        raise ValueError("an empty LIST")
    return out


def parse_qc(record: Mapping[str, Any]) -> QcArgument:
    """Check and parse one ``.QCParameterRecord``.

    Raises
    ------
    ValueError
        Naming the field that is wrong.
    """
    if not isinstance(record, Mapping):
        raise ValueError(f"a QC parameter record must be a JSON object, got {record!r}")
    pk = record.get("qcParameterPK")
    if not isinstance(pk, Mapping):
        raise ValueError("qcParameterPK must be an object with qcId, parameter, streamParameter, refDes")
    function, argument, parameter = pk.get("qcId"), pk.get("parameter"), pk.get("streamParameter")
    if function not in QC_TESTS:
        raise ValueError(f"qcParameterPK.qcId {function!r} is not one of {sorted(QC_TESTS)}")
    allowed = QC_TESTS[function].arguments
    if not isinstance(argument, str) or not argument or (allowed is not None and argument not in allowed):
        raise ValueError(f"qcParameterPK.parameter {argument!r} is not an argument of {function} "
                         f"{allowed or '(any name)'}")
    if not isinstance(parameter, str) or not parameter:
        raise ValueError("qcParameterPK.streamParameter must name the tested parameter")
    refdes = pk.get("refDes") or {}
    if not isinstance(refdes, Mapping):
        raise ValueError(f"qcParameterPK.refDes must be an object, got {refdes!r}")
    kind, raw = record.get("valueType"), record.get("value")
    value: float | str | list[Any]
    if kind in ("FLOAT", "INT"):
        try:
            value = float(raw)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise ValueError(f"value {raw!r} is not a number ({kind})") from None
        if not math.isfinite(value):
            raise ValueError(f"value {raw!r} is not a finite number")
    elif kind == "VECTOR":
        if not isinstance(raw, str) or not raw:
            raise ValueError(f"value of a VECTOR must name a parameter, 'data' or 'time', got {raw!r}")
        value = raw
    elif kind == "LIST":
        value = raw if isinstance(raw, str) and raw and not raw.lstrip().startswith("[") else _list_value(raw)
    else:
        raise ValueError(f"valueType must be FLOAT, INT, LIST or VECTOR, got {kind!r}")
    if function == PROPAGATE and not isinstance(value, str):
        raise ValueError(f"the arguments of {PROPAGATE} name flag variables, got {raw!r}")
    rid = record.get("id", 0)
    return QcArgument(
        id=rid if isinstance(rid, int) and not isinstance(rid, bool) else 0,
        subsite=refdes.get("subsite") or None, node=refdes.get("node") or None,
        sensor=refdes.get("sensor") or None, function=str(function), argument=argument,
        parameter=parameter, value=value, record=dict(record))


def load_qc(store: Store, records: Iterable[Mapping[str, Any]]) -> list[int]:
    """Check every record, then store them all in one write; returns their ids.

    Raises
    ------
    ValueError
        ``"record <n>: ..."`` for the first bad record; nothing is stored then.
    """
    return store_checked(store, KIND, records, parse_qc, ".QCParameterRecord")


Functions = dict[str, dict[str, dict[str, Any]]]


def qc_for(store: Store, key: StreamKey, extra: Sequence[Mapping[str, Any]] = ()) -> Functions:
    """The QC functions to run on ``key``: ``{parameter: {function: {argument: value}}}`` from the
    stored records that apply to it and ``extra`` (a request's ``qcParameters``, which win)."""
    out: Functions = {}
    stored = [parse_qc(r) for r in store.quality_records(KIND)]
    for arg in [a for a in stored if a.applies_to(key)] + [parse_qc(r) for r in extra]:
        out.setdefault(arg.parameter, {}).setdefault(arg.function, {})[arg.argument] = arg.value
    return out


def names_used(functions: Mapping[str, Mapping[str, Any]]) -> set[str]:
    """Variable names the arguments of ``functions`` (one parameter's) refer to, beyond
    ``data``, ``time`` and ``month`` (``<param>_qc_results`` included as written)."""
    out: set[str] = set()
    for given in functions.values():
        for value in given.values():
            for item in [value] if isinstance(value, str) else flatten(value):
                if isinstance(item, str) and item not in BUILTIN_NAMES:
                    out.add(item)
    return out


@dataclass(frozen=True, slots=True)
class QcFlags:
    """``executed`` and ``results`` bitmasks of one tested parameter, per record."""

    executed: np.ndarray
    results: np.ndarray


def context_needed(functions: Mapping[str, Mapping[str, Any]], everything: Functions | None = None) -> int:
    """Records needed on each side of a slice for the windowed tests to flag it as the whole
    (including those of parameters whose ``_qc_results`` a propagate-flags argument names)."""
    needed = 0
    for name, given in functions.items():
        try:
            needed = max(needed, QC_TESTS[name].context(given) or 0)
        except (KeyError, TypeError, ValueError):
            continue  # incomplete: run_qc says why it does not run
    for stem in _flag_stems(functions, everything):
        needed = max(needed, context_needed(everything[stem]))  # type: ignore[index]
    return needed


def _flag_stems(functions: Mapping[str, Mapping[str, Any]], everything: Functions | None) -> list[str]:
    names = [v for v in functions.get(PROPAGATE, {}).values() if isinstance(v, str)]
    return [n[: -len(QC_RESULTS_SUFFIX)] for n in names if n.endswith(QC_RESULTS_SUFFIX)
            and everything is not None and n[: -len(QC_RESULTS_SUFFIX)] in everything]


def run_qc(functions: Mapping[str, Mapping[str, Any]], values: np.ndarray, times: np.ndarray,
           others: Resolver | None = None, core: slice = slice(None),
           everything: Functions | None = None, groups: np.ndarray | None = None,
           fixed: Mapping[str, np.ndarray] | None = None) -> tuple[QcFlags, list[str]]:
    """Run the QC functions of one parameter; returns the flags of ``values[core]`` and a note per
    function not run.

    The records outside ``core`` are context for the windowed tests (spike, stuck value). The
    tests that judge a whole series (trend, gradient) see only ``core``, one deployment at a time
    when ``groups`` gives each record's deployment (the original ran its QC on each deployment's
    records of a request). ``others`` gives the values of other dataset variables over the same
    records as ``values``; ``everything`` (all tested parameters' functions) lets a
    propagate-flags argument name ``<param>_qc_results``. ``fixed`` gives functions' flags for
    the records of ``core`` already judged elsewhere (over a whole request).
    """
    core_index = np.arange(len(values))[core]
    n = len(core_index)
    executed = np.zeros(n, dtype=np.uint8)
    results = np.zeros(n, dtype=np.uint8)
    notes = []
    passed: dict[str, np.ndarray] = {}
    for stem in _flag_stems(functions, everything):
        stem_values = None if others is None else others(stem)
        if stem_values is not None and np.ndim(stem_values) == 1:
            flags, _ = run_qc(everything[stem], np.asarray(stem_values, dtype=np.float64), times,  # type: ignore[index]
                              others, core=slice(None), groups=groups)  # one level: no flags of flags
            passed[stem + QC_RESULTS_SUFFIX] = ((flags.results == flags.executed) & (flags.executed > 0)).astype(float)
    if groups is None:
        pieces = [np.arange(n)]
    else:
        numbers = np.asarray(groups)[core_index]
        pieces = [np.flatnonzero(numbers == number) for number in np.unique(numbers)]

    def resolver(part: slice | np.ndarray) -> Resolver:
        def resolve(value: str) -> np.ndarray | None:
            if value == DATA:
                return values[part]
            if value == TIME_VALUE:
                return times[part]
            if value == MONTH:
                return ntp_month(times[part])
            if value in passed:
                return passed[value][part]
            found = None if others is None else others(value)
            return None if found is None else np.asarray(found)[part]
        return resolve

    for name, given in sorted(functions.items()):
        test = QC_TESTS[name]
        try:
            if fixed is not None and name in fixed:
                got = np.asarray(fixed[name])
            elif _complete(test, given) and test.context(given) is None:  # judges a whole series
                got = np.zeros(n, dtype=np.int8)
                for positions in pieces:
                    got[positions] = np.asarray(test.run(Arguments(name, given, resolver(core_index[positions]))))
            else:
                got = np.asarray(test.run(Arguments(name, given, resolver(slice(None)))))[core]
        except NotRun as exc:
            notes.append(str(exc))
            continue
        executed |= np.uint8(test.bit)
        results[got == 1] |= np.uint8(test.bit)  # any other result counts as a failure
    return QcFlags(executed, results), notes


def _complete(test: QcTest, given: Mapping[str, Any]) -> bool:
    try:
        test.context(given)
    except (KeyError, TypeError, ValueError):
        return False
    return True
