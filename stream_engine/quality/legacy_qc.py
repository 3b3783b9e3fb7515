"""The original's data-QC tests (OOI DPS 1341-1000x), and running QC parameter records.

The algorithms follow the OOI Data Product Specifications as ion-functions implemented them
(``ion_functions.qc.qc_functions`` and its C extensions); each returns 1 where a value passes and 0
where it fails:

* global range (DPS 1341-10004): ``dat_min <= dat <= dat_max``;
* spike (1341-10006): each value against the mean of its ``L - 1`` peers (a window of ``L``
  values centred on it, shifted inside the series at its ends): a spike deviates from that mean
  by more than ``N * max(range of the peers, acc)``;
* trend (1341-10007): a polynomial of order ``ord_n`` fitted to ``dat`` over ``t``; every value
  fails when the residual's standard deviation times ``nstd`` is below that of ``dat``;
* stuck value (1341-10008): ``num`` successive values within ``reso`` of the last of them all fail.

Records are ``.QCParameterRecord`` JSON as OOI's QC service returned them (one argument per record:
``qcParameterPK.qcId`` the function, ``.parameter`` the argument, ``.streamParameter`` the tested
parameter; ``value`` with ``valueType``; ``"data"`` is the tested values, ``"time"`` the times).
As the original did, for each tested parameter ``<param>_qc_executed`` has the bit of every test
run set and ``<param>_qc_results`` the bit of every test the record passed; the bits are the
``qcflag`` column of the preload's ``ParameterFunctions`` (global range 1, spike 4, trend 8,
stuck value 16).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from stream_engine.quality.records_file import store_checked

if TYPE_CHECKING:
    from stream_engine.store.base import Store, StreamKey

KIND = "qc"
#: Records a block of the spike test computes at once (its windows are ``L`` values each).
_SPIKE_BLOCK = 65536


def global_range(dat: np.ndarray, dat_min: float, dat_max: float) -> np.ndarray:
    """DPS global range test: 1 inside ``[min, max]`` (either order), 0 outside or missing."""
    lo, hi = min(dat_min, dat_max), max(dat_min, dat_max)
    dat = np.asarray(dat, dtype=np.float64)
    return ((dat >= lo) & (dat <= hi)).astype(np.int8)


def spike(dat: np.ndarray, acc: float, n: float, window: int) -> np.ndarray:
    """DPS spike test over windows of ``window`` values (ion-functions' ``spike``): 0 at spikes.

    A series shorter than the window passes whole, as the C implementation leaves it.
    """
    dat = np.asarray(dat, dtype=np.float64)
    length, window = len(dat), int(window)
    out = np.ones(length, dtype=np.int8)
    if window < 2 or length < window:
        return out
    half = window // 2
    windows = sliding_window_view(dat, window)
    for lo in range(0, length, _SPIKE_BLOCK):
        index = np.arange(lo, min(length, lo + _SPIKE_BLOCK))
        start = np.clip(index - half, 0, length - window)
        values = windows[start]
        focus = index - start
        peers = np.ones(values.shape, dtype=bool)
        peers[np.arange(len(index)), focus] = False
        peer_values = values[peers].reshape(len(index), window - 1)
        spread = np.maximum(peer_values.max(axis=1) - peer_values.min(axis=1), acc)
        deviation = np.abs(dat[index] - peer_values.mean(axis=1))
        out[index[deviation > n * spread]] = 0
    return out


def poly_trend(dat: np.ndarray, t: np.ndarray, ord_n: float, nstd: float) -> np.ndarray:
    """DPS trend test: all 0 when a polynomial of order ``ord_n`` explains the series (residual
    standard deviation times ``nstd`` below the series'), else all 1. Fitted on finite values."""
    dat = np.asarray(dat, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64)
    order, factor = int(round(abs(ord_n))), int(abs(nstd))
    good = np.isfinite(dat) & np.isfinite(t)
    if good.sum() <= order:
        return np.ones(len(dat), dtype=np.int8)
    x, y = t[good], dat[good]
    fitted = np.polyval(np.polyfit(x - x[0], y, order), x - x[0])
    trend = np.std(y - fitted) * factor < np.std(y)
    return np.full(len(dat), 0 if trend else 1, dtype=np.int8)


def stuck_value(x: np.ndarray, reso: float, num: float) -> np.ndarray:
    """DPS stuck value test: 0 for ``num`` (default 10) successive values all within ``reso`` of
    the last of them; a series shorter than ``num`` fails whole, as ion-functions returns."""
    x = np.asarray(x, dtype=np.float64)
    count = abs(int(num)) or 10
    if len(x) < count:
        return np.zeros(len(x), dtype=np.int8)
    if count == 1:
        return np.zeros(len(x), dtype=np.int8)
    windows = sliding_window_view(x, count)
    stuck = (np.abs(windows[:, :-1] - windows[:, -1:]) < reso).all(axis=1)
    covered = np.convolve(stuck.astype(np.int64), np.ones(count, dtype=np.int64))[: len(x)] > 0
    return np.where(covered, 0, 1).astype(np.int8)


@dataclass(frozen=True, slots=True)
class QcTest:
    """A legacy QC function: its bit, its arguments (in order) and the algorithm."""

    bit: int
    arguments: tuple[str, ...]
    run: Callable[..., np.ndarray]
    #: Records of context needed on each side of a slice, from the arguments (``None``: the test
    #: looks at the whole series it is given, so its result depends on the slice).
    context: Callable[[Mapping[str, Any]], int | None]


QC_TESTS: dict[str, QcTest] = {
    "dataqc_globalrangetest_minmax": QcTest(0b1, ("dat", "dat_min", "dat_max"), global_range, lambda a: 0),
    "dataqc_spiketest_wrapper": QcTest(0b100, ("dat", "acc", "N", "L"), spike, lambda a: int(a["L"])),
    "dataqc_polytrendtest_wrapper": QcTest(0b1000, ("dat", "t", "ord_n", "nstd"), poly_trend, lambda a: None),
    "dataqc_stuckvaluetest_wrapper": QcTest(0b10000, ("x", "reso", "num"), stuck_value,
                                            lambda a: abs(int(a["num"])) or 10),
}
#: The tested series and the times, as a record's ``value`` names them.
DATA, TIME_VALUE = "data", "time"


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
    value: float | str
    record: Mapping[str, Any]

    def applies_to(self, key: StreamKey) -> bool:
        return all(getattr(self, f) in (None, getattr(key, f)) for f in ("subsite", "node", "sensor"))


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
    if argument not in QC_TESTS[function].arguments:
        raise ValueError(f"qcParameterPK.parameter {argument!r} is not an argument of {function} "
                         f"{QC_TESTS[function].arguments}")
    if not isinstance(parameter, str) or not parameter:
        raise ValueError("qcParameterPK.streamParameter must name the tested parameter")
    refdes = pk.get("refDes") or {}
    if not isinstance(refdes, Mapping):
        raise ValueError(f"qcParameterPK.refDes must be an object, got {refdes!r}")
    kind, raw = record.get("valueType"), record.get("value")
    value: float | str
    if kind in ("FLOAT", "INT"):
        try:
            value = float(raw)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise ValueError(f"value {raw!r} is not a number ({kind})") from None
        if not math.isfinite(value):
            raise ValueError(f"value {raw!r} is not a finite number")
    elif kind in ("VECTOR", "LIST"):
        if not isinstance(raw, str) or not raw:
            raise ValueError(f"value of a {kind} must name a parameter, 'data' or 'time', got {raw!r}")
        value = raw
    else:
        raise ValueError(f"valueType must be FLOAT, INT, LIST or VECTOR, got {kind!r}")
    rid = record.get("id", 0)
    return QcArgument(
        id=rid if isinstance(rid, int) and not isinstance(rid, bool) else 0,
        subsite=refdes.get("subsite") or None, node=refdes.get("node") or None,
        sensor=refdes.get("sensor") or None, function=str(function), argument=str(argument),
        parameter=parameter, value=value, record=dict(record))


def load_qc(store: Store, records: Iterable[Mapping[str, Any]]) -> list[int]:
    """Check every record, then store them all in one write; returns their ids.

    Raises
    ------
    ValueError
        ``"record <n>: ..."`` for the first bad record; nothing is stored then.
    """
    return store_checked(store, KIND, records, parse_qc, ".QCParameterRecord")


def qc_for(store: Store, key: StreamKey, extra: Sequence[Mapping[str, Any]] = ()) -> dict[str, dict[str, dict[str, Any]]]:
    """The QC functions to run on ``key``: ``{parameter: {function: {argument: value}}}`` from the
    stored records that apply to it and ``extra`` (a request's ``qcParameters``, which win)."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    stored = [parse_qc(r) for r in store.quality_records(KIND)]
    for arg in [a for a in stored if a.applies_to(key)] + [parse_qc(r) for r in extra]:
        out.setdefault(arg.parameter, {}).setdefault(arg.function, {})[arg.argument] = arg.value
    return out


@dataclass(frozen=True, slots=True)
class QcFlags:
    """``executed`` and ``results`` bitmasks of one tested parameter, per record."""

    executed: np.ndarray
    results: np.ndarray


def context_needed(functions: Mapping[str, Mapping[str, Any]]) -> int:
    """Records needed on each side of a slice for the windowed tests to flag it as the whole."""
    needed = 0
    for name, given in functions.items():
        try:
            needed = max(needed, QC_TESTS[name].context(given) or 0)
        except (KeyError, TypeError, ValueError):
            continue  # incomplete: run_qc says why it does not run
    return needed


def run_qc(functions: Mapping[str, Mapping[str, Any]], values: np.ndarray, times: np.ndarray,
           others: Callable[[str], np.ndarray | None] | None = None,
           core: slice = slice(None)) -> tuple[QcFlags, list[str]]:
    """Run the QC functions of one parameter; returns the flags of ``values[core]`` and a note per
    function not run.

    The records outside ``core`` are context for the windowed tests (spike, stuck value); the
    trend test, which judges a whole series, sees only ``core``. A function whose arguments are
    incomplete (or name a variable ``others`` does not know) is not run and not marked executed,
    as the original skipped it.
    """
    n = len(values[core])
    executed = np.zeros(n, dtype=np.uint8)
    results = np.zeros(n, dtype=np.uint8)
    notes = []
    for name, given in sorted(functions.items()):
        test = QC_TESTS[name]
        missing = [a for a in test.arguments if a not in given]
        if missing:
            notes.append(f"{name} not run: no value for {', '.join(missing)}")
            continue
        whole = test.context(given) is not None
        part = slice(None) if whole else core
        args = []
        for a in test.arguments:
            value = given[a]
            if value == DATA:
                args.append(values[part])
            elif value == TIME_VALUE:
                args.append(times[part])
            elif isinstance(value, str):
                found = None if others is None else others(value)
                if found is None:
                    notes.append(f"{name} not run: {a} names {value!r}, which the request does not hold")
                    break
                args.append(found[part])
            else:
                args.append(value)
        else:
            flags = np.asarray(test.run(*args))
            flags = flags[core] if whole else flags
            executed |= np.uint8(test.bit)
            results[flags == 1] |= np.uint8(test.bit)  # any other result counts as a failure
    return QcFlags(executed, results), notes
