"""Plans a compiled chain computes: a window of records in a few compiled passes.

:func:`~stream_engine.engine.compute.compute` runs a plan's products step by step, with the
engine's bookkeeping around each (per-record calibration tiling, availability masks, fill
checks, float32 casts, provenance). When every product of a plan is an algorithm of a compiled
chain, wired as the chain expects (today: the SBE 16plus CTD chain of
:mod:`stream_engine.functions.ctd_chain`, counts to temperature, pressure, conductivity,
practical salinity and optionally density), :func:`compiled_chain` returns a
:class:`CompiledChain`, prepared once per plan, whose :meth:`~CompiledChain.window` computes the
values of a window of records in those compiled passes: the plan is matched once, each
deployment's coefficients are looked up once, and a window costs one read of its deployment and
count columns (and of the times where its runs of one deployment begin and end), one compiled
pass over the deployment numbers and the chain's loops (which release the GIL).

A window takes that path only in the plain case: every record carries the number of exactly one
known deployment and lies inside its time window, the counts are stored as int32, and every
coefficient has one value for the whole deployment (a fixed position for density, outside the
Baltic). Records are unique by ``(time, deployment)`` and ordered by it in every store, so no
timestamp repeats within a deployment (the general path's duplicate check finds nothing). Anything else (a window across a deployment change, records
outside their deployment, a coefficient that changes within a deployment, a missing
calibration...) returns ``None`` and the caller computes the window with ``compute``. Either way
the values are the same, bit for bit (``tests/engine/test_compiled_chains.py``).
"""

from __future__ import annotations

import bisect
import math
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from stream_engine import assets
from stream_engine.engine.calibrate import deployment_value
from stream_engine.engine.compute_inputs import fill_for, parameter_named
from stream_engine.engine.plan import (
    CALIBRATION,
    CONSTANT,
    DEFAULT,
    LOCATION,
    PRODUCT,
    RAW,
    ArgumentPlan,
    Plan,
)
from stream_engine.functions import ctd_chain, record_keys, teos10
from stream_engine.store.base import DEPLOYMENT, TIME, IndexRange, Partition, StreamKey

if TYPE_CHECKING:
    from stream_engine.preload.model import Preload
    from stream_engine.store.base import Store

#: The chain's algorithms (qualified names) by the role each plays in it.
ROLES = {
    ctd_chain.TEMPERATURE: "temperature",
    ctd_chain.PRESSURE: "pressure",
    ctd_chain.CONDUCTIVITY: "conductivity",
    ctd_chain.SALINITY: "salinity",
    ctd_chain.DENSITY: "density",
}
#: Roles a plan must have for the chain (density is optional).
REQUIRED = ("temperature", "pressure", "conductivity", "salinity")
#: Each role's arguments: the products it takes (argument -> role), and its coefficients.
_PRODUCT_ARGUMENTS = {
    "conductivity": {"t1": "temperature", "p1": "pressure"},
    "salinity": {"c": "conductivity", "t": "temperature", "p": "pressure"},
    "density": {"SP": "salinity", "t": "temperature", "p": "pressure"},
}
_RAW_ARGUMENTS = {"temperature": ("t0",), "pressure": ("p0", "t0"), "conductivity": ("c0",)}
_COEFFICIENTS = {
    "temperature": ctd_chain.TEMPERATURE_COEFFICIENTS,
    "pressure": ctd_chain.PRESSURE_COEFFICIENTS,
    "conductivity": ctd_chain.CONDUCTIVITY_COEFFICIENTS,
}
#: Coefficients an algorithm has a default for, and that default (``ctd_sbe16plus_preswat``'s offset).
_DEFAULTS = {("pressure", "offset"): 0.0}
_LOCATION_ARGUMENTS = ("lat", "lon")


@dataclass(frozen=True, slots=True)
class _Coefficient:
    """Where a coefficient comes from: a calibration (``CC_`` name), else the fixed ``value``."""

    calibration: str | None
    value: float = 0.0


