"""Resolution: from a stream, requested parameters and a time range to an inspectable :class:`Plan`.

How a function-map source is satisfied
--------------------------------------
* a number: a constant;
* ``CC_<name>``: a calibration coefficient from the asset events (``CC_lat``, ``CC_lon``,
  ``CC_depth`` and long forms: the deployment location). It is checked against the deployments
  of the instrument that overlap the range: if *no* deployment in range has it, the product is
  unavailable ("missing calibration CC_x for deployment 6"); if *some* lack it, the product is
  planned with a note and :func:`~stream_engine.compute.compute` fills the records of those
  deployments (and records outside any deployment) with the reason in provenance. When no
  deployment overlaps the range the check is left to compute, per record;
* ``PD<n>``: the stream's own parameter, else another stream holding it;
* ``<stream>.PD<n>``: that parameter of a stream of that name (this one, or another);
* ``dpi_<ID>``: a parameter carrying the data product identifier, by this rule:

  1. the stream's own parameters before any other stream's;
  2. within a stream, a *computed* product before an instrument's own estimate (a stored
     parameter with the same identifier, e.g. an optode's internal oxygen ``PD940`` vs the
     computed ``DOCONCS_L1``): the estimate is used only when the computed product is
     unavailable. Provenance (``ArgumentPlan.parameter_id``/``kind``) shows which one was used;

* a list (:class:`Choice`): each alternative in order; if none resolves and the list is marked
  optional, the algorithm's default is used (kind ``default``).

Other streams are searched with :func:`stream_engine.colocation.candidate_streams` (same
reference designator, same nominal depth, same node, depth variance; method variants). An input
that is a product of the other stream is computed by its own sub-plan, resolved recursively;
a dependency cycle makes the products on it unavailable. Anything unresolvable makes only the
products that need it unavailable, each with a reason.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from stream_engine import assets
from stream_engine.colocation import candidate_streams
from stream_engine.errors import BadRequest, NotFound
from stream_engine.plan import (
    CALIBRATION,
    CONSTANT,
    DEFAULT,
    EXTERNAL,
    LOCATION,
    LOCATION_CALIBRATIONS,
    PRODUCT,
    RAW,
    ArgumentPlan,
    ExternalInput,
    Plan,
    ProductStep,
    Unavailable,
)
from stream_engine.preload.model import (
    Calibration,
    Choice,
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

TIME_PARAMETER = 7
_NTP_EPOCH = datetime(1900, 1, 1, tzinfo=UTC)
_families_loaded = False


def ntp_iso(t: float) -> str:
    """NTP seconds as ISO 8601 UTC text (``-inf``/``inf`` as "the beginning"/"the end")."""
    if not math.isfinite(t):
        return "the beginning" if t < 0 else "the end"
    return (_NTP_EPOCH + timedelta(seconds=t)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _lookup(owner: str, function: str) -> Any:
    global _families_loaded
    from stream_engine.functions import registry

    if not _families_loaded:
        registry.load_families()
        _families_loaded = True
    return registry.lookup(owner, function)


def _numexpr_version() -> str:
    import numexpr

    return f"numexpr {numexpr.__version__}"


class _Missing(Exception):
    """An input cannot be resolved; the message is the reason given to the user."""


class _Context:
    """What every (sub-)resolver of one request shares: index calls, cached."""

    def __init__(self, store: Store, preload: Preload, settings: Mapping[str, Any], time_range: TimeRange):
        self.store = store
        self.preload = preload
        self.time_range = time_range
        self.max_depth_variance = float(settings["MAX_DEPTH_VARIANCE"])
        self.coverage = [c for c in store.streams() if time_range.overlaps(c.first, c.last)]
        self._columns: dict[StreamKey, set[str]] = {}
        self._deployments: dict[str, list[assets.Deployment]] = {}

    def columns(self, key: StreamKey) -> set[str]:
        if key not in self._columns:
            try:
                self._columns[key] = set(self.store.columns(key))
            except (KeyError, NotFound):
                self._columns[key] = set()
        return self._columns[key]

    def deployments_in_range(self, refdes: str) -> list[assets.Deployment]:
        if refdes not in self._deployments:
            tr = self.time_range
            self._deployments[refdes] = [
                d for d in assets.deployments(self.store, refdes)
                if d.start < tr.stop and (d.stop is None or d.stop > tr.start)
            ]
        return self._deployments[refdes]

    def candidates(self, key: StreamKey) -> list[Any]:
        return candidate_streams(
            self.coverage, key, self.time_range, self.preload.nominal_depths, self.max_depth_variance
        )


def _deployment_list(numbers: Sequence[int]) -> str:
    s = "s" if len(numbers) > 1 else ""
    return f"deployment{s} {', '.join(str(n) for n in numbers)}"


def _source_text(source: Source) -> str:
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
    return "[" + ", ".join(_source_text(o) for o in source.options) + (", None]" if source.optional else "]")


class _StreamResolver:
    """Resolves the parameters of one stream; sub-resolvers handle other streams' products."""

    def __init__(self, ctx: _Context, key: StreamKey, stack: tuple[tuple[StreamKey, int], ...]):
        self.ctx = ctx
        self.key = key
        self.stack = stack
        self.definition: StreamDefinition = ctx.preload.stream(key.stream)
        self.ids = set(self.definition.parameter_ids)
        self.raw: dict[str, None] = {}
        self.steps: dict[int, ProductStep] = {}
        self.failed: dict[int, str] = {}
        self.active: list[int] = []
        self.externals: dict[tuple[StreamKey, int], ExternalInput] = {}

    # -- entry -------------------------------------------------------------------------------

    def plan(self, requested: Sequence[int]) -> Plan:
        for pid in requested:
            try:
                self.need_param(pid)
            except _Missing as exc:
                self.failed.setdefault(pid, str(exc))
        return self._pruned(tuple(requested))

    def _pruned(self, requested: tuple[int, ...]) -> Plan:
        """Keep only the steps, columns and externals that available requested parameters need."""
        needed: set[int] = set()
        raw: set[str] = set()
        ext_cols: set[str] = set()
        todo = [pid for pid in requested if pid not in self.failed]
        while todo:
            pid = todo.pop()
            if pid in needed:
                continue
            needed.add(pid)
            step = self.steps.get(pid)
            if step is None:
                raw.add(self.ctx.preload.parameters[pid].name)
                continue
            for arg in step.arguments:
                if arg.kind == PRODUCT and arg.parameter_id is not None:
                    todo.append(arg.parameter_id)
                elif arg.kind == RAW and arg.column:
                    raw.add(arg.column)
                elif arg.kind == EXTERNAL and arg.column:
                    ext_cols.add(arg.column)
        numbers = sorted({d.number for d in self.ctx.deployments_in_range(self.key.refdes)})
        return Plan(
            key=self.key,
            time_range=self.ctx.time_range,
            requested=requested,
            raw_columns=tuple(c for c in self.raw if c in raw and c != "time"),
            products=tuple(s for pid, s in self.steps.items() if pid in needed),
            externals=tuple(e for e in self.externals.values() if e.column in ext_cols),
            unavailable=tuple(
                Unavailable(pid, self.ctx.preload.parameters[pid].name if pid in self.ctx.preload.parameters
                            else f"PD{pid}", reason)
                for pid, reason in self.failed.items()
            ),
            deployments=tuple(numbers),
        )

    # -- parameters of this stream ------------------------------------------------------------

    def need_param(self, pid: int) -> tuple[str, str]:
        """Make parameter ``pid`` of this stream available; returns (working name, kind)."""
        if pid in self.failed:
            raise _Missing(self.failed[pid])
        p = self.ctx.preload.parameters.get(pid)
        if p is None:
            raise _Missing(f"PD{pid} is not in the preload dictionary")
        if pid == (self.definition.temporal_parameter or TIME_PARAMETER) or p.name == "time":
            return "time", RAW
        if not p.is_function:
            if p.name not in self.ctx.columns(self.key):
                raise _Missing(f"{self.key} holds no column {p.name!r} (PD{pid})")
            self.raw[p.name] = None
            return p.name, RAW
        self._need_product(p)
        return p.name, PRODUCT

    def _need_product(self, p: Parameter) -> None:
        if p.id in self.steps:
            return
        if p.id in self.failed:
            raise _Missing(self.failed[p.id])
        if p.id in self.active:
            chain = [*self.active[self.active.index(p.id):], p.id]
            raise _Missing("dependency cycle: " + " -> ".join(f"PD{i}" for i in chain))
        self.active.append(p.id)
        try:
            step = self._build_step(p)
        except _Missing as exc:
            self.failed[p.id] = str(exc)
            raise
        finally:
            self.active.pop()
        self.steps[p.id] = step

    def _build_step(self, p: Parameter) -> ProductStep:
        preload = self.ctx.preload
        try:
            fn = preload.function(p.function_id)  # type: ignore[arg-type]
        except KeyError as exc:
            raise _Missing(str(exc).strip("'\"")) from None
        defaults: Mapping[str, Any] = {}
        required: tuple[str, ...] = ()
        if fn.function_type == "NumexprFunction":
            function, version = fn.function, _numexpr_version()
        elif fn.function_type == "PythonFunction":
            try:
                alg = _lookup(fn.owner, fn.function)
            except KeyError:
                raise _Missing(f"no implementation registered for {fn.qualified_name}") from None
            function, version, defaults, required = alg.qualified_name, alg.version, alg.defaults, alg.required
        else:
            raise _Missing(f"function type {fn.function_type!r} of PFID{fn.id} ({fn.name}) is not supported")
        fmap = p.function_map or {}
        absent = [a for a in required if a not in fmap]
        if absent:
            raise _Missing(f"the function map of PD{p.id} does not supply {', '.join(absent)} "
                           f"required by {function}")
        arguments: list[ArgumentPlan] = []
        notes: list[str] = []
        for name, source in fmap.items():
            try:
                arguments.append(self._argument(name, source, notes))
            except _Missing as exc:
                if isinstance(source, Choice) and source.optional and name in defaults:
                    arguments.append(ArgumentPlan(name, DEFAULT, _source_text(source), value=defaults[name]))
                    notes.append(f"argument {name} uses the default {defaults[name]!r}: {exc}")
                elif isinstance(source, Choice) and source.optional:
                    raise _Missing(f"optional argument {name} of {function} cannot be resolved ({exc}) "
                                   "and the implementation has no default for it") from None
                else:
                    raise
        return ProductStep(p.id, p.name, fn.id, function, fn.function_type, version,
                           tuple(arguments), tuple(notes))

    # -- sources -------------------------------------------------------------------------------

    def _argument(self, name: str, source: Source, notes: list[str]) -> ArgumentPlan:
        text = _source_text(source)
        if isinstance(source, Constant):
            return ArgumentPlan(name, CONSTANT, text, value=source.value)
        if isinstance(source, Calibration):
            return self._calibration(name, source.name, notes)
        if isinstance(source, ParameterRef):
            if source.id in self.ids or source.id == TIME_PARAMETER:
                return self._internal(name, text, source.id)
            return self._external(name, text, lambda d: self._with_ids(d, source.id))
        if isinstance(source, StreamParameterRef):
            if source.stream == self.key.stream and source.id in self.ids:
                return self._internal(name, text, source.id)
            return self._external(name, text, lambda d: self._with_ids(d, source.id) if d.name == source.stream else [])
        if isinstance(source, ProductRef):
            return self._product_ref(name, text, source.dpi)
        reasons = []
        for option in source.options:
            try:
                return self._argument(name, option, notes)
            except _Missing as exc:
                reasons.append(str(exc))
        raise _Missing("; ".join(reasons) if reasons else f"no alternative given for {name}")

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
            raise _Missing(f"missing calibration {cc} for {_deployment_list(missing)}")
        if missing:
            notes.append(f"missing calibration {cc} for {_deployment_list(missing)}: those records are fill")
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
            except _Missing as exc:
                reasons.append(f"PD{q.id} {q.name}: {exc}")
        try:
            return self._external(name, text, lambda d: self._with_dpi(d, dpi))
        except _Missing as exc:
            raise _Missing("; ".join([*reasons, str(exc)])) from None

    def _with_ids(self, definition: StreamDefinition, pid: int) -> list[Parameter]:
        return [self.ctx.preload.parameters[pid]] if pid in definition.parameter_ids else []

    def _with_dpi(self, definition: StreamDefinition, dpi: str) -> list[Parameter]:
        found = [q for q in self.ctx.preload.stream_parameters(definition.name)
                 if q.data_product_identifier == dpi]
        return sorted(found, key=lambda q: not q.is_function)

    def _external(
        self, name: str, text: str, wanted: Callable[[StreamDefinition], list[Parameter]]
    ) -> ArgumentPlan:
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
        raise _Missing(f"no stream provides {text} near {self.key.refdes} between "
                       f"{ntp_iso(tr.start)} and {ntp_iso(tr.stop)}{detail}")

    def _external_input(
        self, cand: Any, q: Parameter, chain: tuple[tuple[StreamKey, int], ...], tried: list[str]
    ) -> ExternalInput | None:
        sub_plan = None
        if (cand.key, q.id) in chain:
            tried.append(f"{cand.key} PD{q.id}: dependency cycle")
            return None
        if not q.is_function:
            if q.name not in self.ctx.columns(cand.key):
                return None
        else:
            sub_plan = _StreamResolver(self.ctx, cand.key, chain).plan((q.id,))
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


