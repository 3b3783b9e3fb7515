"""``<param>_qc_executed`` and ``<param>_qc_results``: the original's legacy QC bitmasks over DAP,
from the stored QC parameter records (:mod:`stream_engine.quality.legacy_qc`), lazily per slice.

Each slice is tested with enough records on both sides for the spike and stuck-value windows to
flag it as the whole stream; the trend and gradient tests judge each deployment's records of the
slice read (as the original judged each deployment's records of a request). Arguments naming other variables (a local
range's ``dims``, a gradient's ``x``, propagate-flags inputs) read those variables of the dataset
(by preload or DAP name) over the same records. A function naming a variable the dataset does not
have (or not one value per record) is skipped: its bit is never set in ``_qc_executed``, and the
attribute ``qc_not_run`` of both variables says which and why.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from dap_handlers.qartod_variables import _as_float
from stream_engine.quality.legacy_qc import (
    BUILTIN_NAMES,
    QC_RESULTS_SUFFIX,
    QC_TESTS,
    Functions,
    context_needed,
    names_used,
    run_qc,
)
from stream_engine.store.base import DEPLOYMENT

if TYPE_CHECKING:
    from dap_handlers.model import DapVariable

Lookup = Callable[[str], "DapVariable | None"]


def _reader(functions: Mapping[str, Mapping[str, Any]], everything: Functions, time: DapVariable,
            values: DapVariable, lookup: Lookup, which: str) -> Any:
    n, pad = time.shape[0], context_needed(functions, everything)

    def read(key: tuple[slice, ...]) -> np.ndarray:
        obs = key[0]
        lo, hi = obs.start, obs.start + (obs.stop - 1 - obs.start) // obs.step * obs.step + 1
        a, b = max(0, lo - pad), min(n, hi + pad)
        t = np.asarray(time.read(slice(a, b)), dtype=np.float64)
        v = _as_float(np.asarray(values.read(slice(a, b))), values)

        def others(name: str) -> np.ndarray | None:
            variable = lookup(name)
            if variable is None or variable.ndim != 1 or variable.dtype.kind not in "fiub":
                return None
            return _as_float(np.asarray(variable.read(slice(a, b))), variable)

        deployment = lookup(DEPLOYMENT)
        groups = None if deployment is None else np.asarray(deployment.read(slice(a, b)))
        flags, _ = run_qc(functions, v, t, others, core=slice(lo - a, hi - a, obs.step), everything=everything,
                          groups=groups)
        return np.asarray(getattr(flags, which))

    return read


def _not_run(functions: Mapping[str, Mapping[str, Any]], lookup: Lookup) -> list[str]:
    """The functions skipped because an argument names what the dataset does not serve."""
    out = []
    for function, given in sorted(functions.items()):
        for name in sorted(names_used({function: given})):
            stem = name[: -len(QC_RESULTS_SUFFIX)] if name.endswith(QC_RESULTS_SUFFIX) else name
            variable = lookup(stem)
            if stem not in BUILTIN_NAMES and (variable is None or variable.ndim != 1):
                out.append(f"{function}: {name!r} is not a variable of this dataset with one value per record")
    return out


def qc_variables(functions: Functions, by_parameter: Mapping[str, DapVariable], time: DapVariable,
                 obs_dim: str, lookup: Lookup | None = None) -> list[DapVariable]:
    """The bitmask variables of every parameter with QC functions that the dataset serves as
    1-D numbers; ``lookup`` finds the variables arguments name (by preload or DAP name)."""
    from dap_handlers.model import DapVariable

    find: Lookup = lookup or by_parameter.get
    out = []
    for parameter, given in sorted(functions.items()):
        variable = by_parameter.get(parameter)
        if variable is None or variable.ndim != 1 or variable.dtype.kind not in "fiu":
            continue
        bits = ", ".join(f"{QC_TESTS[f].bit}: {f}" for f in sorted(given))
        skipped = _not_run(given, find)
        for which in ("executed", "results"):
            name = f"{variable.name}_qc_{which}"
            attrs: dict[str, Any] = {
                "long_name": f"{variable.name} legacy QC tests {which} (bitmask)",
                "flag_masks": np.array(sorted(QC_TESTS[f].bit for f in given), dtype=np.uint8),
                "comment": f"bit per test ({bits}); results: bit set where the test passed"}
            if skipped:
                attrs["qc_not_run"] = "; ".join(skipped)
            out.append(DapVariable(name, np.uint8, (time.shape[0],), (obs_dim,),
                                   _reader(given, functions, time, variable, find, which), attrs))
        previous = variable.attributes.get("ancillary_variables")
        variable.attributes["ancillary_variables"] = " ".join(
            v for v in (previous, f"{variable.name}_qc_executed", f"{variable.name}_qc_results") if v)
    return out
