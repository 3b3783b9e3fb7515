"""The parameter dictionary: model, CSV loader, function-map grammar, fill values and checks."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

from stream_engine.preload.check import check_preload, consistency_problems
from stream_engine.preload.fill_values import fill_value_for
from stream_engine.preload.function_map import parse_function_map, parse_source
from stream_engine.preload.loader import load_preload
from stream_engine.preload.model import (
    DEFAULT_BIN_MINUTES,
    Calibration,
    Choice,
    Constant,
    Parameter,
    ParameterFunction,
    ParameterRef,
    Preload,
    ProductRef,
    Source,
    StreamDefinition,
    StreamParameterRef,
    dtype_of_encoding,
)

if TYPE_CHECKING:
    from stream_engine.config import Settings

__all__ = [
    "DEFAULT_BIN_MINUTES",
    "Calibration",
    "Choice",
    "Constant",
    "Parameter",
    "ParameterFunction",
    "ParameterRef",
    "Preload",
    "ProductRef",
    "Source",
    "StreamDefinition",
    "StreamParameterRef",
    "check_preload",
    "consistency_problems",
    "default_preload",
    "dtype_of_encoding",
    "fill_value_for",
    "load_preload",
    "parse_function_map",
    "parse_source",
]

_loaded: dict[Path, Preload] = {}
_lock = threading.Lock()


def default_preload(settings: Settings) -> Preload:
    """The dictionary named by the ``PRELOAD`` setting, loaded once per process and path.

    Raises
    ------
    PreloadError
        The folder cannot be read (see :func:`load_preload`).
    """
    path = settings.path("PRELOAD").resolve()
    with _lock:
        if path not in _loaded:
            _loaded[path] = load_preload(path)
        return _loaded[path]
