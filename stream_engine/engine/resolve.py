"""Resolution: from a stream, requested parameters and a time range to an inspectable :class:`Plan`.

How a function-map source is satisfied
--------------------------------------
* a number: a constant;
* ``CC_<name>``: a calibration coefficient from the asset events (``CC_lat``, ``CC_lon``,
  ``CC_depth`` and long forms: the deployment location). It is checked against the deployments
  of the instrument that overlap the range: if *no* deployment in range has it, the product is
  unavailable ("missing calibration CC_x for deployment 6"); if *some* lack it, the product is
  planned with a note and :func:`~stream_engine.engine.compute.compute` fills the records of those
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

Other streams are searched with :func:`stream_engine.engine.colocation.candidate_streams` (same
reference designator, same nominal depth, same node, depth variance; method variants). An input
that is a product of the other stream is computed by its own sub-plan, resolved recursively;
a dependency cycle makes the products on it unavailable. Anything unresolvable makes only the
products that need it unavailable, each with a reason.

This module holds the stream-level part (which parameters are needed, dependency order, cycles,
pruning); :mod:`stream_engine.engine.resolve_sources` satisfies each source of a function map.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from stream_engine.engine.plan import (
    DEFAULT,
    EXTERNAL,
    PRODUCT,
    RAW,
    ArgumentPlan,
    Plan,
    PositionInput,
    ProductStep,
    Unavailable,
)
from stream_engine.engine.positions import resolve_positions
from stream_engine.engine.resolve_sources import (
    TIME_PARAMETER,
    Chain,
    Consulted,
    ResolveContext,
    SourceResolver,
    Unresolvable,
    ntp_iso,
    source_text,
)
from stream_engine.errors import BadRequest, NotFound
from stream_engine.preload.model import Choice, Parameter

if TYPE_CHECKING:
    from stream_engine.preload.model import Preload
    from stream_engine.store.base import Store, StreamKey, TimeRange

__all__ = ["TIME_PARAMETER", "Consulted", "ntp_iso", "resolve", "resolve_consulted"]


def _numexpr_version() -> str:
    import numexpr

    return f"numexpr {numexpr.__version__}"


class _StreamResolver(SourceResolver):
    """Resolves the parameters of one stream; sub-resolvers handle other streams' products."""

    def __init__(self, ctx: ResolveContext, key: StreamKey, stack: Chain):
        super().__init__(ctx, key, stack)
        self.raw: dict[str, None] = {}
        self.steps: dict[int, ProductStep] = {}
        self.failed: dict[int, str] = {}

    # -- entry -------------------------------------------------------------------------------

    def plan(self, requested: Sequence[int], *, positions: bool = False) -> Plan:
        for pid in requested:
            try:
                self.need_param(pid)
            except Unresolvable as exc:
                self.failed.setdefault(pid, str(exc))
        found: list[PositionInput] = []
        missing: list[tuple[str, str]] = []
        if positions:
            found, missing = resolve_positions(self)
        return self._pruned(tuple(requested), tuple(found), tuple(missing))

    def _pruned(self, requested: tuple[int, ...], positions: tuple[PositionInput, ...] = (),
                positions_missing: tuple[tuple[str, str], ...] = ()) -> Plan:
        """Keep only the steps, columns and externals that available requested parameters need."""
        needed: set[int] = set()
        raw: set[str] = {pos.column for pos in positions if pos.own}
        ext_cols: set[str] = {pos.column for pos in positions if not pos.own}
        for column in raw:
            self.raw[column] = None
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
            positions=positions,
            positions_unavailable=positions_missing,
        )

    # -- parameters of this stream ------------------------------------------------------------

    def need_param(self, pid: int) -> tuple[str, str]:
        # docstring inherited
        if pid in self.failed:
            raise Unresolvable(self.failed[pid])
        p = self.ctx.preload.parameters.get(pid)
        if p is None:
            raise Unresolvable(f"PD{pid} is not in the preload dictionary")
        if pid == (self.definition.temporal_parameter or TIME_PARAMETER) or p.name == "time":
            return "time", RAW
        if not p.is_function or self.definition.is_virtual:
            # a virtual stream's parameters are columns its stream computes (engine.virtual)
            if p.name not in self.ctx.columns(self.key):
                raise Unresolvable(f"{self.key} holds no column {p.name!r} (PD{pid})")
            self.raw[p.name] = None
            return p.name, RAW
        self._need_product(p)
        return p.name, PRODUCT

    def _need_product(self, p: Parameter) -> None:
        if p.id in self.steps:
            return
        if p.id in self.failed:
            raise Unresolvable(self.failed[p.id])
        if p.id in self.active:
            chain = [*self.active[self.active.index(p.id):], p.id]
            raise Unresolvable("dependency cycle: " + " -> ".join(f"PD{i}" for i in chain))
        self.active.append(p.id)
        try:
            step = self._build_step(p)
        except Unresolvable as exc:
            self.failed[p.id] = str(exc)
            raise
        finally:
            self.active.pop()
        self.steps[p.id] = step

    def _build_step(self, p: Parameter) -> ProductStep:
        preload = self.ctx.preload
        if p.function_id is None:
            raise Unresolvable(f"PD{p.id} {p.name!r} has no parameter function")
        try:
            fn = preload.function(p.function_id)
        except KeyError as exc:
            raise Unresolvable(str(exc).strip("'\"")) from None
        defaults: Mapping[str, Any] = {}
        required: tuple[str, ...] = ()
        accepted: tuple[str, ...] | None = None
        fallbacks: tuple[str, ...] = ()
        if fn.function_type == "NumexprFunction":
            function, version = fn.function, _numexpr_version()
        elif fn.function_type == "PythonFunction":
            from stream_engine.functions import lookup

            try:
                alg = lookup(fn.owner, fn.function)
            except KeyError:
                raise Unresolvable(f"no implementation registered for {fn.qualified_name}") from None
            function, version, defaults, required = alg.qualified_name, alg.version, alg.defaults, alg.required
            accepted, fallbacks = alg.parameters, alg.fallbacks
        else:
            raise Unresolvable(f"function type {fn.function_type!r} of PFID{fn.id} ({fn.name}) is not supported")
        fmap = p.function_map or {}
        absent = [a for a in required if a not in fmap]
        if absent:
            raise Unresolvable(f"the function map of PD{p.id} does not supply {', '.join(absent)} "
                           f"required by {function}")
        arguments: list[ArgumentPlan] = []
        notes: list[str] = []
        for name, source in fmap.items():
            if accepted is not None and name not in accepted:
                notes.append(f"argument {name} ({source_text(source)}) is not used by {function}: ignored")
                continue
            try:
                arguments.append(self.argument(name, source, notes))
            except Unresolvable as exc:
                if name in fallbacks:
                    arguments.append(ArgumentPlan(name, DEFAULT, source_text(source), value=defaults[name]))
                    notes.append(f"argument {name} uses the default {defaults[name]!r}: {exc}")
                elif isinstance(source, Choice) and source.optional and name in defaults:
                    arguments.append(ArgumentPlan(name, DEFAULT, source_text(source), value=defaults[name]))
                    notes.append(f"argument {name} uses the default {defaults[name]!r}: {exc}")
                elif isinstance(source, Choice) and source.optional:
                    raise Unresolvable(f"optional argument {name} of {function} cannot be resolved ({exc}) "
                                   "and the implementation has no default for it") from None
                else:
                    raise
        return ProductStep(p.id, p.name, fn.id, function, fn.function_type, version,
                           tuple(arguments), tuple(notes))

    def sub_plan(self, key: StreamKey, pid: int, chain: Chain) -> Plan:
        # docstring inherited
        return _StreamResolver(self.ctx, key, chain).plan((pid,))


