"""Generic helpers of the OOI dictionary (``ion_functions.data.generic_functions``).

``select_arg_within_tolerance_of_std`` picks, for instruments with two candidate sources of one
quantity (an ADCP's own pressure sensor and a co-located CTD's), the one that agrees with a
standard (the deployment depth).
"""

from __future__ import annotations

import numpy as np

from stream_engine.functions.arrays import as_float
from stream_engine.functions.registry import algorithm

OWNER = "ion_functions.data.generic_functions"


@algorithm(OWNER, "select_arg_within_tolerance_of_std", version="1.0")
def select_arg_within_tolerance_of_std(a1, a2=None, std=None, a1_scale_factor=1.0, a2_scale_factor=1.0,
                                       std_scale_factor=1.0, *, tol=0.25) -> np.ndarray:
    """``a1`` or ``a2`` (each times its scale factor), whichever agrees with ``std``, per record.

    A value agrees when it is non-zero and its relative difference from ``std`` (times
    ``std_scale_factor``) is below ``tol``. Each record takes scaled ``a1`` if it agrees, else
    scaled ``a2`` if that agrees, else ``a1`` when it is non-zero, else ``a2``. Without ``a2``
    (or ``std``) the result is scaled ``a1``.

    Upstream (2023) decides once for all the records of a request, from the averages of the
    relative differences; deciding per record gives the same choice where the sources are
    consistent and never depends on which other records were requested beside a record.
    """
    first = as_float(a1) * as_float(a1_scale_factor)
    if a2 is None:
        return np.atleast_1d(first)
    second = as_float(a2) * as_float(a2_scale_factor)
    if std is None:
        return np.atleast_1d(first)
    standard = as_float(std) * as_float(std_scale_factor)
    with np.errstate(divide="ignore", invalid="ignore"):
        agrees_1 = (first != 0) & (np.abs(first - standard) / np.abs(standard) < tol)
        agrees_2 = (second != 0) & (np.abs(second - standard) / np.abs(standard) < tol)
    usable_1 = np.isfinite(first) & (first != 0)
    out = np.where(agrees_1, first, np.where(agrees_2, second, np.where(usable_1, first, second)))
    return np.atleast_1d(out)
