"""``check_preload`` on a deliberately broken dictionary and on the real ones."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from stream_engine.preload import check_preload, load_preload

PARAMETER_DEFS = '''\
scenario,name,netcdf_name,id,parametertype,dimensions,valueencoding,unitofmeasure,fillvalue,parameterfunctionid,parameterfunctionmap,dataproductidentifier,description
DOC:Definition,"Name of the
parameter",,"Identifier, ""global""",,,,,,,,,
CTD,time,,PD7,quantity,,float64,seconds since 1900-01-01,-9999999,,,,"Time, UTC
on two lines"
CTD,counts,,PD1,quantity,,uint16,1,-9999999,,,,
CTD,temp,,PD2,function,,float32,deg_C,,PFID99,"{""x"":""PD1""}",TEMPWAT_L1,
CTD,broken_map,,PD3,function,,float32,1,,PFID1,"{""x"": ""PD1""",,
CTD,extra_arg,,PD4,function,,float32,1,,PFID1,"{""x"":""PD1"", ""zz"": 2}",,
CTD,half_float,,PD5,quantity,,float16,1,0,,,,
CTD,dup,,PD5,quantity,,float32,1,0,,,,
CTD,dangling,,PD6,function,,float32,1,,PFID1,"{""x"":[""PD999"",""dpi_NOPE_L1"",""gone.PD1"",""s1.PD2"", ""None""]}",,
CTD,bad_source,,PD8,function,,float32,1,,PFID1,"{""x"":""TEMPERATURE""}",,
CTD,bad_dims,,PD9,quantity,not-json,float32,1,,,,,
'''

DICTIONARY = """\
scenario,id,name,parameterids,temporalparameter,streamdependency,streamtype
DOC,NOTE,Canonical name,Parameter ids,,,
X,DICT1,s1,"PD7, PD1,PD404,PD1,PDx",PD7,,Science
X,DICT1,s1_again,PD7,PD7,,Science
X,DICT2,s2,"PD1,PD2",PD404,,Science
X,DICT4,s4,"PD1,PD2",PD8,,Science
X,DICT3,virtual,PD7,PD7,"DICT2,DICT77",Science
"""

FUNCTIONS = """\
scenario,id,name,functiontype,function,owner,args,kwargs
BETA,PFID1,identity,NumexprFunction,x,,['x'],
BETA,PFID1,identity_again,NumexprFunction,x,,['x'],
BETA,PFID2,weird,PythonFunction,f,m,"{'a': 1}",not-a-dict
"""

BIN_SIZES = "stream,binsize\ns1,abc\ns2,60\ns2,120\n"
DEPTHS = "designator,depth\nAA-BB-01-CTDBPC000,deep\nAA-BB-02-CTDBPC000,12.5\n"


@pytest.fixture
def broken(tmp_path: Path) -> Path:
    for name, text in [
        ("ParameterDefs.csv", PARAMETER_DEFS),
        ("ParameterDictionary.csv", DICTIONARY),
        ("ParameterFunctions.csv", FUNCTIONS),
        ("BinSizes.csv", BIN_SIZES),
        ("nominal_depths.csv", DEPTHS),
    ]:
        (tmp_path / name).write_text(textwrap.dedent(text), encoding="utf-8")
    return tmp_path


EXPECTED = [
    "PFID1 identity_again: duplicate function id (line 3); the first definition is kept",
    "PFID2 weird: args \"{'a': 1}\" is not a list of argument names; no args",
    "PFID2 weird: kwargs 'not-a-dict' is not a dictionary; ignored",
    "PD2 temp: parameter function PFID99 does not exist",
    'PD3 broken_map: function map does not parse: function map \'{"x": "PD1"\' is neither JSON'
    " nor a Python literal",
    "PD4 extra_arg: map argument(s) zz not among the args of PFID1 x (x)",
    "PD5 half_float: unknown value encoding 'float16'; no fill value, no dtype",
    "PD5 dup: duplicate parameter id (line 11); the first definition is kept",
    "PD8 bad_source: function map does not parse: argument 'x': source 'TEMPERATURE' is not"
    " recognised; expected a number, 'CC_<name>', 'PD<n>', 'dpi_<ID>', '<stream>.PD<n>' or a"
    " list of these",
    "PD9 bad_dims: dimensions 'not-json' is not a JSON list of names; ignored",
    "BinSizes.csv line 2: stream 's1' bin size 'abc' is not a positive whole number of minutes;"
    " using the default 1440",
    "BinSizes.csv line 4: stream 's2' listed again with 120 minutes (was 60); the last row wins",
    "DICT1 s1: names parameter PD404, which does not exist; left out",
    "DICT1 s1: names parameter PD1 twice; listed once",
    "DICT1 s1: parameter id 'PDx' is not PD<n>; left out",
    "DICT1 s1_again: duplicate stream id or name (line 4); the first definition is kept",
    "DICT3 virtual: stream dependency 'DICT77' is not a known stream; left out",
    "nominal_depths.csv line 2: 'AA-BB-01-CTDBPC000' depth 'deep' is not a number; row skipped",
    # cross-reference checks
    "PD6 dangling: map argument 'x' references PD999, which does not exist",
    "PD6 dangling: map argument 'x' references dpi_NOPE_L1, which no parameter carries",
    "PD6 dangling: map argument 'x' references gone.PD1, but stream 'gone' does not exist",
    "PD6 dangling: map argument 'x' references s1.PD2, but stream 's1' does not carry PD2",
    "DICT2 s2: temporal parameter PD404 does not exist",
    "DICT4 s4: temporal parameter PD8 is not one of its parameters",
]


def test_broken_dictionary_reports_every_problem(broken):
    problems = check_preload(broken)
    assert problems == EXPECTED


def test_broken_dictionary_keeps_what_is_usable(broken):
    preload = load_preload(broken)
    assert preload.stream("s1").parameter_ids == (7, 1)
    assert preload.stream("s2").bin_minutes == 120
    assert preload.stream("s1").bin_minutes == 1440
    assert preload.stream("virtual").source_streams == ("s2",)
    assert preload.parameter("PD3").function_map is None
    assert preload.parameter("PD3").function_id == 1
    assert preload.parameter("PD2").function_id == 99
    assert preload.parameter("PD5").name == "half_float"
    assert preload.parameter("PD5").fill_value is None
    assert preload.parameter("PD1").fill_value == 65535
    assert preload.parameter("PD7").description == "Time, UTC\non two lines"
    assert preload.function(1).name == "identity"
    assert preload.nominal_depths == {"AA-BB-02-CTDBPC000": 12.5}


def test_missing_folder_is_a_problem_not_an_exception(tmp_path):
    problems = check_preload(tmp_path / "nowhere")
    assert len(problems) == 1
    assert "does not exist" in problems[0]


def test_optional_files_may_be_missing(broken):
    (broken / "BinSizes.csv").unlink()
    (broken / "nominal_depths.csv").unlink()
    preload = load_preload(broken)
    assert preload.stream("s2").bin_minutes == 1440
    assert preload.nominal_depths == {}
    assert any(p.startswith("BinSizes.csv: file missing") for p in preload.problems)


def test_required_column_missing_is_reported(broken):
    (broken / "ParameterFunctions.csv").write_text("scenario,name\nX,y\n")
    problems = check_preload(broken)
    assert len(problems) == 1
    assert "lacks column(s) id, functiontype, function, args" in problems[0]


def test_upstream_cross_references_all_resolve(upstream_dir, upstream):
    assert check_preload(upstream_dir) == upstream.problems


def test_curated_dictionary_has_no_problems(curated_dir):
    assert check_preload(curated_dir) == []