def resolve(
    store: Store,
    preload: Preload,
    key: StreamKey,
    parameters: Sequence[int] | None,
    time_range: TimeRange,
    *,
    settings: Mapping[str, Any] | None = None,
    positions: bool = True,
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
    positions
        Also plan the coordinates a mobile platform's records carry
        (:mod:`stream_engine.engine.positions`: interpolated CTD pressure, glider positions);
        ``False`` when only the parameters are wanted.

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
    return resolve_consulted(store, preload, key, parameters, time_range, settings=settings,
                             positions=positions)[0]


def resolve_consulted(
    store: Store,
    preload: Preload,
    key: StreamKey,
    parameters: Sequence[int] | None,
    time_range: TimeRange,
    *,
    settings: Mapping[str, Any] | None = None,
    positions: bool = True,
) -> tuple[Plan, Consulted]:
    """:func:`resolve`, and what the resolution consulted in the store (:class:`Consulted`:
    the streams listed, the streams and asset events it used), for caches of plans."""
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
    ctx = ResolveContext(store, preload, settings, time_range)
    plan = _StreamResolver(ctx, key, ()).plan(wanted, positions=positions)
    ctx.consulted.streams.add(key)
    ctx.consulted.refdeses.add(key.refdes)
    return plan, ctx.consulted
