"""Annotations: parsing OOI records, wildcards, storage, the CLI and ``/annotations``."""

from __future__ import annotations

import json

import numpy as np
import orjson
import pytest
from webob import Request

from stream_engine import demo
from stream_engine.assets import NTP_UNIX_OFFSET
from stream_engine.cli import main
from stream_engine.config import load_settings
from stream_engine.quality.annotations import (
    annotations_for,
    exclusion_masks,
    parse_annotation,
    stream_digest,
)
from stream_engine.store import open_store
from stream_engine.store.base import StreamKey
from stream_engine.store.embedded import EmbeddedStore
from stream_engine.web.app import create_app

OTHER = StreamKey("CE02SHSM", "SBD11", "06-METBKA000", "telemetered", "metbk_a_dcl_instrument")


def ms(ntp: float) -> float:
    return (ntp - NTP_UNIX_OFFSET) * 1000.0


def record(**fields):
    base = {"@class": ".AnnotationRecord", "subsite": "CE07SHSM", "node": None, "sensor": None, "method": None,
            "stream": None, "beginDT": ms(3.7e9), "endDT": None, "annotation": "test", "exclusionFlag": False,
            "qcFlag": None, "parameters": [], "source": "tests"}
    return {**base, **fields}


@pytest.fixture(params=["embedded", pytest.param("cassandra", marks=pytest.mark.cassandra)])
def quality_store(request, tmp_path):
    """An empty store of each backend."""
    if request.param == "cassandra":
        node = request.getfixturevalue("cassandra_node")
        store = node.store()
        yield store
        node.drop(store)
    else:
        store = EmbeddedStore(tmp_path)
        yield store
        store.close()


def test_wildcards_match_every_stream_they_name_and_no_other(quality_store):
    with quality_store as store:
        ids = store.add_quality_records("annotation", [
            record(annotation="whole node", node="MFD37"),
            record(annotation="one sensor", node="MFD37", sensor="03-CTDBPC000"),
            record(annotation="recovered_host only", method="recovered_host"),
            record(annotation="other site", subsite="CE02SHSM"),
        ])
        assert ids == [1, 2, 3, 4]
        texts = {key: [a.text for a in annotations_for(store, key)] for key in (*demo.STREAMS, OTHER)}
    assert texts[demo.CTD] == ["whole node", "one sensor"]
    assert texts[demo.OPTODE] == ["whole node", "recovered_host only"]
    assert texts[demo.FLUOROMETER] == ["whole node", "recovered_host only"]
    assert texts[OTHER] == ["other site"]


def test_time_span_end_inclusive_and_open_end():
    closed = parse_annotation(record(id=1, beginDT=ms(100.0), endDT=ms(200.0), exclusionFlag=True))
    open_end = parse_annotation(record(id=2, beginDT=ms(300.0), exclusionFlag=True, parameters=[13]))
    times = np.array([99.0, 100.0, 150.0, 200.0, 200.5, 299.0, 300.0, 1e12])
    masks = exclusion_masks([closed, open_end], times)
    np.testing.assert_array_equal(masks.records, [0, 1, 1, 1, 0, 0, 0, 0])
    np.testing.assert_array_equal(masks.by_annotation[2], [0, 0, 0, 0, 0, 0, 1, 1])
    assert exclusion_masks([closed], np.array([50.0, 250.0])) is None


@pytest.mark.parametrize("bad, field", [
    ({"subsite": None}, "subsite"), ({"beginDT": "yesterday"}, "beginDT"),
    ({"endDT": ms(3.6e9)}, "endDT"), ({"parameters": "13"}, "parameters"), ({"exclusionFlag": "yes"}, "exclusionFlag"),
])
def test_bad_records_are_refused_naming_the_field(bad, field):
    with pytest.raises(ValueError, match=field):
        parse_annotation(record(**bad))


def test_replacing_by_id_changes_only_that_streams_digest(quality_store):
    with quality_store as store:
        store.add_quality_records("annotation", [record(node="MFD37", sensor="03-CTDBPC000"), record(subsite="CE02SHSM")])
        before = {k: stream_digest(annotations_for(store, k)) for k in (demo.CTD, demo.OPTODE, OTHER)}
        store.add_quality_records("annotation", [record(id=1, node="MFD37", sensor="03-CTDBPC000", exclusionFlag=True)])
        after = {k: stream_digest(annotations_for(store, k)) for k in (demo.CTD, demo.OPTODE, OTHER)}
        assert len(store.quality_records("annotation")) == 2
    assert before[demo.CTD] != after[demo.CTD]
    assert before[demo.OPTODE] == after[demo.OPTODE] and before[OTHER] == after[OTHER]


