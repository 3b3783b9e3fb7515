"""How one function-map source of a product is satisfied (the rules are in :mod:`stream_engine.engine.resolve`).

:class:`SourceResolver` turns each source (constant, ``CC_`` calibration, ``PD<n>``,
``<stream>.PD<n>``, ``dpi_<ID>``, a list of alternatives) into an
:class:`~stream_engine.engine.plan.ArgumentPlan`, searching other streams through
:class:`ResolveContext` when the stream lacks it. :class:`~stream_engine.engine.resolve` subclasses it
with the stream-level part: which parameters are needed, dependency order and cycles, pruning.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from stream_engine import assets
from stream_engine.engine.colocation import Candidate, candidate_streams, is_mobile
from stream_engine.engine.plan import (
    CALIBRATION,
    CONSTANT,
    EXTERNAL,
    LOCATION,
    LOCATION_CALIBRATIONS,
    ArgumentPlan,
    ExternalInput,
    Plan,
)
from stream_engine.errors import NotFound
from stream_engine.preload.model import (
    Calibration,
    Constant,
    Parameter,
    ParameterRef,
    ProductRef,
    Source,
    StreamDefinition,
    StreamParameterRef,
)
from stream_engine.store.base import StreamKey, TimeRange

if TYPE_CHECKING:
    from stream_engine.preload.model import Preload
    from stream_engine.store.base import Store

#: Preload id of ``time``, the default temporal parameter of a stream.
TIME_PARAMETER = 7
_NTP_EPOCH = datetime(1900, 1, 1, tzinfo=UTC)

#: The resolution chain of a sub-plan: (stream, parameter id) pairs being resolved above it.
Chain = tuple[tuple["StreamKey", int], ...]


def ntp_iso(t: float) -> str:
    """NTP seconds as ISO 8601 UTC text (``-inf``/``inf`` as "the beginning"/"the end")."""
    if not math.isfinite(t):
        return "the beginning" if t < 0 else "the end"
    return (_NTP_EPOCH + timedelta(seconds=t)).strftime("%Y-%m-%dT%H:%M:%SZ")


class Unresolvable(Exception):
    """An input cannot be resolved; the message is the reason given to the user."""


@dataclass(slots=True)
class Consulted:
    """What one resolution looked at in the store, so a cached plan can be checked for staleness.

    ``listed`` is every stream the store listed (a stream appearing changes the candidates);
    ``streams`` the streams whose columns or coverage it used: the primary stream, every stream
    whose columns it asked for, and every co-located stream it could have taken an input from,
    *whatever its time coverage* (one that grows into the range becomes a candidate);
    ``refdeses`` the reference designators whose asset events it read.
    """

    listed: tuple[StreamKey, ...] = ()
    streams: set[StreamKey] = field(default_factory=set)
    refdeses: set[str] = field(default_factory=set)


#: Every time: co-located streams are recorded as consulted whatever their coverage.
_ALL_TIME = TimeRange(-math.inf, math.inf)


class ResolveContext:
    """What every (sub-)resolver of one request shares: the store's index calls, cached, and a
    record of what they consulted (:class:`Consulted`)."""

    def __init__(self, store: Store, preload: Preload, settings: Mapping[str, Any], time_range: TimeRange):
        self.store = store
        self.preload = preload
        self.time_range = time_range
        self.max_depth_variance = float(settings["MAX_DEPTH_VARIANCE"])
        listed = store.streams()
        self.consulted = Consulted(tuple(c.key for c in listed))
        self._listed = listed
        self.coverage = [c for c in listed if time_range.overlaps(c.first, c.last)]
        self._columns: dict[StreamKey, set[str]] = {}
        self._deployments: dict[str, list[assets.Deployment]] = {}
        self._all_deployments: dict[str, list[assets.Deployment]] = {}

    def columns(self, key: StreamKey) -> set[str]:
        """Stored column names of a stream (empty for a stream without data)."""
        self.consulted.streams.add(key)
        if key not in self._columns:
            try:
                self._columns[key] = set(self.store.columns(key))
            except (KeyError, NotFound):
                self._columns[key] = set()
        return self._columns[key]

    def deployments_in_range(self, refdes: str) -> list[assets.Deployment]:
        """Deployments of an instrument overlapping the request's time range."""
        self.consulted.refdeses.add(refdes)
        if refdes not in self._deployments:
            tr = self.time_range
            self._deployments[refdes] = [
                d for d in assets.deployments(self.store, refdes)
                if d.start < tr.stop and (d.stop is None or d.stop > tr.start)
            ]
        return self._deployments[refdes]

    def deployments_of(self, refdes: str) -> list[assets.Deployment]:
        """Every deployment of an instrument (asset events), whatever the range."""
        self.consulted.refdeses.add(refdes)
        if refdes not in self._all_deployments:
            self._all_deployments[refdes] = assets.deployments(self.store, refdes)
        return self._all_deployments[refdes]

    def candidates(self, key: StreamKey) -> list[Candidate]:
        """Other streams that may supply an input of ``key``, best first."""
        depths, variance, mobile = self.preload.nominal_depths, self.max_depth_variance, is_mobile(key)
        self.consulted.streams.add(key)
        self.consulted.streams.update(
            c.key for c in candidate_streams(self._listed, key, _ALL_TIME, depths, variance, mobile=mobile))
        return candidate_streams(self.coverage, key, self.time_range, depths, variance, mobile=mobile)


