"""``<param>_qartod_results`` and ``<param>_qartod_executed``: QARTOD flags of a stream's
parameters over DAP, computed lazily per slice (:class:`~stream_engine.quality.qartod_slices.
SliceTests`: a slice's flags equal the whole stream's).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from stream_engine.quality.qartod import FLAG_MEANINGS, FLAG_VALUES, QartodRecord
from stream_engine.quality.qartod_slices import SliceTests

if TYPE_CHECKING:
    from dap_handlers.model import DapVariable


def _as_float(values: np.ndarray, variable: DapVariable) -> np.ndarray:
    out = values.astype(np.float64)
    fill = variable.attributes.get("_FillValue")
    if values.dtype.kind in "iu" and fill is not None:
        out[values == fill] = np.nan
    return out


def qartod_variables(records: Mapping[str, Sequence[QartodRecord]], by_parameter: Mapping[str, DapVariable],
                     time: DapVariable, obs_dim: str) -> list[DapVariable]:
    """The flag variables of every tested parameter that the dataset serves as 1-D numbers;
    adds ``ancillary_variables`` to the tested variables."""
    from dap_handlers.model import DapVariable

    out = []
    for parameter, found in sorted(records.items()):
        variable = by_parameter.get(parameter)
        if variable is None or variable.ndim != 1 or variable.dtype.kind not in "fiu":
            continue
        def read(a: int, b: int, values: DapVariable = variable) -> tuple[np.ndarray, np.ndarray]:
            return (np.asarray(time.read(slice(a, b)), dtype=np.float64),
                    _as_float(np.asarray(values.read(slice(a, b))), values))

        tests = SliceTests(found, time.shape[0], read)
        names = [name for r in found for name in r.tests]
        results_name, executed_name = f"{variable.name}_qartod_results", f"{variable.name}_qartod_executed"
        standard = variable.attributes.get("standard_name")
        results_attrs = {
            "long_name": f"{variable.name} QARTOD aggregate flag (largest flag of the tests run)",
            "flag_values": FLAG_VALUES, "flag_meanings": FLAG_MEANINGS,
            "tests_executed": ", ".join(names),
            "references": "https://ioos.noaa.gov/project/qartod/ (run with ioos_qc)",
        }
        if standard:
            results_attrs["standard_name"] = f"{standard} status_flag"
        out.append(DapVariable(results_name, np.uint8, (time.shape[0],), (obs_dim,),
                               lambda key, t=tests: t.result(key[0].start, key[0].stop, key[0].step).results, results_attrs))
        out.append(DapVariable(executed_name, np.dtype("U"), (time.shape[0],), (obs_dim,),
                               lambda key, t=tests: t.result(key[0].start, key[0].stop, key[0].step).executed,
                               {"long_name": f"{variable.name} QARTOD flag of each test, one digit per test "
                                             "in the order of tests_executed", "tests_executed": ", ".join(names)}))
        previous = variable.attributes.get("ancillary_variables")
        variable.attributes["ancillary_variables"] = " ".join(
            v for v in (previous, results_name, executed_name) if v)
    return out
