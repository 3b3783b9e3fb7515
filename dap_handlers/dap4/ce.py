"""DAP4 constraint expressions (``?dap4.ce=...``) and the other ``dap4.*`` query keys.

A constraint is a ``;``-separated list of clauses (URL-encoded or not):

* ``/name`` or ``/name[slice]...``: project a variable, one slice per dimension, each ``[]``
  (the whole dimension, or its shared slice), ``[i]``, ``[start:last]``, ``[start:step:last]``,
  ``[start:]`` or ``[start:step:]`` (``last`` inclusive, as in DAP2); fewer slices than
  dimensions leave the trailing ones whole;
* ``/dim=[slice]`` (shared dimension slice, before the variables): every projected variable on
  ``dim`` without its own slice there gets this one;
* a projection (or the constraint alone) may end with a filter ``|time>=...,time<...``: as
  DAP2's selections (see
  :mod:`dap_handlers.time_selection`) it picks a time window, numbers in the units of ``time``
  or ISO 8601 dates, and cuts every variable on the time dimension to it before the slices
  apply. Filters on anything but ``time`` are refused (DAP4 defines them for Sequences only).

An empty constraint means every variable, whole. Variables come back in declaration order.
``dap4.checksum=true`` asks for a CRC32 after each variable of a data response.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import unquote

from dap_handlers.constraints import Hyperslab, Projection, project, split_outside
from dap_handlers.errors import ConstraintError, NoSuchVariable
from dap_handlers.model import DapDataset
from dap_handlers.time_selection import TimeWindow, parse_time_selections, window_dataset

CE_KEY = "dap4.ce"
CHECKSUM_KEY = "dap4.checksum"
_SLICE = re.compile(r"\[\s*(?:(\d+)\s*(?::\s*(\d*)\s*)?(?::\s*(\d*)\s*)?)?\]")
_NAME = re.compile(r"^/?([^\[\]{}|=/;]+)")
_DIMENSION_CLAUSE = re.compile(r"^/?([^\[\]{}|=/;]+?)\s*=\s*(\[.*\])$")

#: One dimension's slice: ``None`` for ``[]``, else ``(start, step, last)`` with ``last`` None
#: for an open end.
Slice = tuple[int, int, int | None] | None


@dataclass(frozen=True, slots=True)
class Dap4Query:
    """A parsed DAP4 query: projected variables with their slices, shared dimension slices,
    the time window of the filters and whether checksums are wanted."""

    variables: list[tuple[str, list[Slice]]] = field(default_factory=list)
    dimensions: dict[str, Slice] = field(default_factory=dict)
    window: TimeWindow | None = None
    checksums: bool = False


def _slices(text: str, clause: str) -> list[Slice]:
    slices: list[Slice] = []
    position = 0
    for match in _SLICE.finditer(text):
        if match.start() != position:
            break
        first, second, third = match.groups()
        position = match.end()
        if first is None:
            slices.append(None)
            continue
        start = int(first)
        if second is None:
            slices.append((start, 1, start))
        elif third is None:
            slices.append((start, 1, int(second) if second else None))
        else:
            if not second:
                break
            slices.append((start, int(second), int(third) if third else None))
    if position != len(text):
        raise ConstraintError(
            f"malformed slice in {clause!r}: write [], [i], [start:last], [start:step:last], "
            "[start:] or [start:step:] with non-negative integers, one per dimension"
        )
    return slices


def parse_dap4_ce(expression: str) -> tuple[list[tuple[str, list[Slice]]], dict[str, Slice],
                                            list[str]]:
    """Variables with their slices, shared dimension slices and filter clauses of a constraint.

    Raises
    ------
    ConstraintError
        On malformed clauses, structure fields or groups (HTTP 400).
    """
    variables: list[tuple[str, list[Slice]]] = []
    dimensions: dict[str, Slice] = {}
    filters: list[str] = []
    for raw in split_outside(expression, ";", quotes=True):
        clause = raw.strip()
        if not clause:
            continue
        dimension = _DIMENSION_CLAUSE.match(clause)
        if dimension is not None and "|" not in clause:
            slices = _slices(dimension.group(2).strip(), clause)
            if len(slices) != 1:
                raise ConstraintError(f"{clause!r}: a shared dimension takes one slice")
            dimensions[dimension.group(1).strip()] = slices[0]
            continue
        projection, bar, predicate = clause.partition("|")
        if bar:
            filters.extend(p for p in split_outside(predicate, ",", quotes=True) if p.strip())
        projection = projection.strip()
        if bar and not projection:  # a filter alone: every variable, in the window
            continue
        if "{" in projection or "}" in projection:
            raise ConstraintError(f"{clause!r}: this server has no Structures to take fields of")
        match = _NAME.match(projection)
        if match is None:
            raise ConstraintError(f"malformed clause {clause!r}: expected /name[slice]...")
        name = match.group(1).strip()
        rest = projection[match.end():].strip()
        if rest.startswith("/"):
            raise NoSuchVariable(f"{projection!r}: this dataset has no groups; name variables "
                                 "as /name")
        variables.append((name, _slices(rest, clause)))
    return variables, dimensions, filters


def _decoded(text: str) -> str:
    """``text`` URL-decoded until stable: netCDF-C 4.9 encodes a constraint's brackets two or
    three times over (``[`` arrives as ``%25255b``), and a constraint holds no literal ``%``."""
    for _ in range(4):
        if "%" not in text:
            break
        text = unquote(text)
    return text


def parse_dap4_query(query_string: str) -> Dap4Query:
    """The ``dap4.ce`` and ``dap4.checksum`` of a raw (URL-encoded) query string.

    Raises
    ------
    ConstraintError
        On a malformed constraint, a filter on anything but time, a bad checksum value, or a
        DAP2 constraint sent to a DAP4 response (HTTP 400).
    """
    expression, checksums = "", False
    for part in (query_string or "").split("&"):
        if not part.strip():
            continue
        key, equals, value = part.partition("=")
        key, value = unquote(key).strip(), _decoded(value)
        if key.lower() == CE_KEY:
            expression = value
        elif key.lower() == CHECKSUM_KEY:
            if value.strip().lower() not in ("true", "false"):
                raise ConstraintError(f"{CHECKSUM_KEY}={value!r}: write true or false")
            checksums = value.strip().lower() == "true"
        elif not equals:
            raise ConstraintError(
                f"{part!r} is not a DAP4 query: DAP4 responses take dap4.ce=/var[start:last];"
                "/other (DAP2 constraints go to .dds, .das, .dods and .ascii)"
            )
    variables, dimensions, filters = parse_dap4_ce(expression)
    return Dap4Query(variables, dimensions, parse_time_selections(filters), checksums)


def _hyperslab(selected: Slice, size: int, what: str) -> Hyperslab:
    if selected is None:
        return Hyperslab(0, 1, size - 1)
    start, step, last = selected
    if step < 1:
        raise ConstraintError(f"step {step} in {what} must be at least 1")
    return Hyperslab(start, step, size - 1 if last is None else last)


def apply_dap4_query(dataset: DapDataset, query: Dap4Query) -> DapDataset:
    """The dataset restricted to a DAP4 query: time window, then the projected variables
    (every variable when none is named) lazily sliced, in declaration order.

    Raises
    ------
    ConstraintError
        A slice out of range or malformed, a shared slice of an unknown dimension (HTTP 400).
    NoSuchVariable
        A projected name is not in the dataset (HTTP 404).
    """
    if query.window is not None:
        dataset = window_dataset(dataset, query.window)
    known = {d for v in dataset.variables for d in v.dims}
    for dim in query.dimensions:
        if dim not in known:
            raise ConstraintError(f"no dimension {dim!r} in dataset {dataset.name!r} to slice; "
                                  f"its dimensions are: {', '.join(sorted(known))}")
    wanted = query.variables or [(v.name, []) for v in dataset.variables]
    projections = []
    for name, slices in wanted:
        if name not in dataset:
            project(dataset, [Projection(name)])  # raises NoSuchVariable naming the variables
        variable = dataset[name]
        if len(slices) > variable.ndim:
            raise ConstraintError(f"{len(slices)} slices for /{name}, which has "
                                  f"{variable.ndim} dimension(s) {variable.dims}")
        full = [*slices, *([None] * (variable.ndim - len(slices)))]
        hyperslabs = []
        for dim, size, selected in zip(variable.dims, variable.shape, full, strict=True):
            chosen = query.dimensions.get(dim) if selected is None else selected
            if chosen is None and size == 0:
                break
            hyperslabs.append(_hyperslab(chosen, size, f"/{name}"))
        projections.append(Projection(name, tuple(hyperslabs)))
    return project(dataset, projections)
