"""The parameterfunctionmap grammar."""

from __future__ import annotations

import pytest

from stream_engine.preload import (
    Calibration,
    Choice,
    Constant,
    ParameterRef,
    ProductRef,
    StreamParameterRef,
    parse_function_map,
    parse_source,
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (12, Constant(12)),
        (0.001, Constant(0.001)),
        ("0.5", Constant(0.5)),
        ("-3", Constant(-3)),
        ("1e-5", Constant(1e-5)),
        ([1, 2.5, 3], Constant((1, 2.5, 3))),
        ("CC_a0", Calibration("CC_a0")),
        ("CC_lat", Calibration("CC_lat")),
        ("PD908", ParameterRef(908)),
        (" PD7 ", ParameterRef(7)),
        ("dpi_PRACSAL_L2", ProductRef("PRACSAL_L2")),
        ("dpi_DOCONCS-DEG_L0", ProductRef("DOCONCS-DEG_L0")),
        ("botpt_nano_sample.PD848", StreamParameterRef("botpt_nano_sample", 848)),
        (["PD330", "PD2325"], Choice((ParameterRef(330), ParameterRef(2325)))),
        (["dpi_PRESWAT_L1", "None"], Choice((ProductRef("PRESWAT_L1"),), optional=True)),
        (["None", "PD1"], Choice((ParameterRef(1),), optional=True)),
        (["PD1", None], Choice((ParameterRef(1),), optional=True)),
        (["PD1", [1, 2]], Choice((ParameterRef(1), Constant((1, 2))))),
        (["PD1", "0.5"], Choice((ParameterRef(1), Constant(0.5)))),
    ],
)
def test_source_kinds(value, expected):
    assert parse_source(value) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("XYZ", "'XYZ' is not recognised"),
        ("PD", "'PD' is not recognised"),
        ("pd12", "'pd12' is not recognised"),
        ("dpi_", "'dpi_' is not recognised"),
        ("CC_", "'CC_' is not recognised"),
        ("stream.PDx", "'stream.PDx' is not recognised"),
        ("nan", "'nan' is not recognised"),
        (True, "True is a bool"),
        ({"a": 1}, "is a dict"),
        ([], "empty list"),
        (["PD1", ["PD2", "PD3"]], "contains another priority list"),
    ],
)
def test_bad_sources_say_what_is_wrong(value, message):
    with pytest.raises(ValueError) as info:
        parse_source(value)
    assert message in str(info.value)


def test_real_priority_list_map():
    text = (
        '{"DO":"dpi_DOCONCS_L1", "P":["PD2606","dpi_PRESWAT_L1","PD17"],'
        '"T":["dpi_TEMPWAT_L1","dpi_TEMPSRF_L1"],"SP":["dpi_PRACSAL_L2","dpi_SALSURF_L2"],'
        '"lat":"CC_lat","lon":"CC_lon"}'
    )
    parsed = parse_function_map(text)
    assert list(parsed) == ["DO", "P", "T", "SP", "lat", "lon"]
    assert parsed["DO"] == ProductRef("DOCONCS_L1")
    assert parsed["P"] == Choice((ParameterRef(2606), ProductRef("PRESWAT_L1"), ParameterRef(17)))
    assert parsed["lon"] == Calibration("CC_lon")


def test_real_optional_argument_with_constants():
    text = '{"a1":"PD1639", "a2":["dpi_PRESWAT_L1", "None"], "a2_scale_factor":1000.0, "std":"CC_depth"}'
    assert parse_function_map(text) == {
        "a1": ParameterRef(1639),
        "a2": Choice((ProductRef("PRESWAT_L1"),), optional=True),
        "a2_scale_factor": Constant(1000.0),
        "std": Calibration("CC_depth"),
    }


def test_real_stream_parameter_map():
    text = '{"timestamp":"botpt_nano_sample.PD7", "botpres":"botpt_nano_sample.PD848", "predtide":"PD3664"}'
    assert parse_function_map(text) == {
        "timestamp": StreamParameterRef("botpt_nano_sample", 7),
        "botpres": StreamParameterRef("botpt_nano_sample", 848),
        "predtide": ParameterRef(3664),
    }


def test_python_literal_syntax_is_accepted():
    text = "{'x': 'PD1', 'scaler': 0.10, 'opt': ['PD2', None], ' y ': '7'}"
    assert parse_function_map(text) == {
        "x": ParameterRef(1),
        "scaler": Constant(0.1),
        "opt": Choice((ParameterRef(2),), optional=True),
        "y": Constant(7),
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty function map"),
        ("{bad", "neither JSON nor a Python literal"),
        ('["PD1"]', "is a list, not an object"),
        ('{"": "PD1"}', "argument name '' is not a non-empty string"),
        ('{"c": "PD1", "t": "TEMP"}', "argument 't': source 'TEMP' is not recognised"),
    ],
)
def test_bad_maps_raise_precise_errors(text, message):
    with pytest.raises(ValueError) as info:
        parse_function_map(text)
    assert message in str(info.value)
