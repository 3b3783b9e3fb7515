"""Data-product algorithms, registered under their upstream (ion-functions) names.

Importing this package registers every built-in algorithm family. Use :func:`lookup` for a
preload ``PythonFunction`` and :func:`evaluate_expression` for a ``NumexprFunction``; nothing
from the dictionary is ever passed to ``eval``.
"""

from __future__ import annotations

from stream_engine.functions.numexpr_eval import (
    ExpressionError,
    evaluate_expression,
    expression_names,
)
from stream_engine.functions.registry import (
    Algorithm,
    AlgorithmArgumentError,
    UnknownAlgorithm,
    algorithm,
    is_registered,
    load_families,
    lookup,
    registered,
)

load_families()

__all__ = [
    "Algorithm",
    "AlgorithmArgumentError",
    "ExpressionError",
    "UnknownAlgorithm",
    "algorithm",
    "evaluate_expression",
    "expression_names",
    "is_registered",
    "lookup",
    "registered",
]