@dataclass(frozen=True, slots=True)
class _DeploymentValues:
    """One deployment's coefficients as the loops take them, and its position's SAAR table."""

    temperature: np.ndarray
    pressure: np.ndarray
    conductivity: np.ndarray
    position: teos10.SaarTable | None


@dataclass(frozen=True, slots=True)
class WindowColumns:
    """A window as :meth:`CompiledChain.read` gives it to :meth:`CompiledChain.compute`:
    the store's pieces of its deployment and count columns, each run of one deployment
    (``first``, ``stop`` within the window, that deployment's coefficients) and its length."""

    pieces: list[dict[str, np.ndarray]]
    runs: list[tuple[int, int, _DeploymentValues]]
    length: int


@dataclass(frozen=True, slots=True)
class BinTimes:
    """A stream's partition index as record indices: ``starts[k]`` is the index of bin ``k``'s
    first record (one more entry: the record count), ``first``/``last`` its first and last times."""

    starts: list[int]
    first: list[float]
    last: list[float]

    @classmethod
    def of(cls, partitions: Sequence[Partition]) -> BinTimes:
        """From :meth:`Store.partitions <stream_engine.store.base.Store.partitions>`."""
        ordered = sorted(partitions, key=lambda p: p.bin)
        starts = [0]
        for p in ordered:
            starts.append(starts[-1] + p.count)
        return cls(starts, [p.first for p in ordered], [p.last for p in ordered])

    def span(self, start: int, stop: int) -> tuple[float, float] | None:
        """The first time of the first bin and the last time of the last bin holding records
        ``[start, stop)``: every record of them lies between (``None``: not in the index)."""
        if not 0 <= start < stop <= self.starts[-1]:
            return None
        lo = bisect.bisect_right(self.starts, start) - 1
        hi = bisect.bisect_left(self.starts, stop) - 1
        return self.first[lo], self.last[hi]


def _inside(dep: assets.Deployment, first: float, last: float) -> bool:
    """Whether times from ``first`` to ``last`` lie in the deployment's window ``[start, stop)``."""
    return first >= dep.start and (dep.stop is None or last < dep.stop)