def test_cli_load_and_list(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("STREAM_ENGINE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("STREAM_ENGINE_LOG_DIR", str(tmp_path / "logs"))
    path = tmp_path / "annotations.json"
    path.write_text(json.dumps([record(node="MFD37", annotation="biofouled", exclusionFlag=True, qcFlag="suspect"),
                                record(subsite="CE02SHSM", annotation="elsewhere")]))
    assert main(["annotations", "load", str(path)]) == 0
    assert "2 annotations stored (ids 1, 2)" in capsys.readouterr().out
    assert main(["annotations", "list", demo.CTD.path]) == 0
    out = capsys.readouterr().out
    assert "biofouled" in out and "EXCLUDED [suspect]" in out and "elsewhere" not in out
    assert "1 annotations apply to" in out
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([record(), record(beginDT=None)]))
    assert main(["annotations", "load", str(bad)]) == 1
    assert "record 1: beginDT" in capsys.readouterr().err
    with open_store(load_settings()) as store:
        assert len(store.quality_records("annotation")) == 2  # nothing of the bad file


def test_get_and_post_annotations(tmp_path):
    settings = load_settings(environ={"STREAM_ENGINE_DATA_DIR": str(tmp_path / "data"),
                                      "STREAM_ENGINE_LOG_DIR": str(tmp_path / "logs")})
    with EmbeddedStore(tmp_path / "data") as store:  # the server serves an existing store only
        store.streams()
    app = create_app(settings)
    try:
        def call(path, method="GET", body=None):
            request = Request.blank(path, method=method, body=body or b"", content_type="application/json")
            return request.get_response(app)

        posted = call("/annotations", "POST", orjson.dumps([record(node="MFD37", beginDT=ms(3.7e9), endDT=ms(3.71e9)),
                                                            record(subsite="CE02SHSM")]))
        assert posted.status_code == 201 and orjson.loads(posted.body) == {"ids": [1, 2]}
        assert len(orjson.loads(call("/annotations").body)) == 2
        mine = orjson.loads(call(f"/annotations/{demo.CTD.path}").body)
        assert [a["id"] for a in mine] == [1] and mine[0]["@class"] == ".AnnotationRecord"
        later = orjson.loads(call(f"/annotations?stream={demo.CTD.path}&beginDT={ms(3.72e9)}").body)
        assert later == []
        refused = call("/annotations", "POST", orjson.dumps({"subsite": "X"}))
        assert refused.status_code == 400 and "beginDT" in orjson.loads(refused.body)["message"]
        assert call("/annotations", "POST", b"{not json").status_code == 400
        assert call("/annotations?beginDT=soon").status_code == 400
        assert len(orjson.loads(call("/annotations").body)) == 2
    finally:
        app.context.close()


def test_qartod_cli_load_and_list(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("STREAM_ENGINE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("STREAM_ENGINE_LOG_DIR", str(tmp_path / "logs"))
    path = tmp_path / "qartod.json"
    gross = "{'qartod': {'gross_range_test': {'suspect_span': [30, 37], 'fail_span': [0, 42]}}}"
    path.write_text(json.dumps([
        {"@class": ".QartodTestRecord", "refDes": {"subsite": "CE07SHSM", "node": "MFD37", "sensor": None},
         "stream": None, "parameters": "{'inp': 'practical_salinity', 'tinp': 'time', 'zinp': 'None'}",
         "qcConfig": gross},
        {"refDes": "CE02SHSM-SBD11-06-METBKA000", "stream": None, "parameters": {"inp": "sea_surface_temperature"},
         "qcConfig": {"qartod": {"spike_test": {"suspect_threshold": 1, "fail_threshold": 2}}}},
    ]))
    assert main(["qartod", "load", str(path)]) == 0
    assert "2 QARTOD test records stored" in capsys.readouterr().out
    assert main(["qartod", "list", demo.CTD.path]) == 0
    out = capsys.readouterr().out
    assert "practical_salinity: qartod.gross_range_test" in out and "sea_surface_temperature" not in out
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"refDes": None, "parameters": {"inp": "x"},
                                "qcConfig": {"qartod": {"gross_range_test": {"fail_span": "wide"}}}}]))
    assert main(["qartod", "load", str(bad)]) == 1
    assert "qcConfig" in capsys.readouterr().err