def resolve(
    store: Store,
    preload: Preload,
    key: StreamKey,
    parameters: Sequence[int] | None,
    time_range: TimeRange,
    *,
    settings: Mapping[str, Any] | None = None,
) -> Plan:
    """Plan how to produce ``parameters`` of stream ``key`` over ``time_range``.

    Parameters
    ----------
    store
        Where streams and asset events live; only index calls are made (``streams``,
        ``columns``, ``asset_events``), never data reads.
    preload
        The parameter dictionary.
    key
        The primary stream.
    parameters
        Preload ids of the parameters wanted; ``None`` or empty means every parameter of the stream.
    time_range
        The request's range; external streams must hold data in it.
    settings
        Needs ``MAX_DEPTH_VARIANCE``; default: :func:`stream_engine.config.load_settings`.

    Returns
    -------
    Plan
        Unresolvable parameters are listed in ``plan.unavailable`` with a reason; nothing raises
        for them.

    Raises
    ------
    NotFound
        The stream is not in the preload dictionary.
    BadRequest
        A requested id is not a parameter of the stream.
    """
    if settings is None:
        from stream_engine.config import load_settings

        settings = load_settings()
    if key.stream not in preload.streams:
        raise NotFound(f"no stream {key.stream!r} in the preload dictionary; check the stream name in {key}")
    definition = preload.streams[key.stream]
    wanted = tuple(int(p) for p in parameters) if parameters else tuple(definition.parameter_ids)
    bad = [p for p in wanted if p not in definition.parameter_ids]
    if bad:
        raise BadRequest(
            f"parameter(s) {', '.join(f'PD{p}' for p in bad)} are not in stream {key.stream!r}; "
            f"its parameters are {', '.join(f'PD{p}' for p in definition.parameter_ids)}"
        )
    ctx = _Context(store, preload, settings, time_range)
    return _StreamResolver(ctx, key, ()).plan(wanted)
