"""DAP2 constraint expressions: projections with hyperslabs, checked against a dataset.

A constraint is ``projection[&selection]*``. The projection is a comma-separated list of
variable names, each optionally followed by one hyperslab per dimension: ``[i]``,
``[start:stop]`` or ``[start:stride:stop]``, with an *inclusive* stop (``time[0:9]`` is ten
values). Fewer hyperslabs than dimensions leave the trailing dimensions whole. An empty
projection means every variable. Whatever order the client lists them in, projected variables
come back in the dataset's declaration order, which is the order netCDF-C reads them in.

The query string is URL-decoded here (clients send ``%5B``/``%5b``, ``%3A``, ``%2C``).
Selections are accepted on ``time`` only (``&time>=2019-05-01&time<3.9e9``, see
:mod:`dap_handlers.time_selection`): they cut every variable on the time dimension to the window
first, and hyperslabs index into the window. Other selections and server-side functions are
refused with a 400 rather than ignored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote

from dap_handlers.errors import ConstraintError, NoSuchVariable
from dap_handlers.model import DapDataset
from dap_handlers.time_selection import TimeWindow, parse_time_selections, window_dataset

_HYPERSLAB = re.compile(r"\[\s*(\d+)\s*(?::\s*(\d+)\s*)?(?::\s*(\d+)\s*)?\]")
_SELECTION_OPERATOR = re.compile(r"=~|!=|<=|>=|<|>|=")
_MAX_LISTED_NAMES = 30


@dataclass(frozen=True, slots=True)
class Hyperslab:
    """One dimension's DAP hyperslab: ``start``, ``stride`` and the inclusive ``stop``."""

    start: int
    stride: int
    stop: int

    def as_slice(self) -> slice:
        return slice(self.start, self.stop + 1, self.stride)

    def __str__(self) -> str:
        if self.stride == 1 and self.start == self.stop:
            return f"[{self.start}]"
        if self.stride == 1:
            return f"[{self.start}:{self.stop}]"
        return f"[{self.start}:{self.stride}:{self.stop}]"


@dataclass(frozen=True, slots=True)
class Projection:
    """A projected variable and its hyperslabs (empty: the whole variable)."""

    name: str
    hyperslabs: tuple[Hyperslab, ...] = ()

    def __str__(self) -> str:
        return self.name + "".join(str(h) for h in self.hyperslabs)


def split_outside(text: str, separator: str, *, opening: str = "[", closing: str = "]",
                  quotes: bool = False) -> list[str]:
    """Split ``text`` on ``separator`` where it stands outside ``opening``/``closing`` brackets
    (and, with ``quotes``, outside double-quoted strings)."""
    items, depth, quoted, current = [], 0, False, []
    for char in text:
        if quotes and char == '"':
            quoted = not quoted
        elif not quoted and char in opening:
            depth += 1
        elif not quoted and char in closing:
            depth -= 1
        if char == separator and depth == 0 and not quoted:
            items.append("".join(current))
            current = []
        else:
            current.append(char)
    items.append("".join(current))
    return items


def _parse_hyperslabs(item: str, text: str) -> tuple[Hyperslab, ...]:
    slabs, position = [], 0
    for match in _HYPERSLAB.finditer(text):
        if match.start() != position:
            break
        first, second, third = match.groups()
        if third is not None:
            slab = Hyperslab(int(first), int(second), int(third))
        elif second is not None:
            slab = Hyperslab(int(first), 1, int(second))
        else:
            slab = Hyperslab(int(first), 1, int(first))
        slabs.append(slab)
        position = match.end()
    if position != len(text):
        raise ConstraintError(
            f"malformed hyperslab in {item!r}: write one [index], [start:stop] or "
            "[start:stride:stop] per dimension, with non-negative integers"
        )
    return tuple(slabs)


def _parse_item(item: str) -> Projection:
    item = item.strip()
    if "(" in item or ")" in item:
        raise ConstraintError(
            f"server-side functions are not supported ({item!r}); project variables with "
            "hyperslabs instead, e.g. time[0:99]"
        )
    bracket = item.find("[")
    name = (item if bracket < 0 else item[:bracket]).strip()
    if not name or "]" in name or '"' in name:
        raise ConstraintError(f"malformed projection {item!r}: expected a variable name")
    hyperslabs = () if bracket < 0 else _parse_hyperslabs(item, item[bracket:].strip())
    return Projection(name, hyperslabs)