def deployment_list(numbers: Sequence[int]) -> str:
    """``deployment 3`` / ``deployments 3, 4``."""
    s = "s" if len(numbers) > 1 else ""
    return f"deployment{s} {', '.join(str(n) for n in numbers)}"


def source_text(source: Source) -> str:
    """A function-map source as the dictionary writes it (``dpi_PRACSAL_L2``, ``[PD1, None]``)."""
    if isinstance(source, Constant):
        return repr(source.value)
    if isinstance(source, Calibration):
        return source.name
    if isinstance(source, ParameterRef):
        return f"PD{source.id}"
    if isinstance(source, ProductRef):
        return f"dpi_{source.dpi}"
    if isinstance(source, StreamParameterRef):
        return f"{source.stream}.PD{source.id}"
    return "[" + ", ".join(source_text(o) for o in source.options) + (", None]" if source.optional else "]")


class SourceResolver:
    """Resolves function-map sources for the products of one stream.

    Subclasses provide :meth:`need_param` (make a parameter of this stream available) and
    :meth:`sub_plan` (plan a product of another stream); ``active`` lists the products being
    resolved (innermost last) and ``externals`` collects the inputs found on other streams.
    """

    def __init__(self, ctx: ResolveContext, key: StreamKey, stack: Chain):
        self.ctx = ctx
        self.key = key
        self.stack = stack
        self.definition: StreamDefinition = ctx.preload.stream(key.stream)
        self.ids = set(self.definition.parameter_ids)
        self.active: list[int] = []
        self.externals: dict[tuple[StreamKey, int], ExternalInput] = {}

    def need_param(self, pid: int) -> tuple[str, str]:
        """Make parameter ``pid`` of this stream available; returns (working name, kind)."""
        raise NotImplementedError

    def sub_plan(self, key: StreamKey, pid: int, chain: Chain) -> Plan:
        """The plan computing product ``pid`` of another stream ``key`` (``chain``: see :data:`Chain`)."""
        raise NotImplementedError

    def argument(self, name: str, source: Source, notes: list[str]) -> ArgumentPlan:
        """Where argument ``name`` comes from; notes on partial availability go to ``notes``.

        Raises
        ------
        Unresolvable
            No alternative of ``source`` can be satisfied; the message says why.
        """
        text = source_text(source)
        if isinstance(source, Constant):
            return ArgumentPlan(name, CONSTANT, text, value=source.value)
        if isinstance(source, Calibration):
            return self._calibration(name, source.name, notes)
        if isinstance(source, ParameterRef):
            if source.id in self.ids or source.id == TIME_PARAMETER:
                return self._internal(name, text, source.id)
            return self.external_argument(name, text, lambda d: self._with_ids(d, source.id))
        if isinstance(source, StreamParameterRef):
            if source.stream == self.key.stream and source.id in self.ids:
                return self._internal(name, text, source.id)
            return self.external_argument(name, text, lambda d: self._with_ids(d, source.id) if d.name == source.stream else [])
        if isinstance(source, ProductRef):
            return self._product_ref(name, text, source.dpi)
        reasons = []
        for option in source.options:
            try:
                return self.argument(name, option, notes)
            except Unresolvable as exc:
                reasons.append(str(exc))
        raise Unresolvable("; ".join(reasons) if reasons else f"no alternative given for {name}")

    def _internal(self, name: str, text: str, pid: int) -> ArgumentPlan:
        column, kind = self.need_param(pid)
        p = self.ctx.preload.parameters[pid]
        return ArgumentPlan(name, kind, text, column=column, parameter_id=pid, parameter=p.name, stream=self.key)

    def _calibration(self, name: str, cc: str, notes: list[str]) -> ArgumentPlan:
        kind = LOCATION if cc in LOCATION_CALIBRATIONS else CALIBRATION
        deps = self.ctx.deployments_in_range(self.key.refdes)
        attr = LOCATION_CALIBRATIONS.get(cc)
        missing = sorted(
            d.number for d in deps
            if not d.calibrations.get(cc) and (attr is None or getattr(d, attr) is None)
        )
        if deps and len(missing) == len(deps):
            raise Unresolvable(f"missing calibration {cc} for {deployment_list(missing)}")
        if missing:
            notes.append(f"missing calibration {cc} for {deployment_list(missing)}: those records are fill")
        return ArgumentPlan(name, kind, cc, calibration=cc)

    def _product_ref(self, name: str, text: str, dpi: str) -> ArgumentPlan:
        own = [
            q for q in self.ctx.preload.stream_parameters(self.key.stream)
            if q.data_product_identifier == dpi and q.id not in self.active
        ]
        own.sort(key=lambda q: not q.is_function)
        reasons = []
        for q in own:
            try:
                return self._internal(name, text, q.id)
            except Unresolvable as exc:
                reasons.append(f"PD{q.id} {q.name}: {exc}")
        try:
            return self.external_argument(name, text, lambda d: self.with_dpi(d, dpi))
        except Unresolvable as exc:
            raise Unresolvable("; ".join([*reasons, str(exc)])) from None

    def _with_ids(self, definition: StreamDefinition, pid: int) -> list[Parameter]:
        return [self.ctx.preload.parameters[pid]] if pid in definition.parameter_ids else []

    def with_dpi(self, definition: StreamDefinition, dpi: str) -> list[Parameter]:
        """Parameters of a stream carrying data product identifier ``dpi``, computed ones first."""
        found = [q for q in self.ctx.preload.stream_parameters(definition.name)
                 if q.data_product_identifier == dpi]
        return sorted(found, key=lambda q: not q.is_function)

    def external_argument(
        self, name: str, text: str, wanted: Callable[[StreamDefinition], list[Parameter]]
    ) -> ArgumentPlan:
        """Argument ``name`` supplied by another stream: the first candidate stream (best
        co-located first) holding a parameter ``wanted`` picks from its definition.

        Raises
        ------
        Unresolvable
            No candidate stream supplies it; the message names the range and what was tried.
        """
        preload = self.ctx.preload
        chain = self.stack + tuple((self.key, a) for a in self.active)
        tried: list[str] = []
        for cand in self.ctx.candidates(self.key):
            definition = preload.streams.get(cand.key.stream)
            if definition is None or definition.is_virtual:
                continue
            for q in wanted(definition):
                ext = self.externals.get((cand.key, q.id)) or self._external_input(cand, q, chain, tried)
                if ext is None:
                    continue
                self.externals[(cand.key, q.id)] = ext
                return ArgumentPlan(name, EXTERNAL, text, column=ext.column, parameter_id=q.id,
                                    parameter=q.name, stream=cand.key)
        tr = self.ctx.time_range
        detail = f" ({'; '.join(tried)})" if tried else ""
        raise Unresolvable(f"no stream provides {text} near {self.key.refdes} between "
                           f"{ntp_iso(tr.start)} and {ntp_iso(tr.stop)}{detail}")

    def _external_input(self, cand: Candidate, q: Parameter, chain: Chain, tried: list[str]) -> ExternalInput | None:
        sub_plan = None
        if (cand.key, q.id) in chain:
            tried.append(f"{cand.key} PD{q.id}: dependency cycle")
            return None
        if not q.is_function:
            if q.name not in self.ctx.columns(cand.key):
                return None
        else:
            sub_plan = self.sub_plan(cand.key, q.id, chain)
            reason = sub_plan.reason(q.id)
            if reason is not None:
                tried.append(f"{cand.key} {q.name}: {reason}")
                return None
        column = f"{cand.key.stream}-{q.name}"
        if any(e.column == column and e.key != cand.key for e in self.externals.values()):
            column = f"{cand.key.refdes}-{column}"
        linear = q.dtype.kind == "f"
        return ExternalInput(
            key=cand.key, parameter_id=q.id, parameter=q.name, column=column,
            same_instrument=cand.key.refdes == self.key.refdes,
            interpolation="linear" if linear else "last-seen",
            colocation=cand.colocation, plan=sub_plan,
        )
