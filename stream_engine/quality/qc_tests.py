"""The legacy QC functions: their bits, their arguments and how each runs on resolved arguments.

See :mod:`stream_engine.quality.legacy_qc` for the records and the table of functions.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from stream_engine.quality.qc_algorithms import (
    global_range,
    gradient,
    local_range,
    poly_trend,
    propagate_flags,
    spike,
    stuck_value,
)

PROPAGATE = "dataqc_propagateflags_wrapper"


class NotRun(Exception):
    """A QC function cannot run on this dataset; the message says why."""


#: Resolves a name to per-record values over the records tested (``None``: no such variable).
Resolver = Callable[[str], "np.ndarray | None"]


class Arguments:
    """The arguments of one function for one tested parameter, resolved on demand."""

    def __init__(self, function: str, given: Mapping[str, Any], resolve: Resolver) -> None:
        self.function, self.given, self.resolve = function, given, resolve

    def _value(self, arg: str) -> Any:
        if arg not in self.given:
            raise NotRun(f"{self.function} not run: no value for {arg}")
        return self.given[arg]

    def vector(self, arg: str, value: Any = None) -> np.ndarray:
        """Per-record values of ``arg`` (a name), 1-D float."""
        name = self._value(arg) if value is None else value
        if not isinstance(name, str):
            raise NotRun(f"{self.function} not run: {arg} must name a variable, got {name!r}")
        found = self.resolve(name)
        if found is None:
            raise NotRun(f"{self.function} not run: {arg} names {name!r}, which the dataset does not hold")
        found = np.asarray(found)
        if found.ndim != 1:
            raise NotRun(f"{self.function} not run: {arg} names {name!r}, which is not one value per record")
        return found.astype(np.float64)

    def number(self, arg: str, default: float | None = None) -> float:
        """A scalar argument (the last of a list, as ion-functions' wrappers took it)."""
        if arg not in self.given and default is not None:
            return default
        value = self._value(arg)
        if isinstance(value, list):
            value = value[-1] if value else None
        if not isinstance(value, float):
            raise NotRun(f"{self.function} not run: {arg} must be a number, got {value!r}")
        return value

    def numbers(self, arg: str, columns: int | None = None) -> np.ndarray:
        """A LIST of numbers; with ``columns``, as rows of that many (nested or flat)."""
        value = self._value(arg)
        flat = flatten(value)
        if not flat or not all(isinstance(v, float) for v in flat):
            raise NotRun(f"{self.function} not run: {arg} must be a list of numbers, got {value!r}")
        out = np.array(flat, dtype=np.float64)
        if columns is not None:
            if out.size % columns:
                raise NotRun(f"{self.function} not run: {arg} has {out.size} numbers, not rows of {columns}")
            out = out.reshape(-1, columns)
        return out

    def names(self, arg: str) -> list[str]:
        """A LIST of names (or one name)."""
        value = self._value(arg)
        names = [value] if isinstance(value, str) else flatten(value)
        if not names or not all(isinstance(v, str) for v in names):
            raise NotRun(f"{self.function} not run: {arg} must list variable names, got {value!r}")
        return names  # type: ignore[return-value]


def flatten(value: Any) -> list[Any]:
    """The items of a (possibly nested) list in order; anything else is one item."""
    if isinstance(value, list):
        return [v for item in value for v in flatten(item)]
    return [value]


def _local_range(a: Arguments) -> np.ndarray:
    dims = a.names("dims")
    z = np.column_stack([a.vector("dims", name) for name in dims])
    try:
        return local_range(a.vector("dat"), z, a.numbers("datlim", 2), a.numbers("datlimz", len(dims)))
    except ValueError as exc:
        raise NotRun(f"{a.function} not run: {exc}") from None


def _gradient(a: Arguments) -> np.ndarray:
    bound = a.given.get("ddatdx")
    limits = a.numbers("ddatdx") if isinstance(bound, list) else np.array([-a.number("ddatdx"), a.number("ddatdx")])
    if limits.size != 2:
        raise NotRun(f"{a.function} not run: ddatdx must be one bound or a list of two, got {bound!r}")
    return gradient(a.vector("dat"), a.vector("x"), (float(limits[0]), float(limits[1])),
                    a.number("mindx", math.nan), a.number("startdat", math.nan), a.number("toldat"))


def _propagate(a: Arguments) -> np.ndarray:
    if not a.given:
        raise NotRun(f"{a.function} not run: no flag variables named")
    return propagate_flags(np.vstack([a.vector(arg) for arg in sorted(a.given)]))


@dataclass(frozen=True, slots=True)
class QcTest:
    """A legacy QC function: its bit, its arguments and how it runs."""

    bit: int
    #: Arguments a record may give (``None``: any name, each a flag variable).
    arguments: tuple[str, ...] | None
    run: Callable[[Arguments], np.ndarray]
    #: Records of context needed on each side of a slice, from the arguments (``None``: the test
    #: judges the whole series it is given, so its result depends on the records read).
    context: Callable[[Mapping[str, Any]], int | None]


QC_TESTS: dict[str, QcTest] = {
    "dataqc_globalrangetest_minmax": QcTest(
        0b1, ("dat", "dat_min", "dat_max"),
        lambda a: global_range(a.vector("dat"), a.number("dat_min"), a.number("dat_max")), lambda g: 0),
    "dataqc_localrangetest_wrapper": QcTest(0b10, ("dat", "datlim", "datlimz", "dims"), _local_range, lambda g: 0),
    "dataqc_spiketest_wrapper": QcTest(
        0b100, ("dat", "acc", "N", "L"),
        lambda a: spike(a.vector("dat"), a.number("acc"), a.number("N"), int(a.number("L"))),
        lambda g: int(g["L"])),
    "dataqc_polytrendtest_wrapper": QcTest(
        0b1000, ("dat", "t", "ord_n", "nstd"),
        lambda a: poly_trend(a.vector("dat"), a.vector("t"), a.number("ord_n"), a.number("nstd")), lambda g: None),
    "dataqc_stuckvaluetest_wrapper": QcTest(
        0b10000, ("x", "reso", "num"),
        lambda a: stuck_value(a.vector("x"), a.number("reso"), a.number("num")), lambda g: abs(int(g["num"])) or 10),
    "dataqc_gradienttest_wrapper": QcTest(
        0b100000, ("dat", "x", "ddatdx", "mindx", "startdat", "toldat"), _gradient, lambda g: None),
    PROPAGATE: QcTest(0b10000000, None, _propagate, lambda g: 0),
}