class CompiledChain:
    """A plan's products computed by :func:`stream_engine.functions.ctd_chain.sbe16plus_chain`.

    Made by :func:`compiled_chain`; safe to use from several threads.

    Parameters
    ----------
    key
        The plan's stream.
    counts
        Stored columns of the temperature, pressure, pressure-thermistor and conductivity counts.
    fills
        The fill value of each count column (NaN: none), as the engine treats integer inputs.
    coefficients
        Per equation (temperature, pressure, conductivity), where each coefficient comes from.
    location
        The calibration names of latitude and longitude when the plan computes density.
    outputs
        Working name of each product -> its role.
    """

    def __init__(self, key: StreamKey, counts: tuple[str, str, str, str], fills: np.ndarray,
                 coefficients: Mapping[str, tuple[_Coefficient, ...]], location: tuple[str, str] | None,
                 outputs: Mapping[str, str]) -> None:
        self.key = key
        self.counts = counts
        self.fills = fills
        self.fills.flags.writeable = False
        self.coefficients = dict(coefficients)
        self.location = location
        self.outputs = dict(outputs)
        self._values: dict[int, tuple[assets.Deployment, _DeploymentValues | None]] = {}
        self._lock = threading.Lock()

    def window(self, store: Store, deployments: Sequence[assets.Deployment], index_range: IndexRange,
               wanted: Sequence[str], bins: BinTimes | None = None) -> dict[str, np.ndarray] | None:
        """The products ``wanted`` (working names) on the records of ``index_range`` (step 1),
        exactly as :func:`~stream_engine.engine.compute.compute` gives them, or ``None`` when
        the window is not the plain case (see the module docstring): compute it then.

        ``deployments`` are the stream's (:func:`stream_engine.assets.deployments`) and ``bins``
        its partition index (:meth:`BinTimes.of`), both read through ``store``. :meth:`read`
        then :meth:`compute`, which a caller may also call apart (to read one window while
        computing another).
        """
        if not self.computes(wanted):
            return None
        return self.compute(self.read(store, index_range, deployments, bins), wanted)

    def computes(self, wanted: Sequence[str]) -> bool:
        """Whether the chain gives every product of ``wanted``."""
        return all(name in self.outputs for name in wanted)

    def read(self, store: Store, index_range: IndexRange, deployments: Sequence[assets.Deployment],
             bins: BinTimes | None = None) -> WindowColumns | None:
        """What :meth:`compute` takes for the records of ``index_range``: their counts in the
        store's pieces and the coefficients of each run of one deployment; ``None`` when the
        window is not the plain case.

        The store's records are unique by ``(time, deployment)`` and ordered by it (the
        :class:`~stream_engine.store.base.Store` contract), so within a run of one deployment
        no time repeats, and the run lies inside its deployment's time window when its first
        and last records do: the times of those are read, unless the partition index (``bins``)
        already shows every record of the window's bins inside it.
        """
        if index_range.step != 1:
            return None
        pieces = store.read_column_pieces(self.key, [DEPLOYMENT, *self.counts], index_range=index_range)
        if not pieces or not all(self._readable(piece) for piece in pieces):
            return None
        spans: list[tuple[int, int, int]] = []  # (first, stop, number), indices within the window
        at = 0
        for piece in pieces:
            numbers = piece[DEPLOYMENT]
            bounds = record_keys.deployment_runs(numbers).tolist()
            for start, stop in zip(bounds[:-1], bounds[1:], strict=True):
                number = int(numbers[start])
                if spans and spans[-1][2] == number and spans[-1][1] == at + start:
                    spans[-1] = (spans[-1][0], at + stop, number)  # the run goes on in the next piece
                else:
                    spans.append((at + start, at + stop, number))
            at += len(numbers)
        if at == 0:
            return None
        known = bins.span(index_range.start, index_range.start + at) if bins is not None else None
        runs = []
        for first, stop, number in spans:
            dep = self._deployment(deployments, number)
            values = None if dep is None else self._deployment_values(dep)
            if dep is None or values is None:
                return None
            if known is None or not _inside(dep, *known):
                times = [float(store.read_columns(self.key, [TIME], index_range=IndexRange(
                    index_range.start + i, index_range.start + i + 1))[TIME][0]) for i in (first, stop - 1)]
                if not _inside(dep, *times):
                    return None
            runs.append((first, stop, values))
        return WindowColumns(pieces, runs, at)

    def compute(self, columns: WindowColumns | None, wanted: Sequence[str]) -> dict[str, np.ndarray] | None:
        """:meth:`window` on the columns :meth:`read` gave; ``None`` when they are not the plain case."""
        if columns is None or not self.computes(wanted):
            return None
        density = any(self.outputs[name] == "density" for name in wanted)
        if density and any(values.position is None for _, _, values in columns.runs):
            return None
        out = ctd_chain.chain_values(columns.length, density)
        scratch = _scratch(max(len(piece[DEPLOYMENT]) for piece in columns.pieces))
        at = 0
        for piece in columns.pieces:
            n = len(piece[DEPLOYMENT])
            for first, stop, run in columns.runs:
                lo, hi = max(first, at), min(stop, at + n)
                if lo >= hi:
                    continue
                t0, p0, pt0, c0 = (piece[name][lo - at:hi - at] for name in self.counts)
                ctd_chain.sbe16plus_chain(t0, p0, pt0, c0, self.fills, run.temperature, run.pressure,
                                          run.conductivity, run.position if density else None, out.part(lo, hi),
                                          scratch)
            at += n
        products = out._asdict()
        return {name: products[self.outputs[name]] for name in wanted}

    def _readable(self, piece: Mapping[str, np.ndarray]) -> bool:
        """Whether the loops take a piece's columns as they are (key and count types, flat)."""
        return (piece[DEPLOYMENT].dtype == record_keys.NUMBER_TYPE
                and all(piece[name].dtype == ctd_chain.COUNT_TYPE and piece[name].ndim == 1 for name in self.counts))

    @staticmethod
    def _deployment(deployments: Sequence[assets.Deployment], number: int) -> assets.Deployment | None:
        """The one deployment of ``number`` (``None`` for 0, found by time, or for a number with
        no or several deployments: the general rules decide those)."""
        matching = [dep for dep in deployments if dep.number == number]
        return matching[0] if number != 0 and len(matching) == 1 else None

    def _deployment_values(self, dep: assets.Deployment) -> _DeploymentValues | None:
        """``dep``'s coefficients, looked up once per deployment object; ``None`` when one is
        missing, not a single number, or changes within the deployment."""
        with self._lock:
            known = self._values.get(id(dep))
            if known is not None and known[0] is dep:
                return known[1]
        found = _deployment_values(dep, self.coefficients, self.location)
        with self._lock:
            if len(self._values) >= _MAX_DEPLOYMENTS:
                self._values.clear()
            self._values[id(dep)] = (dep, found)  # holding dep keeps its id from being reused
        return found


