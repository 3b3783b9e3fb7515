"""The algorithm registry: lookup, registration rules, and agreement with the preload dictionary."""

from __future__ import annotations

import ast
import csv
import json
from pathlib import Path

import numpy as np
import pytest

from stream_engine.functions import (
    Algorithm,
    AlgorithmArgumentError,
    UnknownAlgorithm,
    algorithm,
    is_registered,
    lookup,
    registered,
)
from stream_engine.functions import registry as registry_module

# Every PythonFunction the CTD, DOSTA/DOFST, FLORT/FLORD and PARAD streams of the upstream
# dictionary use, plus the depth function (PFID217) those streams compute depth with.
IMPLEMENTED_PFIDS = (
    26, 27, 35, 36, 37, 59, 61, 78, 79, 80, 81, 82, 83, 84, 85, 86, 87, 88, 90, 96, 97,
    140, 141, 142, 172, 199, 200, 204, 205, 206, 207, 217,
    28, 29, 30, 31, 49, 50, 89, 109, 121, 122, 123, 124, 125, 201, 202, 203,  # ADCP, nitrate (128, 129, 218: args cells malformed upstream)
)
#: Parameters of no stream whose maps follow an older signature (ADCPS-JLN beam velocities of
#: 2014: no percent-good arguments, an extra ``z``); resolution reports them unresolvable.
STALE_MAPS = {"PD3358", "PD3359"}
FAMILY_CLASSES = {"CTDBP", "CTDPF", "CTDMO", "CTDGV", "DOSTA", "DOFST", "FLORT", "FLORD", "PARAD"}


def _functions_csv(ooi_dir: Path) -> dict[int, dict[str, str]]:
    with open(ooi_dir / "preload" / "ParameterFunctions.csv", newline="") as fh:
        rows = csv.DictReader(fh)
        return {int(r["id"][4:]): r for r in rows if r["id"].startswith("PFID")}


def test_lookup_returns_algorithm_with_upstream_identity():
    alg = lookup("ion_functions.data.ctd_functions", "ctd_pracsal")
    assert isinstance(alg, Algorithm)
    assert alg.qualified_name == "ion_functions.data.ctd_functions.ctd_pracsal"
    assert alg.args == ("c", "t", "p")
    assert alg.version == "1.0"
    assert alg.description.startswith("PRACSAL_L2")
    assert alg.required == ("c", "t", "p") and alg.optional == ()


def test_unknown_function_is_a_clear_key_error():
    with pytest.raises(KeyError) as info:
        lookup("ion_functions.data.ctd_functions", "ctd_does_not_exist")
    assert isinstance(info.value, UnknownAlgorithm)
    message = str(info.value)
    assert "no implementation of 'ion_functions.data.ctd_functions.ctd_does_not_exist'" in message
    assert "is registered" in message
    assert not is_registered("ion_functions.data.ctd_functions", "ctd_does_not_exist")
    assert is_registered("ion_functions.data.ctd_functions", "ctd_pracsal")


def test_optional_arguments_and_extra_keywords():
    svu = lookup("ion_functions.data.do2_functions", "do2_SVU")
    assert svu.args == ("calphase", "temp", "csv", "conc_coef")
    assert svu.required == ("calphase", "temp", "csv")
    assert svu.defaults["conc_coef"] == (0.0, 1.0)
    doxy = lookup("ion_functions.data.do2_functions", "do2_salinity_correction")
    assert doxy.args == ("DO", "P", "T", "SP", "lat", "lon")
    assert doxy.keywords == ("sref", "pref")
    assert doxy.parameters == ("DO", "P", "T", "SP", "lat", "lon", "sref", "pref")
    assert doxy.optional == ("sref", "pref")


def test_compute_by_name_ignores_extras_and_reports_them():
    alg = lookup("ion_functions.data.ctd_functions", "ctd_sbe52mp_tempwat")
    inputs = {"t0": np.array([200000.0, np.nan]), "CC_spd_corr": 3.0}
    out = alg.compute(inputs)
    np.testing.assert_array_equal(out, [15.0, np.nan])
    assert alg.ignored(inputs) == ("CC_spd_corr",)


