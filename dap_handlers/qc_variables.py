"""``<param>_qc_executed`` and ``<param>_qc_results``: the original's legacy QC bitmasks over DAP,
from the stored QC parameter records (:mod:`stream_engine.quality.legacy_qc`), lazily per slice.

Each slice is tested with enough records on both sides for the spike and stuck-value windows to
flag it as the whole stream; the trend test judges the records of the slice read (as the original
judged the records of each request).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from dap_handlers.qartod_variables import _as_float
from stream_engine.quality.legacy_qc import QC_TESTS, context_needed, run_qc

if TYPE_CHECKING:
    from dap_handlers.model import DapVariable


def _reader(functions: Mapping[str, Mapping[str, Any]], time: DapVariable, values: DapVariable, which: str) -> Any:
    n, pad = time.shape[0], context_needed(functions)

    def read(key: tuple[slice, ...]) -> np.ndarray:
        obs = key[0]
        lo, hi = obs.start, obs.start + (obs.stop - 1 - obs.start) // obs.step * obs.step + 1
        a, b = max(0, lo - pad), min(n, hi + pad)
        t = np.asarray(time.read(slice(a, b)), dtype=np.float64)
        v = _as_float(np.asarray(values.read(slice(a, b))), values)
        flags, _ = run_qc(functions, v, t, core=slice(lo - a, hi - a, obs.step))
        return np.asarray(getattr(flags, which))

    return read


def qc_variables(functions: Mapping[str, Mapping[str, Mapping[str, Any]]], by_parameter: Mapping[str, DapVariable],
                 time: DapVariable, obs_dim: str) -> list[DapVariable]:
    """The bitmask variables of every parameter with QC functions that the dataset serves as 1-D numbers."""
    from dap_handlers.model import DapVariable

    out = []
    for parameter, given in sorted(functions.items()):
        variable = by_parameter.get(parameter)
        if variable is None or variable.ndim != 1 or variable.dtype.kind not in "fiu":
            continue
        bits = ", ".join(f"{QC_TESTS[f].bit}: {f}" for f in sorted(given))
        for which in ("executed", "results"):
            name = f"{variable.name}_qc_{which}"
            attrs = {"long_name": f"{variable.name} legacy QC tests {which} (bitmask)",
                     "flag_masks": np.array(sorted(QC_TESTS[f].bit for f in given), dtype=np.uint8),
                     "comment": f"bit per test ({bits}); results: bit set where the test passed"}
            out.append(DapVariable(name, np.uint8, (time.shape[0],), (obs_dim,),
                                   _reader(given, time, variable, which), attrs))
        previous = variable.attributes.get("ancillary_variables")
        variable.attributes["ancillary_variables"] = " ".join(
            v for v in (previous, f"{variable.name}_qc_executed", f"{variable.name}_qc_results") if v)
    return out
