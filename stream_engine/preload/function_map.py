"""The ``parameterfunctionmap`` grammar: ``{argument: source}`` cells into typed sources.

A cell is a JSON object (Python literal syntax with single quotes, ``None``, ``True`` is also
accepted). Each value is one source:

==============================  ==============================================================
value                           source
==============================  ==============================================================
``12``, ``0.001``, ``"0.5"``    :class:`Constant` (numeric strings count as numbers)
``[1, 2, 3]``                   :class:`Constant` holding a tuple (a list made only of numbers)
``"CC_<name>"``                 :class:`Calibration` (the name keeps its ``CC_`` prefix)
``"PD<n>"``                     :class:`ParameterRef`
``"dpi_<ID>"``                  :class:`ProductRef`
``"<stream>.PD<n>"``            :class:`StreamParameterRef`
``["PD2606", "dpi_X", "None"]`` :class:`Choice` in priority order; ``"None"`` (or ``null``)
                                anywhere in the list makes the argument optional and is removed
==============================  ==============================================================

Anything else raises ``ValueError`` quoting the offending value; the loader turns that into a
problem of the parameter instead of failing.
"""

from __future__ import annotations

import ast
import json
import math
import re
from typing import Any

from stream_engine.preload.model import (
    Calibration,
    Choice,
    Constant,
    ParameterRef,
    ProductRef,
    Source,
    StreamParameterRef,
)

_PD = re.compile(r"PD(\d+)")
_STREAM_PD = re.compile(r"([A-Za-z0-9_]+)\.PD(\d+)")
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_OPTIONAL = ("None", None)
_EXPECTED = (
    "expected a number, 'CC_<name>', 'PD<n>', 'dpi_<ID>', '<stream>.PD<n>' or a list of these"
)


def parse_function_map(text: str) -> dict[str, Source]:
    """Parse one ``parameterfunctionmap`` cell.

    Parameters
    ----------
    text
        The cell, e.g. ``'{"c": "dpi_CONDWAT_L1", "t": "PD908", "scale": 0.001}'``.

    Returns
    -------
    dict
        Argument name to source, in the order written.

    Raises
    ------
    ValueError
        The cell is not an object of ``argument: source`` pairs, or a source is not in the grammar.
    """
    stripped = text.strip()
    if not stripped:
        raise ValueError('empty function map: expected an object such as {"x": "PD7"}')
    raw = _literal(stripped)
    if not isinstance(raw, dict):
        raise ValueError(
            f"function map {_short(stripped)} is a {type(raw).__name__}, not an object"
        )
    parsed: dict[str, Source] = {}
    for key, value in raw.items():
        if not isinstance(key, str) or not key.strip():
            raise ValueError(f"function map argument name {key!r} is not a non-empty string")
        try:
            parsed[key.strip()] = parse_source(value)
        except ValueError as exc:
            raise ValueError(f"argument {key.strip()!r}: {exc}") from None
    return parsed


def parse_source(value: Any) -> Source:
    """One map value as a :data:`~stream_engine.preload.model.Source`.

    Raises
    ------
    ValueError
        The value is not in the grammar (the message quotes it).
    """
    if isinstance(value, list | tuple):
        return _list_source(list(value))
    if value in _OPTIONAL:
        return Choice((), optional=True)
    if _is_number(value):
        return Constant(value)
    if isinstance(value, str):
        return _string_source(value)
    raise ValueError(f"source {value!r} is a {type(value).__name__}; {_EXPECTED}")


def _literal(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        raise ValueError(
            f"function map {_short(text)} is neither JSON nor a Python literal"
        ) from None


def _short(text: str, limit: int = 80) -> str:
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _string_source(value: str) -> Source:
    text = value.strip()
    if text.startswith("CC_") and len(text) > 3:
        return Calibration(text)
    if text.startswith("dpi_") and len(text) > 4:
        return ProductRef(text[4:])
    if m := _PD.fullmatch(text):
        return ParameterRef(int(m.group(1)))
    if m := _STREAM_PD.fullmatch(text):
        return StreamParameterRef(m.group(1), int(m.group(2)))
    if _NUMBER.fullmatch(text):
        number = float(text)
        return Constant(int(text) if re.fullmatch(r"[+-]?\d+", text) else number)
    raise ValueError(f"source {value!r} is not recognised; {_EXPECTED}")


def _list_source(items: list[Any]) -> Source:
    if not items:
        raise ValueError(f"empty list as a source; {_EXPECTED}")
    if all(_is_number(item) for item in items):
        return Constant(tuple(items))
    optional = any(item in _OPTIONAL for item in items if not isinstance(item, list | tuple))
    options: list[Source] = []
    for item in items:
        if not isinstance(item, list | tuple) and item in _OPTIONAL:
            continue
        option = parse_source(item)
        if isinstance(option, Choice):
            raise ValueError(f"priority list {items!r} contains another priority list {item!r}")
        options.append(option)
    return Choice(tuple(options), optional=optional)
