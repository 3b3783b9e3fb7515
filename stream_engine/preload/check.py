"""Consistency checks over a whole preload dictionary (``stream-engine preload check``).

The loader already reports what is wrong inside single entries (unparseable maps, unknown
encodings, missing parameter or function ids, duplicates, map arguments the function does not
take). This module adds the cross-references: every ``PD<n>``, ``<stream>.PD<n>`` and ``dpi_<ID>``
a function map names resolves, and every stream's temporal parameter exists and belongs to it.
Function arguments without a source are not reported: whether they have defaults is known to the
implementation in :mod:`stream_engine.functions`, not to the dictionary.

:func:`preload_report` sorts the findings in two: *problems*, which leave a parameter or product
unusable or unresolvable (an unknown value encoding, a map naming what does not exist, a function
without a name...), and *notes* on upstream oddities the loader read around with a stated fallback
(``read as ...``, ``using the default ...``, ``the last row wins``, ``left out``); and it counts
what was loaded.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from stream_engine.errors import PreloadError
from stream_engine.preload.loader import load_preload
from stream_engine.preload.model import (
    Choice,
    Parameter,
    ParameterRef,
    Preload,
    ProductRef,
    Source,
    StreamParameterRef,
)


def check_preload(path: str | Path) -> list[str]:
    """Every problem of the preload folder at ``path``, one line each; never raises.

    Parameters
    ----------
    path
        A folder in the upstream preload CSV schema.

    Returns
    -------
    list of str
        The loader's problems followed by :func:`consistency_problems`; empty when all is well.
    """
    try:
        preload = load_preload(path)
    except PreloadError as exc:
        return [str(exc)]
    return list(preload.problems) + consistency_problems(preload)


#: Endings of loader findings that describe a fallback it applied: notes, not problems.
_READ_AROUND = ("read as", "using the default", "the last row wins", "; left out")


def _is_note(finding: str) -> bool:
    return any(marker in finding for marker in _READ_AROUND)


@dataclass(frozen=True)
class PreloadReport:
    """What ``stream-engine preload check`` says: problems, notes, and what was loaded."""

    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    loaded: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        """One line: what was loaded, then how many problems and notes."""
        counted = ", ".join(f"{n} {what}" for what, n in self.loaded.items())
        problems = f"{len(self.problems)} problem{'s' if len(self.problems) != 1 else ''}"
        notes = f"{len(self.notes)} note{'s' if len(self.notes) != 1 else ''}"
        return f"loaded {counted}; {problems}, {notes}" if counted else f"{problems}, {notes}"


def preload_report(path: str | Path) -> PreloadReport:
    """Load and cross-check the preload folder at ``path``; never raises."""
    try:
        preload = load_preload(path)
    except PreloadError as exc:
        return PreloadReport(problems=[str(exc)])
    findings = list(preload.problems) + consistency_problems(preload)
    products = sum(1 for p in preload.parameters.values() if p.is_function)
    loaded = {
        "parameters": len(preload.parameters),
        "products": products,
        "streams": len(preload.streams),
        "functions": len(preload.functions),
        "nominal depths": len(preload.nominal_depths),
    }
    return PreloadReport([f for f in findings if not _is_note(f)], [f for f in findings if _is_note(f)], loaded)


def consistency_problems(preload: Preload) -> list[str]:
    """Cross-reference problems of a loaded dictionary (see the module docstring)."""
    problems: list[str] = []
    for parameter in preload.parameters.values():
        problems.extend(_map_problems(preload, parameter))
    for stream in preload.streams.values():
        label = f"DICT{stream.id} {stream.name}"
        temporal = stream.temporal_parameter
        if temporal is None:
            continue
        if temporal not in preload.parameters:
            problems.append(f"{label}: temporal parameter PD{temporal} does not exist")
        elif temporal not in stream.parameter_ids:
            problems.append(
                f"{label}: temporal parameter PD{temporal} is not one of its parameters"
            )
    return problems


def _map_problems(preload: Preload, parameter: Parameter) -> Iterator[str]:
    if parameter.function_map is None:
        return
    label = f"PD{parameter.id} {parameter.name}"
    for arg, source in parameter.function_map.items():
        for reason in _unresolved(preload, source):
            yield f"{label}: map argument {arg!r} {reason}"


def _unresolved(preload: Preload, source: Source) -> Iterator[str]:
    if isinstance(source, Choice):
        for option in source.options:
            yield from _unresolved(preload, option)
    elif isinstance(source, ParameterRef):
        if source.id not in preload.parameters:
            yield f"references PD{source.id}, which does not exist"
    elif isinstance(source, ProductRef):
        if not preload.by_dpi(source.dpi):
            yield f"references dpi_{source.dpi}, which no parameter carries"
    elif isinstance(source, StreamParameterRef):
        ref = f"{source.stream}.PD{source.id}"
        stream = preload.streams.get(source.stream)
        if stream is None:
            yield f"references {ref}, but stream {source.stream!r} does not exist"
        elif source.id not in preload.parameters:
            yield f"references {ref}, but PD{source.id} does not exist"
        elif source.id not in stream.parameter_ids:
            yield f"references {ref}, but stream {source.stream!r} does not carry PD{source.id}"
