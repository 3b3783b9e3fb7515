"""Request bodies into typed queries (:mod:`stream_engine.engine.query`): the real OOI bodies,
defaults, and every bad field named in the error."""

from __future__ import annotations

import dataclasses
import json

import pytest

from stream_engine.config import REPO_ROOT, load_settings
from stream_engine.engine.query import parse_query
from stream_engine.errors import BadRequest, InvalidQuery, QueryTooLarge, TooLarge
from stream_engine.preload import load_preload
from stream_engine.store.base import StreamKey

NUTNR = StreamKey("CE04OSPS", "SF01B", "4A-NUTNRA102", "streamed", "nutnr_a_sample")
NOW = 3_900_000_000.0


@pytest.fixture(scope="module")
def curated():
    return load_preload(REPO_ROOT / "preload_database")


@pytest.fixture(scope="module")
def upstream(ooi_dir):
    return load_preload(ooi_dir / "preload")


@pytest.fixture(scope="module")
def query_settings():
    return load_settings(environ={})


def _body(**changes):
    stream = {"subsite": "CE04OSPS", "node": "SF01B", "sensor": "4A-NUTNRA102", "method": "streamed",
              "stream": "nutnr_a_sample", "parameters": [2327, 2328]}
    stream.update(changes.pop("stream_fields", {}))
    return {"streams": [stream], "start": 3653423999.775322, "stop": 3653424024.525519, **changes}


def test_the_single_stream_sample_body_is_parsed_whole(samples_dir, upstream, query_settings):
    query = parse_query((samples_dir / "parameter_request.json").read_bytes(), upstream, query_settings)
    assert query.primary.key == NUTNR
    assert query.primary.parameters == (2327, 2328, 2329)
    assert query.primary.stream_id == 342
    assert query.secondary == ()
    assert (query.start, query.stop, query.limit) == (3653423999.775322, 3653424024.525519, 100)
    assert query.execute_dpa and not query.include_provenance
    assert query.require_deployment is bool(query_settings["REQUIRE_DEPLOYMENT"])  # the body does not say
    assert query.time_range.start == query.start and query.time_range.contains(query.stop)


def test_the_multiple_stream_sample_body_makes_the_first_stream_primary(samples_dir, upstream, query_settings):
    query = parse_query((samples_dir / "multiple_stream_request.json").read_bytes(), upstream, query_settings)
    assert query.primary.key.stream == "ctdpf_sbe43_sample" and query.primary.parameters == (2310,)
    assert [s.key.stream for s in query.secondary] == ["echo_sounding", "nutnr_a_sample"]
    assert query.secondary[0].parameters == (2575,)
    assert query.secondary[1].key == NUTNR


@pytest.mark.parametrize(("name", "field", "words"), [
    ("multiple_stream_request_bad_parameter.json", "streams[1].parameters[0]",
     "PD2310 (ext_volt0) is not in stream 'echo_sounding'"),
    ("multiple_stream_request_no_parameter.json", "streams[1].parameters", "must name the parameters"),
])
def test_the_invalid_sample_bodies_are_refused_as_the_original_refused_them(
    samples_dir, upstream, query_settings, name, field, words
):
    with pytest.raises(InvalidQuery) as caught:
        parse_query((samples_dir / name).read_bytes(), upstream, query_settings)
    assert caught.value.field == field and caught.value.status == 400
    assert words in str(caught.value)


def test_defaults_are_the_original_engines(curated, query_settings):
    body = _body()
    del body["start"], body["stop"]
    query = parse_query(body, curated, query_settings, now=NOW)
    assert query.start == 3471292800.0 == query_settings.UNBOUND_QUERY_START
    assert query.stop == NOW
    assert query.limit is None and query.request_uuid is None and query.qc_parameters == ()
    assert query.require_deployment is query_settings.REQUIRE_DEPLOYMENT
    relaxed = parse_query(body, curated, query_settings.replace(REQUIRE_DEPLOYMENT=False), now=NOW)
    assert relaxed.require_deployment is False


def test_a_stream_is_named_by_name_or_by_its_dictionary_id(curated, query_settings):
    for given in ("nutnr_a_sample", 342, "342", "DICT342"):
        query = parse_query(_body(stream_fields={"stream": given}), curated, query_settings)
        assert query.primary.key == NUTNR, given


def test_parameters_may_be_numbers_numeric_strings_or_pd_names(curated, query_settings):
    query = parse_query(_body(stream_fields={"parameters": [2327, "2328", "PD2329", 2327]}),
                        curated, query_settings)
    assert query.primary.parameters == (2327, 2328, 2329)
    everything = parse_query(_body(stream_fields={"parameters": []}), curated, query_settings)
    assert everything.primary.parameters == ()


