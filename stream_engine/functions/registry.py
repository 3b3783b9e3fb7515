"""The registry of data-product algorithms, keyed by their upstream (ion-functions) names.

A preload ``PythonFunction`` names an owner module and a function, e.g.
``ion_functions.data.ctd_functions`` / ``ctd_pracsal``. Nothing from the dictionary is ever
executed: the pair is looked up here and mapped to our own implementation, registered with the
:func:`algorithm` decorator by the family modules (``ctd``, ``oxygen``, ``fluorometer``, ``par``,
``depth``, ``met``, ``met_fluxes``, ``velpt``). Third-party families can add themselves through the ``stream_engine.functions`` entry
point group; a family that fails to import warns instead of breaking the engine.

The implementation's positional parameters are the preload ``args`` in order; parameters with a
default may be left out of a function map. Keyword-only parameters (after ``*``) are extra inputs
some function maps supply beyond ``args`` (``sref`` of ``do2_salinity_correction``), always optional.
"""

from __future__ import annotations

import importlib
import inspect
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from types import MappingProxyType
from typing import Any

import numpy as np

from stream_engine.errors import StreamEngineError

FAMILY_MODULES = (
    "stream_engine.functions.ctd",
    "stream_engine.functions.depth",
    "stream_engine.functions.oxygen",
    "stream_engine.functions.fluorometer",
    "stream_engine.functions.par",
    "stream_engine.functions.met",
    "stream_engine.functions.met_fluxes",
    "stream_engine.functions.velpt",
    "stream_engine.functions.adcp",
    "stream_engine.functions.generic",
    "stream_engine.functions.nitrate",
)
ENTRY_POINT_GROUP = "stream_engine.functions"


class UnknownAlgorithm(StreamEngineError, KeyError):
    """No implementation is registered under an upstream owner/function name."""

    def __str__(self) -> str:
        return self.args[0] if self.args else ""


class AlgorithmArgumentError(StreamEngineError, ValueError):
    """An algorithm was called without a required argument."""


@dataclass(frozen=True, slots=True, eq=False)
class Algorithm:
    """One registered implementation of an upstream data-product function.

    Attributes
    ----------
    owner, function
        The upstream names (``ion_functions.data.ctd_functions``, ``ctd_pracsal``).
    func
        Our implementation; call it positionally in ``args`` order or with keywords.
    args
        The argument names exactly as the preload ``args`` list, in order.
    version
        Version of our implementation, recorded in provenance.
    description
        One line: what the algorithm computes.
    defaults
        Arguments that may be omitted, with the value used then. Keys are names from ``args``
        or from ``keywords``.
    keywords
        Extra optional inputs accepted beyond ``args`` (function maps may supply them).
    fallbacks
        Arguments (with a default) the algorithm can do without even when a function map names
        a source for them: if that source cannot be resolved (a calibration nobody set, no
        co-located stream), the default is used and the plan says so, instead of the product
        being unavailable; and records where such an input is missing are computed (the algorithm
        handles them). E.g. METBK's relative wind without a current meter is the wind itself.
    """

    owner: str
    function: str
    func: Callable[..., np.ndarray]
    args: tuple[str, ...]
    version: str
    description: str
    defaults: Mapping[str, Any] = field(default_factory=dict)
    keywords: tuple[str, ...] = ()
    fallbacks: tuple[str, ...] = ()

    @property
    def qualified_name(self) -> str:
        return f"{self.owner}.{self.function}"

    @property
    def parameters(self) -> tuple[str, ...]:
        """Every accepted argument name: ``args`` then ``keywords``."""
        return self.args + self.keywords

    @property
    def required(self) -> tuple[str, ...]:
        """The arguments a function map must supply."""
        return tuple(a for a in self.args if a not in self.defaults)

    @property
    def optional(self) -> tuple[str, ...]:
        """The arguments that fall back to ``defaults`` when not supplied."""
        return tuple(a for a in self.parameters if a in self.defaults)

    def ignored(self, arguments: Mapping[str, Any]) -> tuple[str, ...]:
        """Names in ``arguments`` this algorithm does not take (to report in provenance)."""
        accepted = set(self.parameters)
        return tuple(name for name in arguments if name not in accepted)

    def compute(self, arguments: Mapping[str, Any]) -> np.ndarray:
        """Run the algorithm on named inputs; names it does not take are ignored.

        Parameters
        ----------
        arguments
            ``{name: value}``; values are arrays (one value per record) or scalars, and
            calibration coefficients may be either, they broadcast.

        Raises
        ------
        AlgorithmArgumentError
            A required argument is missing.
        """
        missing = [a for a in self.required if a not in arguments]
        if missing:
            raise AlgorithmArgumentError(
                f"{self.qualified_name} needs argument(s) {', '.join(map(repr, missing))} "
                f"but got only {sorted(arguments)!r}; supply them in the parameter function map"
            )
        given = {name: arguments[name] for name in self.parameters if name in arguments}
        return self.func(**given)

    def __call__(self, *args: Any, **kwargs: Any) -> np.ndarray:
        return self.func(*args, **kwargs)