def test_compute_missing_argument_names_it():
    alg = lookup("ion_functions.data.ctd_functions", "ctd_pracsal")
    with pytest.raises(AlgorithmArgumentError, match=r"needs argument\(s\) 'p'"):
        alg.compute({"c": 4.0, "t": 10.0})


def test_duplicate_registration_is_refused():
    with pytest.raises(ValueError, match="already registered"):
        algorithm("ion_functions.data.ctd_functions", "ctd_pracsal", version="9")(lambda c: c)
    assert lookup("ion_functions.data.ctd_functions", "ctd_pracsal").version == "1.0"


def test_keyword_only_parameters_need_defaults():
    def bad(x, *, y):
        return x

    with pytest.raises(TypeError, match="needs a default"):
        algorithm("tests.fake", "bad", version="1")(bad)
    assert not is_registered("tests.fake", "bad")


def test_broken_family_warns_instead_of_failing(monkeypatch):
    monkeypatch.setattr(registry_module, "FAMILY_MODULES", ("stream_engine.functions.nope",))
    with pytest.warns(UserWarning, match="stream_engine.functions.nope could not be loaded"):
        failed = registry_module.load_families()
    assert failed == ["stream_engine.functions.nope"]


def test_registered_lists_every_family():
    # Other test modules register their own toy algorithms; this is about the built-in families.
    names = {k: a for k, a in registered().items() if a.func.__module__.startswith("stream_engine.functions.")}
    owners = {a.owner for a in names.values()}
    assert owners == {
        "ion_functions.data.ctd_functions", "ion_functions.data.do2_functions",
        "ion_functions.data.flo_functions", "ion_functions.data.opt_functions",
        "ion_functions.data.adcp_functions", "ion_functions.data.met_functions",
        "ion_functions.data.vel_functions", "ion_functions.data.generic_functions",
        "ion_functions.data.nit_functions",
    }
    assert len(names) == 32 + 34 + 19  # + METBK (31) and VELPT (3), + ADCP (12), VADCP (5), generic, nitrate


def test_preload_functions_are_registered_with_matching_args(ooi_dir):
    rows = _functions_csv(ooi_dir)
    for pfid in IMPLEMENTED_PFIDS:
        row = rows[pfid]
        assert row["functiontype"] == "PythonFunction", pfid
        alg = lookup(row["owner"], row["function"])
        assert alg.args == tuple(ast.literal_eval(row["args"])), f"PFID{pfid} {row['function']}"


def test_every_family_python_function_in_preload_is_registered(ooi_dir):
    missing = []
    for pfid, row in _functions_csv(ooi_dir).items():
        classes = {c.strip() for c in row["instrumentclass"].replace(",", " ").split()}
        if row["functiontype"] == "PythonFunction" and classes & FAMILY_CLASSES:
            if not is_registered(row["owner"], row["function"]):
                missing.append(f"PFID{pfid} {row['owner']}.{row['function']}")
            else:
                assert pfid in IMPLEMENTED_PFIDS, pfid
    assert missing == []


def test_preload_function_maps_fit_the_registered_signatures(ooi_dir):
    functions = _functions_csv(ooi_dir)
    checked = 0
    with open(ooi_dir / "preload" / "ParameterDefs.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            pfid = row["parameterfunctionid"].strip()
            if not pfid.startswith("PFID") or int(pfid[4:]) not in IMPLEMENTED_PFIDS:
                continue
            if row["id"] in STALE_MAPS:
                continue
            fn = functions[int(pfid[4:])]
            alg = lookup(fn["owner"], fn["function"])
            keys = set(json.loads(row["parameterfunctionmap"]))
            assert set(alg.required) <= keys, (row["id"], sorted(keys))
            assert keys <= set(alg.parameters), (row["id"], sorted(keys - set(alg.parameters)))
            checked += 1
    assert checked >= 70  # 77 in the upstream dictionary of 2024
