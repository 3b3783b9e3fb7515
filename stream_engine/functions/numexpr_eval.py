"""Evaluate preload ``NumexprFunction`` expressions with numexpr, never with ``eval``.

An expression such as PFID75's ``Im * a1 * (x - a0)`` is first parsed (``ast.parse`` only builds
a tree; nothing runs) and checked against a whitelist: arithmetic, comparisons, numbers, the
element-wise numexpr functions and names that are supplied as arguments. Anything else
(attributes, subscripts, calls of other names, strings, lambdas) is rejected with a message
quoting it. Only then does numexpr compile and run it, with its own sanitizer on as well.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import numexpr
import numpy as np

from stream_engine.errors import StreamEngineError
from stream_engine.functions.arrays import as_float

MAX_EXPRESSION_LENGTH = 2000

ALLOWED_FUNCTIONS = frozenset({
    "abs", "arccos", "arccosh", "arcsin", "arcsinh", "arctan", "arctan2", "arctanh", "ceil",
    "copysign", "cos", "cosh", "exp", "expm1", "floor", "fmod", "hypot", "isfinite", "isinf",
    "isnan", "log", "log10", "log1p", "log2", "maximum", "minimum", "round", "sign", "sin",
    "sinh", "sqrt", "tan", "tanh", "trunc", "where",
})

_BINARY = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow, ast.Mod, ast.BitAnd, ast.BitOr)
_UNARY = (ast.UAdd, ast.USub, ast.Invert)
_COMPARE = (ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.Eq, ast.NotEq)


class ExpressionError(StreamEngineError, ValueError):
    """A NumexprFunction expression is not allowed, or its arguments do not match it."""


def _reject(expression: str, node: ast.AST, what: str) -> ExpressionError:
    fragment = ast.get_source_segment(expression, node) or type(node).__name__
    return ExpressionError(
        f"expression {expression!r} is not allowed: {what} {fragment!r}; only arithmetic, "
        f"comparisons, numbers, argument names and the functions {sorted(ALLOWED_FUNCTIONS)} are "
        "permitted (fix the NumexprFunction in ParameterFunctions.csv)"
    )


def _check(expression: str, node: ast.AST, names: set[str]) -> None:
    if isinstance(node, ast.Expression):
        _check(expression, node.body, names)
    elif isinstance(node, ast.BinOp):
        if not isinstance(node.op, _BINARY):
            raise _reject(expression, node, "the operator in")
        _check(expression, node.left, names)
        _check(expression, node.right, names)
    elif isinstance(node, ast.UnaryOp):
        if not isinstance(node.op, _UNARY):
            raise _reject(expression, node, "the operator in")
        _check(expression, node.operand, names)
    elif isinstance(node, ast.Compare):
        if len(node.ops) != 1 or not isinstance(node.ops[0], _COMPARE):
            raise _reject(expression, node, "the comparison")
        _check(expression, node.left, names)
        _check(expression, node.comparators[0], names)
    elif isinstance(node, ast.Call):
        if not (isinstance(node.func, ast.Name) and node.func.id in ALLOWED_FUNCTIONS):
            raise _reject(expression, node, "the call")
        if node.keywords:
            raise _reject(expression, node, "keyword arguments in")
        for arg in node.args:
            _check(expression, arg, names)
    elif isinstance(node, ast.Name):
        if node.id.startswith("_"):
            raise _reject(expression, node, "the name")
        names.add(node.id)
    elif isinstance(node, ast.Constant):
        if isinstance(node.value, complex) or not isinstance(node.value, int | float):
            raise _reject(expression, node, "the constant")
    else:
        raise _reject(expression, node, "the construct")


@lru_cache(maxsize=512)
def expression_names(expression: str) -> frozenset[str]:
    """The variable names an expression uses, after checking it is allowed.

    Raises
    ------
    ExpressionError
        The expression is not valid Python syntax, too long, or uses anything outside the
        whitelist.
    """
    if not isinstance(expression, str) or not expression.strip():
        raise ExpressionError(f"empty NumexprFunction expression {expression!r}")
    if len(expression) > MAX_EXPRESSION_LENGTH:
        raise ExpressionError(f"expression of {len(expression)} characters is longer than "
                              f"the {MAX_EXPRESSION_LENGTH} allowed: {expression[:60]!r}...")
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        raise ExpressionError(f"expression {expression!r} cannot be parsed: {exc}") from None
    names: set[str] = set()
    _check(expression.strip(), tree, names)
    return frozenset(names)


def evaluate_expression(expression: str, arguments: Mapping[str, Any]) -> np.ndarray:
    """Evaluate a NumexprFunction expression on named inputs.

    Parameters
    ----------
    expression
        The preload ``function`` text, e.g. ``"Im * a1 * (x - a0)"``.
    arguments
        ``{name: array or scalar}``; scalars (calibration coefficients) broadcast against arrays.
        Names the expression does not use are ignored.

    Returns
    -------
    numpy.ndarray
        float64; NaN wherever an input is NaN.

    Raises
    ------
    ExpressionError
        The expression is not allowed, or uses a name missing from ``arguments``.
    """
    names = expression_names(expression)
    missing = sorted(names - set(arguments))
    if missing:
        raise ExpressionError(
            f"expression {expression!r} uses {', '.join(map(repr, missing))}, which "
            f"{'is' if len(missing) == 1 else 'are'} not among its arguments "
            f"{sorted(arguments)!r}; the NumexprFunction's args must name every variable"
        )
    local = {name: as_float(arguments[name]) for name in names}
    try:
        result = numexpr.evaluate(expression.strip(), local_dict=local, global_dict={},
                                  sanitize=True)
    except (ValueError, TypeError, KeyError, SyntaxError) as exc:
        raise ExpressionError(f"expression {expression!r} failed in numexpr: {exc}") from None
    return np.asarray(result, dtype=np.float64)
