"""The plan of a data request: plain, inspectable, JSON-serialisable data.

:func:`stream_engine.engine.resolve.resolve` builds a :class:`Plan`; :func:`stream_engine.engine.compute.compute`
runs it on a slice. The JSON API returns ``plan.to_dict()`` from ``/needs``; DAP and NetCDF
attributes describe each product's provenance from :class:`ProductStep` and :class:`ArgumentPlan`.

Names used inside a plan ("working names"): a parameter of the plan's own stream is named by its
preload ``name``; a value brought in from another stream is named ``<stream>-<name>`` (the
original engine's convention), see :attr:`ExternalInput.column`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from stream_engine.store.base import StreamKey, TimeRange

#: Argument kinds, in :attr:`ArgumentPlan.kind`.
RAW = "raw"  # a stored column of the plan's stream
PRODUCT = "product"  # a product computed earlier in the same plan
EXTERNAL = "external"  # a value of another stream, interpolated onto this stream's times
CALIBRATION = "calibration"  # a CC_ coefficient from the asset events, value in force per record
LOCATION = "location"  # CC_lat / CC_lon / CC_depth: the deployment location
CONSTANT = "constant"  # a literal in the function map
DEFAULT = "default"  # an optional argument left to the algorithm's default

LOCATION_CALIBRATIONS = {
    "CC_lat": "lat",
    "CC_latitude": "lat",
    "CC_lon": "lon",
    "CC_longitude": "lon",
    "CC_depth": "depth",
}


def _key_dict(key: StreamKey | None) -> dict[str, str] | None:
    if key is None:
        return None
    return {k: getattr(key, k) for k in ("subsite", "node", "sensor", "method", "stream")}


def _key_from(d: dict[str, str] | None) -> StreamKey | None:
    return None if d is None else StreamKey(**d)


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, str):
        return value.item()
    return value


def _frozen(value: Any) -> Any:
    return tuple(_frozen(v) for v in value) if isinstance(value, list | tuple) else value


def _float_or_str(x: float) -> float | str:
    return x if x not in (float("inf"), float("-inf")) else ("inf" if x > 0 else "-inf")


@dataclass(frozen=True, slots=True)
class ArgumentPlan:
    """Where one argument of a product's function comes from.

    Attributes
    ----------
    name
        The function argument (``"SP"``).
    kind
        One of ``raw``, ``product``, ``external``, ``calibration``, ``location``, ``constant``,
        ``default`` (module constants of the same names).
    source
        The function-map text that was satisfied (``"dpi_PRACSAL_L2"``; for a Choice, the option
        that won).
    column
        The working name the value is read from (raw, product, external); ``None`` otherwise.
    parameter_id, parameter
        The preload parameter supplying it (raw, product, external).
    stream
        The stream supplying it (the plan's own stream for raw/product).
    calibration
        ``CC_`` name for calibration and location arguments.
    value
        The literal (constant) or default value.
    """

    name: str
    kind: str
    source: str = ""
    column: str | None = None
    parameter_id: int | None = None
    parameter: str | None = None
    stream: StreamKey | None = None
    calibration: str | None = None
    value: Any = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "source": self.source,
            "column": self.column,
            "parameter_id": self.parameter_id,
            "parameter": self.parameter,
            "stream": _key_dict(self.stream),
            "calibration": self.calibration,
            "value": _jsonable(self.value),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ArgumentPlan:
        return cls(**{**d, "stream": _key_from(d.get("stream")), "value": _frozen(d.get("value"))})


@dataclass(frozen=True, slots=True)
class ProductStep:
    """One product to compute, after every step it depends on.

    ``function`` is the qualified upstream name (``ion_functions.data.ctd_functions.ctd_pracsal``)
    or the numexpr expression; ``version`` is our implementation's version. ``notes`` records
    partial availability (e.g. a calibration missing for some deployments in the range: those
    records are fill).
    """

    parameter_id: int
    name: str
    function_id: int
    function: str
    function_type: str
    version: str
    arguments: tuple[ArgumentPlan, ...]
    notes: tuple[str, ...] = ()

    @property
    def calibrations(self) -> tuple[str, ...]:
        return tuple(a.calibration for a in self.arguments if a.calibration is not None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "parameter_id": self.parameter_id,
            "name": self.name,
            "function_id": self.function_id,
            "function": self.function,
            "function_type": self.function_type,
            "version": self.version,
            "arguments": [a.to_dict() for a in self.arguments],
            "notes": list(self.notes),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ProductStep:
        return cls(
            **{
                **d,
                "arguments": tuple(ArgumentPlan.from_dict(a) for a in d["arguments"]),
                "notes": tuple(d.get("notes", ())),
            }
        )


@dataclass(frozen=True, slots=True)
class ExternalInput:
    """A parameter supplied by another stream and interpolated onto this stream's times.

    ``plan`` is the sub-plan that computes it when it is a product of that stream (``None`` for a
    stored column). ``same_instrument`` (same reference designator) means interpolation never
    crosses a deployment boundary. ``interpolation`` is ``linear`` (numbers) or ``last-seen``.
    """

    key: StreamKey
    parameter_id: int
    parameter: str
    column: str
    same_instrument: bool
    interpolation: str
    colocation: str
    plan: Plan | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": _key_dict(self.key),
            "parameter_id": self.parameter_id,
            "parameter": self.parameter,
            "column": self.column,
            "same_instrument": self.same_instrument,
            "interpolation": self.interpolation,
            "colocation": self.colocation,
            "plan": None if self.plan is None else self.plan.to_dict(),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ExternalInput:
        return cls(
            **{
                **d,
                "key": _key_from(d["key"]),
                "plan": None if d.get("plan") is None else Plan.from_dict(d["plan"]),
            }
        )


@dataclass(frozen=True, slots=True)
class Unavailable:
    """A parameter that cannot be produced for this request, and why."""

    parameter_id: int
    name: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"parameter_id": self.parameter_id, "name": self.name, "reason": self.reason}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Unavailable:
        return cls(**d)


@dataclass(frozen=True, slots=True)
class PositionInput:
    """A coordinate every record carries: brought in from another stream for a mobile platform,
    the deployment location for a fixed one.

    ``name`` is the variable served (``lat``, ``lon``, ``int_ctd_pressure``, ``m_gps_lat``...,
    see :mod:`stream_engine.engine.positions`); ``column`` the working name its values are read
    from: an external input of the plan (:attr:`ExternalInput.column`), or with ``own`` a stored
    column of the plan's stream itself. ``between_fixes``: the values are sparse fixes (GPS),
    interpolated in time onto every record. ``source`` says where the values come from, for
    provenance.
    """

    name: str
    column: str
    source: str
    own: bool = False
    between_fixes: bool = False
    location: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "column": self.column, "source": self.source, "own": self.own,
                "between_fixes": self.between_fixes, "location": self.location}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PositionInput:
        return cls(**d)


@dataclass(frozen=True, slots=True)
class Plan:
    """Everything needed to answer a request on one primary stream.

    Attributes
    ----------
    key
        The primary stream.
    time_range
        The range the plan was resolved for (external streams were chosen for it).
    requested
        Preload ids of the parameters the caller asked for (all of the stream if none were named).
    raw_columns
        Stored columns of the primary stream to read (``time``/``deployment`` are always read).
    products
        Products to compute, in dependency order; only those the request needs.
    externals
        Inputs from other streams, each with its supplying stream and (for products) sub-plan.
    unavailable
        Parameters that cannot be produced (requested ones and intermediate ones), with reasons.
    deployments
        Deployment numbers (asset events) overlapping ``time_range``.
    positions
        Coordinates of a mobile platform's records from other streams (interpolated CTD
        pressure, glider GPS positions), each served under its own name.
    positions_unavailable
        ``(name, reason)`` of the coordinates a mobile platform should carry but cannot.
    """

    key: StreamKey
    time_range: TimeRange
    requested: tuple[int, ...]
    raw_columns: tuple[str, ...]
    products: tuple[ProductStep, ...]
    externals: tuple[ExternalInput, ...]
    unavailable: tuple[Unavailable, ...]
    deployments: tuple[int, ...] = field(default=())
    positions: tuple[PositionInput, ...] = field(default=())
    positions_unavailable: tuple[tuple[str, str], ...] = field(default=())

    @property
    def calibrations(self) -> tuple[str, ...]:
        """Every calibration name (``CC_...``) the plan's own products need, sorted."""
        return tuple(sorted({c for p in self.products for c in p.calibrations}))

    def product(self, parameter_id: int) -> ProductStep | None:
        return next((p for p in self.products if p.parameter_id == parameter_id), None)

    def closure(self, step: ProductStep) -> list[ProductStep]:
        """The step and every product of this plan it depends on."""
        seen: dict[int, ProductStep] = {}
        todo = [step]
        while todo:
            current = todo.pop()
            if current.parameter_id in seen:
                continue
            seen[current.parameter_id] = current
            for arg in current.arguments:
                if arg.kind == PRODUCT and arg.parameter_id is not None:
                    inner = self.product(arg.parameter_id)
                    if inner is not None:
                        todo.append(inner)
        return list(seen.values())

    def reason(self, parameter_id: int) -> str | None:
        """Why a parameter is unavailable, or ``None`` if it is planned."""
        return next((u.reason for u in self.unavailable if u.parameter_id == parameter_id), None)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable content; :meth:`from_dict` rebuilds an equal plan."""
        return {
            "key": _key_dict(self.key),
            "time_range": [_float_or_str(self.time_range.start), _float_or_str(self.time_range.stop)],
            "requested": list(self.requested),
            "raw_columns": list(self.raw_columns),
            "products": [p.to_dict() for p in self.products],
            "calibrations": list(self.calibrations),
            "externals": [e.to_dict() for e in self.externals],
            "unavailable": [u.to_dict() for u in self.unavailable],
            "deployments": list(self.deployments),
            "positions": [p.to_dict() for p in self.positions],
            "positions_unavailable": [list(u) for u in self.positions_unavailable],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Plan:
        start, stop = (float(x) for x in d["time_range"])
        return cls(
            key=StreamKey(**d["key"]),
            time_range=TimeRange(start, stop),
            requested=tuple(d["requested"]),
            raw_columns=tuple(d["raw_columns"]),
            products=tuple(ProductStep.from_dict(p) for p in d["products"]),
            externals=tuple(ExternalInput.from_dict(e) for e in d["externals"]),
            unavailable=tuple(Unavailable.from_dict(u) for u in d["unavailable"]),
            deployments=tuple(d.get("deployments", ())),
            positions=tuple(PositionInput.from_dict(p) for p in d.get("positions", ())),
            positions_unavailable=tuple((str(n), str(r)) for n, r in d.get("positions_unavailable", ())),
        )