_MAX_DEPLOYMENTS = 1024
_SCRATCH = threading.local()


def _scratch(n: int) -> np.ndarray:
    """This thread's working room for the chain's loops, at least ``n`` float64 values (one per
    thread, for every chain; it grows to the longest piece, at most a window): kept from window
    to window, so its pages are not faulted in again for every piece of every window."""
    room: np.ndarray | None = getattr(_SCRATCH, "room", None)
    if room is None or len(room) < n:
        room = _SCRATCH.room = np.empty(n, dtype=np.float64)
    return room


def _deployment_values(dep: assets.Deployment, coefficients: Mapping[str, tuple[_Coefficient, ...]],
                       location: tuple[str, str] | None) -> _DeploymentValues | None:
    arrays: dict[str, np.ndarray] = {}
    for role, wanted in coefficients.items():
        row = []
        for coefficient in wanted:
            if coefficient.calibration is None:
                row.append(coefficient.value)
                continue
            value = _one_number(dep, coefficient.calibration)
            if value is None:
                return None
            row.append(value)
        arrays[role] = np.array(row, dtype=np.float64)
        arrays[role].flags.writeable = False
    position = None
    if location is not None:
        lat, lon = (_one_number(dep, name) for name in location)
        if lat is not None and lon is not None:
            position = teos10.saar_table(lon, lat)
    return _DeploymentValues(arrays["temperature"], arrays["pressure"], arrays["conductivity"], position)


def _one_number(dep: assets.Deployment, name: str) -> float | None:
    """The coefficient's one value for the whole deployment, if it is a single number."""
    known = deployment_value(dep, name)
    if known is None or known[0].ndim != 0:
        return None
    return float(known[0])


_CHAINS: dict[int, tuple[Plan, CompiledChain | None]] = {}
_CHAINS_LOCK = threading.Lock()
_MAX_CHAINS = 1024


def compiled_chain(plan: Plan, preload: Preload) -> CompiledChain | None:
    """The compiled chain computing every product of ``plan``, or ``None`` when its products are
    not exactly a chain's algorithms wired as the chain expects (then ``compute`` runs it).
    Kept per plan object (plans are kept per stream state by the plan cache)."""
    with _CHAINS_LOCK:
        known = _CHAINS.get(id(plan))
        if known is not None and known[0] is plan:
            return known[1]
    found = _match(plan, preload)
    with _CHAINS_LOCK:
        if len(_CHAINS) >= _MAX_CHAINS:
            _CHAINS.clear()
        _CHAINS[id(plan)] = (plan, found)
    return found