_REGISTRY: dict[str, Algorithm] = {}


def _first_line(doc: str | None) -> str:
    for line in (doc or "").strip().splitlines():
        if line.strip():
            return line.strip()
    return ""


def algorithm(
    owner: str, function: str, *, version: str, description: str | None = None,
    fallbacks: tuple[str, ...] = (),
) -> Callable[[Callable[..., np.ndarray]], Callable[..., np.ndarray]]:
    """Register the decorated function as the implementation of ``owner.function``.

    Positional parameters become ``args``, keyword-only parameters ``keywords``; parameter
    defaults become ``defaults``. ``description`` defaults to the docstring's first line;
    ``fallbacks`` name defaulted arguments that stand in for an unresolvable source
    (:attr:`Algorithm.fallbacks`).
    Registering the same name twice raises ``ValueError``. The function is returned unchanged.
    """

    def register(func: Callable[..., np.ndarray]) -> Callable[..., np.ndarray]:
        args: list[str] = []
        keywords: list[str] = []
        defaults: dict[str, Any] = {}
        for p in inspect.signature(func).parameters.values():
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
                args.append(p.name)
            elif p.kind is p.KEYWORD_ONLY:
                keywords.append(p.name)
                if p.default is p.empty:
                    raise TypeError(f"keyword-only parameter {p.name!r} of {func.__name__} "
                                    "needs a default: keywords are optional inputs")
            else:
                raise TypeError(f"{func.__name__}: *args/**kwargs cannot be registered")
            if p.default is not p.empty:
                defaults[p.name] = p.default
        entry = Algorithm(
            owner=owner,
            function=function,
            func=func,
            args=tuple(args),
            version=version,
            description=description or _first_line(func.__doc__),
            defaults=MappingProxyType(defaults),
            keywords=tuple(keywords),
            fallbacks=tuple(fallbacks),
        )
        without_default = [name for name in fallbacks if name not in defaults]
        if without_default:
            raise TypeError(f"{func.__name__}: fallback argument(s) {without_default} need a default")
        if entry.qualified_name in _REGISTRY:
            raise ValueError(f"{entry.qualified_name} is already registered "
                             f"(by {_REGISTRY[entry.qualified_name].func.__module__})")
        _REGISTRY[entry.qualified_name] = entry
        return func

    return register


def lookup(owner: str, function: str) -> Algorithm:
    """The implementation of an upstream function.

    Raises
    ------
    UnknownAlgorithm
        (a ``KeyError``) when nothing is registered under ``owner.function``.
    """
    name = f"{owner}.{function}" if owner else function
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownAlgorithm(
            f"no implementation of {name!r} is registered; the products that need it are "
            f"unavailable (registered: {len(_REGISTRY)} algorithms, see "
            "stream_engine.functions.registered())"
        ) from None


def is_registered(owner: str, function: str) -> bool:
    return (f"{owner}.{function}" if owner else function) in _REGISTRY


def registered() -> dict[str, Algorithm]:
    """Every registered algorithm by qualified name (a copy)."""
    return dict(sorted(_REGISTRY.items()))


def load_families() -> list[str]:
    """Import the built-in family modules and entry-point plugins; returns what failed, warning."""
    failed = []
    for module in FAMILY_MODULES:
        try:
            importlib.import_module(module)
        except Exception as exc:  # a broken family must not take the engine down
            failed.append(module)
            warnings.warn(f"algorithm family {module} could not be loaded: {exc}", stacklevel=2)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            ep.load()
        except Exception as exc:
            failed.append(ep.value)
            warnings.warn(f"algorithm plugin {ep.name} ({ep.value}) could not be loaded: {exc}",
                          stacklevel=2)
    return failed