def test_flags_and_carried_fields_are_recorded(curated, query_settings):
    qc = [{"qcParameterPK": {"qcId": "dataqc_globalrangetest_minmax", "parameter": "dat",
                             "streamParameter": "nutnr_voltage_int"}, "value": "data", "valueType": "FLOAT"}]
    query = parse_query(_body(include_provenance=True, include_annotations=True, execute_dpa=False,
                              run_qartod=True, qcParameters=qc, requestUUID="abc-123", directory="d/x",
                              async_job="job", classic=True, format="application/netcdf", userName="who"),
                        curated, query_settings)
    assert query.include_provenance and query.include_annotations and query.run_qartod and query.classic
    assert not query.execute_dpa
    assert (query.request_uuid, query.directory, query.async_job, query.format) == (
        "abc-123", "d/x", "job", "application/netcdf")
    assert query.describe()["qc_parameters"] == qc
    with pytest.raises(dataclasses.FrozenInstanceError):
        query.limit = 5  # type: ignore[misc]
    with pytest.raises(TypeError):
        query.qc_parameters[0]["value"] = "time"
    same = parse_query(_body(qc_parameters=qc), curated, query_settings)
    assert same.describe()["qc_parameters"] == qc


def test_raw_data_only_turns_off_products_and_the_deployment_mask(curated, query_settings):
    query = parse_query(_body(raw_data_only=True, execute_dpa=True, require_deployment=True),
                        curated, query_settings)
    assert query.raw_data_only and not query.execute_dpa and not query.require_deployment


@pytest.mark.parametrize("limit", [None, 0, -1])
def test_no_limit_values(curated, query_settings, limit):
    assert parse_query(_body(limit=limit), curated, query_settings).limit is None


def test_a_limit_over_the_hard_limit_is_413_naming_it(curated, query_settings):
    assert parse_query(_body(limit=20000), curated, query_settings).limit == 20000
    with pytest.raises(QueryTooLarge) as caught:
        parse_query(_body(limit=20001), curated, query_settings)
    assert isinstance(caught.value, TooLarge) and caught.value.status == 413
    assert caught.value.field == "limit" and "20000" in str(caught.value)
    assert parse_query(_body(limit=50), curated, query_settings.replace(UI_HARD_LIMIT=50)).limit == 50


_BAD = [
    (b"{not json", "body", "not valid JSON"),
    (b"[1, 2]", "body", "JSON object"),
    ({}, "streams", "non-empty list"),
    ({"streams": []}, "streams", "non-empty list"),
    ({"streams": ["nutnr_a_sample"]}, "streams[0]", "must be an object"),
    (_body(stream_fields={"node": ""}), "streams[0].node", "non-empty string"),
    (_body(stream_fields={"sensor": "a/b"}), "streams[0].sensor", "without '/'"),
    (_body(stream_fields={"stream": None}), "streams[0].stream", "missing"),
    (_body(stream_fields={"stream": "no_such_stream"}), "streams[0].stream", "unknown stream 'no_such_stream'"),
    (_body(stream_fields={"stream": 999999}), "streams[0].stream", "unknown stream 999999"),
    (_body(stream_fields={"parameters": "2327"}), "streams[0].parameters", "must be a list"),
    (_body(stream_fields={"parameters": [2327, "salinity"]}), "streams[0].parameters[1]", "preload id"),
    (_body(stream_fields={"parameters": [True]}), "streams[0].parameters[0]", "preload id"),
    (_body(stream_fields={"parameters": [99999999]}), "streams[0].parameters[0]", "unknown parameter PD99999999"),
    (_body(stream_fields={"parameters": [13]}), "streams[0].parameters[0]", "not in stream 'nutnr_a_sample'"),
    (_body(start="yesterday"), "start", "NTP seconds"),
    (_body(stop=float("nan")), "stop", "NTP seconds"),
    (_body(start=3653424024.6, stop=3653423999.0), "start", "bad time range"),
    (_body(limit=1.5), "limit", "whole number"),
    (_body(limit="100"), "limit", "whole number"),
    (_body(limit=-5), "limit", "positive"),
    (_body(include_provenance="yes"), "include_provenance", "true or false"),
    (_body(execute_dpa=1), "execute_dpa", "true or false"),
    (_body(requestUUID="a\nb"), "requestUUID", "printable"),
    (_body(requestUUID=12), "requestUUID", "string"),
    (_body(directory=["a"]), "directory", "string"),
    (_body(qcParameters="all"), "qcParameters", "list"),
]


@pytest.mark.parametrize(("body", "field", "words"), _BAD)
def test_a_bad_field_is_400_naming_it(curated, query_settings, body, field, words):
    if isinstance(body, dict) and field != "stop":
        body = json.dumps(body).encode()  # NaN is not JSON: that case goes in decoded
    with pytest.raises(InvalidQuery) as caught:
        parse_query(body, curated, query_settings)
    assert isinstance(caught.value, BadRequest) and caught.value.status == 400
    assert caught.value.field == field
    assert words in str(caught.value)
