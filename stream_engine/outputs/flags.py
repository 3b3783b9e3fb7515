"""Metadata of the quality flag columns a query adds (QARTOD and legacy QC) for exports.

A query run with ``run_qartod`` gives ``<name>_qartod_results`` (aggregate flag, uint8) and
``<name>_qartod_executed`` (one digit per test, text) for each tested parameter; stored or
requested legacy QC records give ``<name>_qc_executed`` / ``<name>_qc_results`` (uint8 bitmasks).
:func:`flag_columns` describes them as DAP does: CF ``flag_values``/``flag_meanings`` (QARTOD) or
``flag_masks`` (legacy QC), the tests run, ``standard_name`` ``<tested standard name>
status_flag`` for the QARTOD aggregate, and the tested variable they belong to (whose
``ancillary_variables`` name them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from stream_engine.outputs import attributes
from stream_engine.quality.legacy_qc import QC_TESTS
from stream_engine.quality.legacy_qc_query import QueryLegacyQc
from stream_engine.quality.qartod import FLAG_MEANINGS, FLAG_VALUES
from stream_engine.quality.qartod_query import QueryQartod

if TYPE_CHECKING:
    from stream_engine.engine.query_run import OutputVariable

QARTOD_REFERENCE = "https://ioos.noaa.gov/project/qartod/ (run with ioos_qc)"


@dataclass(frozen=True, slots=True)
class FlagColumn:
    """A flag column: the output name of the variable it flags and its attributes."""

    tested: str
    attributes: dict[str, Any]


def _qartod(tests: QueryQartod, standard_names: dict[str, str]) -> dict[str, FlagColumn]:
    out = {}
    for tested, results, executed in tests.names:
        names = ", ".join(name for record in tests.tests[tested].records for name in record.tests)
        attrs: dict[str, Any] = {
            "long_name": f"{tested} QARTOD aggregate flag (largest flag of the tests run)",
            "flag_values": FLAG_VALUES, "flag_meanings": FLAG_MEANINGS, "tests_executed": names,
            "references": QARTOD_REFERENCE}
        if standard_names.get(tested):
            attrs["standard_name"] = f"{standard_names[tested]} status_flag"
        out[results] = FlagColumn(tested, attrs)
        out[executed] = FlagColumn(tested, {
            "long_name": f"{tested} QARTOD flag of each test, one digit per test in the order of tests_executed",
            "tests_executed": names})
    return out


def _legacy(tests: QueryLegacyQc) -> dict[str, FlagColumn]:
    out = {}
    for tested, (_, functions) in tests.functions.items():
        bits = ", ".join(f"{QC_TESTS[f].bit}: {f}" for f in sorted(functions))
        masks = np.array(sorted(QC_TESTS[f].bit for f in functions), dtype=np.uint8)
        for which in ("executed", "results"):
            out[f"{tested}_qc_{which}"] = FlagColumn(tested, {
                "long_name": f"{tested} legacy QC tests {which} (bitmask)", "flag_masks": masks,
                "comment": f"bit per test ({bits}); results: bit set where the test passed"})
    return out


def flag_columns(quality: Sequence[object], variables: Sequence[OutputVariable]) -> dict[str, FlagColumn]:
    """The flag columns of a query run (``QueryRun.quality``), by output name.

    Parameters
    ----------
    quality
        The run's QARTOD and legacy QC column makers.
    variables
        The run's output variables (the tested ones give their standard names).
    """
    standard_names = {}
    for var in variables:
        if var.parameter is not None:
            found = attributes.parameter_attributes(var.parameter, var.parameter.dtype.kind).get("standard_name")
            standard_names[var.name] = str(found) if found else ""
    out: dict[str, FlagColumn] = {}
    for maker in quality:
        if isinstance(maker, QueryQartod):
            out.update(_qartod(maker, standard_names))
        elif isinstance(maker, QueryLegacyQc):
            out.update(_legacy(maker))
    return out
