"""Input conditioning shared by the algorithm families.

Algorithms receive record arrays (one value per record, NaN where missing), scalars, or
calibration coefficients tiled per record; these helpers turn all of them into float64 arrays
that broadcast against each other, so a missing value stays NaN through every formula.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def as_float(value: Any) -> np.ndarray:
    """``value`` as a float64 array; masked entries become NaN."""
    if isinstance(value, np.ma.MaskedArray):
        return np.ma.filled(value.astype(np.float64), np.nan)
    return np.asarray(value, dtype=np.float64)


def as_floats(*values: Any) -> tuple[np.ndarray, ...]:
    return tuple(as_float(v) for v in values)


def coefficient_rows(value: Any, width: int, name: str) -> np.ndarray:
    """A vector calibration coefficient as a 2-D ``(1 or n, width)`` float64 array.

    Accepts one vector of ``width`` values (the deployment's coefficient) or the same tiled per
    record, ``(n, width)``. Anything else raises ``ValueError`` quoting the shape.
    """
    rows = np.atleast_2d(as_float(value))
    if rows.ndim != 2 or rows.shape[-1] != width:
        raise ValueError(
            f"calibration coefficient {name!r} must hold {width} values per record, got an array "
            f"of shape {np.shape(value)}; check the deployment's calibration entry for {name}"
        )
    return rows
