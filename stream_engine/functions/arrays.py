"""Input conditioning shared by the algorithm families.

Algorithms receive record arrays (one value per record, NaN where missing), scalars, or
calibration coefficients tiled per record; these helpers turn all of them into float64 arrays
that broadcast against each other, so a missing value stays NaN through every formula.

The in-place helpers (:func:`as_operand`, :func:`scratch`, :func:`horner`) let a formula run in
a few preallocated float64 buffers instead of one temporary per operation; the formulas that use
them compute in float64 exactly as with :func:`as_float` inputs (integer counts convert exactly).
"""

from __future__ import annotations

from typing import Any

import numpy as np

FLOAT = np.float64


def as_float(value: Any) -> np.ndarray:
    """``value`` as a float64 array; masked entries become NaN."""
    if isinstance(value, np.ma.MaskedArray):
        return np.ma.filled(value.astype(np.float64), np.nan)
    return np.asarray(value, dtype=np.float64)


def as_floats(*values: Any) -> tuple[np.ndarray, ...]:
    return tuple(as_float(v) for v in values)


def as_operand(value: Any) -> np.ndarray:
    """``value`` as an array a float64 ufunc can read as it is, without a converted copy.

    Integer and float arrays are returned unconverted (possibly the caller's own array: never
    write into it); pass ``dtype=np.float64`` (or an ``out`` of float64) to the first ufunc that
    reads them, so float32 inputs are computed in float64 and integers convert exactly. Masked
    arrays and anything else go through :func:`as_float`.
    """
    if not isinstance(value, np.ma.MaskedArray):
        array = np.asarray(value)
        if array.dtype.kind in "iuf":
            return array
    return as_float(value)


def scratch(*values: np.ndarray, count: int = 1) -> list[np.ndarray]:
    """``count`` uninitialised float64 buffers of the broadcast shape of ``values``.

    Raises
    ------
    ValueError
        The shapes of ``values`` do not broadcast (quoted in the message).
    """
    try:
        shape = np.broadcast_shapes(*(np.shape(v) for v in values))
    except ValueError:
        shapes = ", ".join(str(np.shape(v)) for v in values)
        raise ValueError(f"inputs of shapes {shapes} do not broadcast against each other; give "
                         "one value per record or a single value for each argument") from None
    return [np.empty(shape, dtype=FLOAT) for _ in range(count)]


def horner(x: np.ndarray, coefficients: tuple[Any, ...], out: np.ndarray) -> np.ndarray:
    """``c0 + x * (c1 + x * (c2 + ...))`` written into ``out`` (which must not be ``x``).

    ``coefficients`` are ``(c0, c1, ...)``, at least two, each a scalar or a per-record array;
    ``out`` has the broadcast shape of ``x`` and the coefficients (see :func:`scratch`).
    """
    np.multiply(x, coefficients[-1], out=out, dtype=FLOAT)
    for k in range(len(coefficients) - 2, -1, -1):
        out += coefficients[k]
        if k:
            out *= x
    return out


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
