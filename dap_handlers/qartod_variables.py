"""``<param>_qartod_results`` and ``<param>_qartod_executed``: QARTOD flags of a stream's
parameters over DAP, computed lazily per slice (:class:`~stream_engine.quality.qartod_slices.
SliceTests`: a slice's flags equal the whole stream's).

A 2-D parameter gets 2-D flag variables (tested column by column). Further inputs a record names
(``zinp``, ``lat`` ...) are the dataset's variables (by preload or DAP name, positions included)
over the same records, else a co-located stream's parameter interpolated onto the stream's times
(:class:`~stream_engine.quality.qartod_inputs.ExternalFinder`); a record naming an input none of
these has is not run, and the attribute ``qartod_not_run`` says so.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from stream_engine.quality.qartod import FLAG_MEANINGS, FLAG_VALUES, QartodRecord
from stream_engine.quality.qartod_inputs import ExternalFinder, input_names
from stream_engine.quality.qartod_slices import SliceData, SliceTests

if TYPE_CHECKING:
    from dap_handlers.model import DapVariable

Lookup = Callable[[str], "DapVariable | None"]


def _as_float(values: np.ndarray, variable: DapVariable) -> np.ndarray:
    out = values.astype(np.float64)
    fill = variable.attributes.get("_FillValue")
    if values.dtype.kind in "iu" and fill is not None:
        out[values == fill] = np.nan
    return out


def _reader(variable: DapVariable, time: DapVariable, deployment: DapVariable, names: set[str], lookup: Lookup,
            finder: ExternalFinder | None) -> Callable[[int, int], SliceData]:
    def read(a: int, b: int) -> SliceData:
        times = np.asarray(time.read(slice(a, b)), dtype=np.float64)
        inputs: dict[str, np.ndarray] = {}
        for name in names:
            local = lookup(name)
            if local is not None and local.ndim <= 2 and local.dtype.kind in "fiu":
                inputs[name] = _as_float(np.asarray(local.read(slice(a, b))), local)
                continue
            source = None if finder is None else finder.find(name)
            if source is not None and finder is not None:
                inputs[name] = finder.values(source, times, np.asarray(deployment.read(slice(a, b))))
        return SliceData(times, _as_float(np.asarray(variable.read(slice(a, b))), variable), inputs)

    return read


def _not_found(names: set[str], lookup: Lookup, finder: ExternalFinder | None) -> list[str]:
    return sorted(n for n in names if lookup(n) is None and (finder is None or finder.find(n) is None))


def qartod_variables(records: Mapping[str, Sequence[QartodRecord]], by_parameter: Mapping[str, DapVariable],
                     time: DapVariable, obs_dim: str, lookup: Lookup | None = None,
                     finder: ExternalFinder | None = None, deployment: DapVariable | None = None) -> list[DapVariable]:
    """The flag variables of every tested parameter that the dataset serves as numbers (1-D, or
    2-D column by column); adds ``ancillary_variables`` to the tested variables. ``lookup`` finds
    the variables further inputs name, ``finder`` those of co-located streams."""
    from dap_handlers.model import DapVariable

    find: Lookup = lookup or by_parameter.get
    out = []
    for parameter, found in sorted(records.items()):
        variable = by_parameter.get(parameter)
        if variable is None or variable.ndim > 2 or variable.dtype.kind not in "fiu":
            continue
        names = input_names(list(found))
        tests = SliceTests(found, time.shape[0], _reader(variable, time, deployment or time, names, find, finder))
        tested = [name for r in found for name in r.tests]
        results_name, executed_name = f"{variable.name}_qartod_results", f"{variable.name}_qartod_executed"
        standard = variable.attributes.get("standard_name")
        results_attrs: dict[str, Any] = {
            "long_name": f"{variable.name} QARTOD aggregate flag (largest flag of the tests run)",
            "flag_values": FLAG_VALUES, "flag_meanings": FLAG_MEANINGS,
            "tests_executed": ", ".join(tested),
            "references": "https://ioos.noaa.gov/project/qartod/ (run with ioos_qc)",
        }
        if standard:
            results_attrs["standard_name"] = f"{standard} status_flag"
        executed_attrs: dict[str, Any] = {
            "long_name": f"{variable.name} QARTOD flag of each test, one digit per test in the order of "
                         "tests_executed", "tests_executed": ", ".join(tested)}
        lacking = _not_found(names, find, finder)
        if lacking:
            note = (f"records naming {', '.join(map(repr, lacking))} (neither a variable of this dataset nor "
                    "a parameter of a co-located stream) are not run")
            results_attrs["qartod_not_run"] = executed_attrs["qartod_not_run"] = note

        def flags(key: tuple[slice, ...], which: str, t: SliceTests = tests) -> np.ndarray:
            got = getattr(t.result(key[0].start, key[0].stop, key[0].step), which)
            return got[(slice(None), *key[1:])] if got.ndim > 1 else got

        out.append(DapVariable(results_name, np.uint8, variable.shape, variable.dims,
                               lambda key, f=flags: f(key, "results"), results_attrs))
        out.append(DapVariable(executed_name, np.dtype("U"), variable.shape, variable.dims,
                               lambda key, f=flags: f(key, "executed"), executed_attrs))
        previous = variable.attributes.get("ancillary_variables")
        variable.attributes["ancillary_variables"] = " ".join(
            v for v in (previous, results_name, executed_name) if v)
    return out