def _match(plan: Plan, preload: Preload) -> CompiledChain | None:
    if plan.externals or plan.positions or not plan.products:
        return None
    steps = {}
    for step in plan.products:
        role = ROLES.get(step.function) if step.function_type == "PythonFunction" else None
        parameter = preload.parameters.get(step.parameter_id)
        if (role is None or role in steps or parameter is None or parameter.dtype != np.float32
                or parameter.is_array or parameter.dimensions):
            return None
        steps[role] = step
    if not all(role in steps for role in REQUIRED):
        return None
    arguments = {role: {a.name: a for a in step.arguments} for role, step in steps.items()}
    names = {role: step.name for role, step in steps.items()}
    for role, products in _PRODUCT_ARGUMENTS.items():
        if role not in arguments:
            continue
        for name, supplier in products.items():
            arg = arguments[role].get(name)
            if arg is None or arg.kind != PRODUCT or arg.column != names[supplier]:
                return None
    raw: list[str] = []
    for role, wanted in _RAW_ARGUMENTS.items():
        for name in wanted:
            arg = arguments[role].get(name)
            if arg is None or arg.kind != RAW or arg.column is None:
                return None
            raw.append(arg.column)
    coefficients = {}
    for role, wanted in _COEFFICIENTS.items():
        found = tuple(_coefficient(role, name, arguments[role].get(name)) for name in wanted)
        if any(c is None for c in found):
            return None
        coefficients[role] = tuple(c for c in found if c is not None)
    location = None
    if "density" in arguments:
        args = [arguments["density"].get(name) for name in _LOCATION_ARGUMENTS]
        if any(a is None or a.kind not in (LOCATION, CALIBRATION) or a.calibration is None for a in args):
            return None
        location = (str(args[0].calibration), str(args[1].calibration))  # type: ignore[union-attr]
    known = {"temperature": {"t0", *ctd_chain.TEMPERATURE_COEFFICIENTS},
             "pressure": {"p0", "t0", *ctd_chain.PRESSURE_COEFFICIENTS},
             "conductivity": {"c0", "t1", "p1", *ctd_chain.CONDUCTIVITY_COEFFICIENTS},
             "salinity": {"c", "t", "p"}, "density": {"SP", "t", "p", *_LOCATION_ARGUMENTS}}
    if any(set(args) - known[role] for role, args in arguments.items()):
        return None
    fills = [_fill(preload, plan, column) for column in raw]
    if any(f is None for f in fills):
        return None
    t0, p0, pt0, c0 = raw
    return CompiledChain(plan.key, (t0, p0, pt0, c0), np.array(fills, dtype=np.float64), coefficients,
                         location, {name: role for role, name in names.items()})


def _coefficient(role: str, name: str, arg: ArgumentPlan | None) -> _Coefficient | None:
    """Where an equation's coefficient comes from, or ``None`` if the chain cannot take it."""
    if arg is None or arg.kind == DEFAULT:
        default = _DEFAULTS.get((role, name))
        return None if default is None else _Coefficient(None, default)
    if arg.kind in (CALIBRATION, LOCATION) and arg.calibration is not None:
        return _Coefficient(arg.calibration)
    if arg.kind == CONSTANT and isinstance(arg.value, int | float) and not isinstance(arg.value, bool):
        return _Coefficient(None, float(arg.value))
    return None


def _fill(preload: Preload, plan: Plan, column: str) -> float | None:
    """The value an integer count holds where it is missing (NaN: none), as
    :func:`~stream_engine.engine.compute_inputs.as_input` treats it; ``None``: not a number."""
    parameter = parameter_named(preload, plan, column)
    if parameter is None:
        return math.nan
    fill = fill_for(parameter)
    if not isinstance(fill, int | float | np.integer | np.floating) or isinstance(fill, bool | np.bool_):
        return None
    return float(fill)


__all__ = ["REQUIRED", "ROLES", "BinTimes", "CompiledChain", "WindowColumns", "compiled_chain"]