def parse_query(query_string: str) -> tuple[list[Projection], TimeWindow | None]:
    """Parse a raw (URL-encoded) query string into projections (in request order) and the
    time window its selections pick (``None`` without selections).

    Raises
    ------
    ConstraintError
        On malformed expressions, selections on anything but time, or function calls (HTTP 400,
        DAP code 1005).
    """
    parts = [unquote(part) for part in (query_string or "").split("&")]
    projection, selections = parts[0], [p for p in parts[1:] if p.strip()]
    if _SELECTION_OPERATOR.search(projection):
        projection, selections = "", [parts[0], *selections]
    window = parse_time_selections(selections)
    if not projection.strip():
        return [], window
    return [_parse_item(item) for item in split_outside(projection, ",", opening="[(", closing="])")], window


def parse_constraint(query_string: str) -> list[Projection]:
    """The projections of a raw (URL-encoded) query string, in request order.

    Raises
    ------
    ConstraintError
        As :func:`parse_query`.
    """
    return parse_query(query_string)[0]


def apply_selection(dataset: DapDataset, query_string: str) -> DapDataset:
    """The dataset cut to the query's time selections (itself when there are none); what a DAS
    describes. Raises as :func:`apply_constraint`."""
    window = parse_query(query_string)[1]
    return dataset if window is None else window_dataset(dataset, window)


def _resolve_name(dataset: DapDataset, name: str) -> str:
    if name in dataset:
        return name
    head, _, tail = name.partition(".")
    if head == tail and head in dataset:
        return head
    names = [v.name for v in dataset.variables]
    listed = ", ".join(names[:_MAX_LISTED_NAMES]) + (
        " ..." if len(names) > _MAX_LISTED_NAMES else ""
    )
    raise NoSuchVariable(
        f"no variable {name!r} in dataset {dataset.name!r}; its variables are: {listed}"
    )


def _check(projection: Projection, dataset: DapDataset, name: str) -> tuple[slice, ...]:
    variable = dataset[name]
    if len(projection.hyperslabs) > variable.ndim:
        raise ConstraintError(
            f"{projection} gives {len(projection.hyperslabs)} hyperslabs but {name!r} has "
            f"{variable.ndim} dimension(s) {variable.dims}"
        )
    slices = []
    for slab, dim, size in zip(projection.hyperslabs, variable.dims, variable.shape, strict=False):
        if slab.stride < 1:
            raise ConstraintError(f"stride {slab.stride} in {projection} must be at least 1")
        if slab.start > slab.stop:
            raise ConstraintError(
                f"hyperslab {slab} of {name!r} starts after it stops; stops are inclusive, "
                f"ask for [{slab.stop}:{slab.start}]"
            )
        if slab.stop >= size:
            raise ConstraintError(
                f"hyperslab {slab} of {name!r} is out of range: dimension {dim!r} has {size} "
                + (f"elements (indices 0 to {size - 1})" if size else "elements")
            )
        slices.append(slab.as_slice())
    return tuple(slices)


def apply_constraint(dataset: DapDataset, query_string: str) -> DapDataset:
    """The dataset restricted to a constraint: projected variables, lazily sliced.

    Parameters
    ----------
    dataset : DapDataset
        The full dataset.
    query_string : str
        The raw URL query (may be empty: every variable, whole).

    Returns
    -------
    DapDataset
        Same name and attributes; the projected variables as lazy subsets, in declaration order.

    Raises
    ------
    ConstraintError
        Malformed expression, hyperslab out of range, selection on anything but time, or
        function (HTTP 400).
    NoSuchVariable
        A projected name is not in the dataset (HTTP 404).
    """
    projections, window = parse_query(query_string)
    if window is not None:
        dataset = window_dataset(dataset, window)
    return project(dataset, projections)


def project(dataset: DapDataset, projections: list[Projection]) -> DapDataset:
    """The dataset restricted to ``projections`` (all of it when there are none): the projected
    variables as lazy subsets, in declaration order; shared by the DAP2 and DAP4 constraints.

    Raises
    ------
    ConstraintError, NoSuchVariable
        As :func:`apply_constraint`.
    """
    if not projections:
        return dataset
    chosen: dict[str, tuple[slice, ...]] = {}
    for projection in projections:
        name = _resolve_name(dataset, projection.name)
        key = _check(projection, dataset, name)
        full_key = key + (slice(None),) * (dataset[name].ndim - len(key))
        shape = dataset[name].shape
        canonical = tuple(range(n)[s] for s, n in zip(full_key, shape, strict=True))
        previous = chosen.get(name)
        if previous is not None and previous != canonical:
            raise ConstraintError(
                f"variable {name!r} is projected twice with different hyperslabs; ask for it once"
            )
        chosen[name] = canonical
    ordered = sorted(chosen, key=dataset.position)
    variables = []
    for name in ordered:
        variable = dataset[name]
        ranges = chosen[name]
        whole = all(r == range(n) for r, n in zip(ranges, variable.shape, strict=True))
        variables.append(
            variable
            if whole
            else variable.subset(tuple(slice(r.start, r.stop, r.step) for r in ranges))
        )
    return dataset.replace_variables(variables)
