"""The annotation JSON beside exports, through a real server on loopback: synchronous zips,
``/jobs`` (one piece and split into sub-jobs), ``-fs`` sub-jobs (one file per sub-job, named with
its span, even when it found no data) merged by ``/aggregate`` into one file."""

from __future__ import annotations

import io
import json
import time
import zipfile

import pytest
from conftest import post
from live_server import http, start_server

from stream_engine import demo
from stream_engine.assets import NTP_UNIX_OFFSET
from stream_engine.config import load_settings
from stream_engine.outputs.layout import compact_time
from stream_engine.preload import default_preload
from stream_engine.quality.annotations import load_annotations
from stream_engine.store import open_store

DEP1, DEP2 = demo.DEPLOYMENTS[0], demo.DEPLOYMENTS[1]
SALINITY = 13
ANNOTATIONS = f"{demo.CTD.refdes}-{demo.CTD.method}-{demo.CTD.stream}_annotations.json"


def ms(ntp: float) -> float:
    return (ntp - NTP_UNIX_OFFSET) * 1000.0


def body(start: float, stop: float, **options) -> dict:
    key = demo.CTD
    return {"streams": [{"subsite": key.subsite, "node": key.node, "sensor": key.sensor, "method": key.method,
                         "stream": key.stream, "parameters": [SALINITY]}],
            "start": start, "stop": stop, "include_annotations": True, **options}


@pytest.fixture(scope="module")
def annotated_server(tmp_path_factory):
    """A server over the demo mooring with one annotation in each deployment and one elsewhere;
    jobs over 8000 records are split into sub-jobs."""
    root = tmp_path_factory.mktemp("annotation_files")
    data, logs, async_dir = root / "data", root / "logs", root / "async"
    settings = load_settings(environ={"STREAM_ENGINE_DATA_DIR": str(data), "STREAM_ENGINE_LOG_DIR": str(logs)})
    with open_store(settings) as store:
        demo.fill_demo(store, default_preload(settings))
        ids = load_annotations(store, [
            {"subsite": demo.SUBSITE, "node": demo.NODE, "sensor": demo.CTD.sensor, "beginDT": ms(DEP1.start + 3600),
             "endDT": ms(DEP1.start + 7200), "annotation": "first deployment: pump off", "exclusionFlag": True},
            {"subsite": demo.SUBSITE, "beginDT": ms(DEP2.start + 3600), "endDT": ms(DEP2.start + 7200),
             "annotation": "second deployment: note", "exclusionFlag": False},
            {"subsite": "CE02SHSM", "beginDT": ms(DEP1.start), "annotation": "elsewhere", "exclusionFlag": True},
        ])
    server = start_server(data, logs, extra_env={"STREAM_ENGINE_ASYNC_DIR": str(async_dir),
                                                 "STREAM_ENGINE_JOB_SPLIT_RECORDS": "8000",
                                                 "STREAM_ENGINE_JOB_SUBJOB_PROCESSES": "2"})
    try:
        yield server, async_dir, ids
    finally:
        server.stop()


def _ids(text: bytes | str) -> list[int]:
    return [a["id"] for a in json.loads(text)["annotations"]]


def test_sync_zip_carries_the_annotations(annotated_server):
    server, _, ids = annotated_server
    for route in ("/netcdf", "/csv", "/tab"):
        status, _, zipped = post(server.url + route, body(DEP1.start, DEP2.start + 86400))
        assert status == 200, zipped
        archive = zipfile.ZipFile(io.BytesIO(zipped))
        assert ANNOTATIONS in archive.namelist()
        assert _ids(archive.read(ANNOTATIONS)) == ids[:2]
    status, _, zipped = post(server.url + "/netcdf", body(DEP2.start, DEP2.start + 86400))
    assert _ids(zipfile.ZipFile(io.BytesIO(zipped)).read(ANNOTATIONS)) == [ids[1]]
    status, _, zipped = post(server.url + "/netcdf", {**body(DEP2.start, DEP2.start + 86400),
                                                      "include_annotations": False})
    assert ANNOTATIONS not in zipfile.ZipFile(io.BytesIO(zipped)).namelist()


def _job(server, request: dict) -> dict:
    status, _, text = post(server.url + "/jobs", request)
    assert status == 202, text
    url = json.loads(text)["status_url"]
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        record = json.loads(http(url)[2])
        if record["state"] in ("complete", "failed"):
            return record
        time.sleep(0.2)
    raise AssertionError(f"job {url} did not finish")


@pytest.mark.parametrize("split", [False, True])
def test_jobs_carry_the_annotations(split, annotated_server):
    server, _, ids = annotated_server
    start, stop = (DEP1.start, DEP2.start + 86400 * 30) if split else (DEP2.start, DEP2.start + 86400)
    done = _job(server, body(start, stop, format="netcdf"))
    assert done["state"] == "complete", done
    assert (done.get("subjobs", 0) > 1) == split
    (listed,) = [f for f in done["files"] if f["name"].endswith(".json")]
    assert listed["name"] == ANNOTATIONS
    assert _ids(http(listed["url"])[2]) == (ids[:2] if split else [ids[1]])


def test_fs_subjobs_then_aggregate_merge_the_annotations(annotated_server):
    server, async_dir, ids = annotated_server
    directory = "uframe/annotated-subjobs"
    slices = [(DEP1.start, DEP1.start + 86400), (DEP2.start, DEP2.start + 86400),
              (DEP1.start - 10 * 86400, DEP1.start - 9 * 86400)]  # the last one holds no data
    for (start, stop), expected in zip(slices, (200, 200, 404), strict=True):
        status, _, text = post(server.url + "/netcdf-fs", body(start, stop, directory=directory))
        assert status == expected, text
    folder = async_dir / directory
    spans = [f"{compact_time(a)}-{compact_time(b)}" for a, b in slices]
    stem = ANNOTATIONS[: -len(".json")]
    for span, expected in zip(spans, ([ids[0]], [ids[1]], []), strict=True):
        assert _ids((folder / f"{stem}_{span}.json").read_text()) == expected
    status, _, text = post(server.url + "/aggregate", {"async_job": directory})
    assert status == 200, text
    assert _ids((folder / ANNOTATIONS).read_text()) == ids[:2]
    assert not list(folder.glob(f"{stem}_*.json"))
