"""``/jobs`` through a real server on loopback: a job runs outside the request, reports its
progress and files, serves them with Range, survives ``manage-streamng reload``-style worker
restarts, and a cancelled job leaves nothing behind."""

from __future__ import annotations

import io
import json
import signal
import time
import zipfile

import netCDF4
import numpy as np
import pytest
from conftest import post, stream_body
from live_server import http

from stream_engine.demo import CTD

SALINITY, DENSITY = 13, 5


def _wait(url: str, states=("complete", "failed"), timeout: float = 120.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, _, body = http(url)
        assert status == 200, body
        record = json.loads(body)
        if record["state"] in states:
            return record
        time.sleep(0.2)
    raise AssertionError(f"job at {url} still {record['state']} after {timeout} s")


def _submit(server, body) -> dict:
    status, headers, text = post(server.url + "/jobs", body)
    assert status == 202, text
    record = json.loads(text)
    assert headers["Location"] == record["status_url"] == f"{server.url}/jobs/{record['id']}"
    assert record["state"] in ("queued", "running")
    return record


def test_job_runs_to_complete_and_serves_its_files(export_server, tmp_path):
    record = _submit(export_server, stream_body(CTD, [SALINITY, DENSITY], format="netcdf"))
    done = _wait(record["status_url"])
    assert done["state"] == "complete", done
    assert done["progress"] == 1.0 and done["records"] == 40320
    names = [f["name"] for f in done["files"]]
    assert [n[:14] for n in names] == ["deployment0001", "deployment0002"]
    first = done["files"][0]
    status, headers, body = http(first["url"])
    assert status == 200 and len(body) == first["size"]
    file_headers = headers
    (tmp_path / first["name"]).write_bytes(body)
    with netCDF4.Dataset(tmp_path / first["name"]) as ds:
        assert np.all(np.isfinite(ds["sea_water_practical_salinity"][:]))
    # Range: the last 100 bytes, then a slice in the middle
    status, headers, tail = http(first["url"], headers={"Range": "bytes=-100"})
    assert status == 206 and tail == body[-100:]
    assert headers["Content-Range"] == f"bytes {len(body) - 100}-{len(body) - 1}/{len(body)}"
    status, _, middle = http(first["url"], headers={"Range": "bytes=10-19"})
    assert status == 206 and middle == body[10:20]
    listed = json.loads(http(export_server.url + "/jobs")[2])["jobs"]
    assert record["id"] in [j["id"] for j in listed]
    # validators: the file's (the same in every worker) and the status's
    for validator, condition in (("ETag", "If-None-Match"), ("Last-Modified", "If-Modified-Since")):
        status, again, empty = http(first["url"], headers={condition: file_headers[validator]})
        assert status == 304 and empty == b"" and again["ETag"] == file_headers["ETag"]
    status, headers, _ = http(record["status_url"])
    assert http(record["status_url"], headers={"If-None-Match": headers["ETag"]})[0] == 304


def test_csv_job(export_server):
    record = _submit(export_server, stream_body(CTD, [SALINITY], format="tab", stop=3765744000.0))
    done = _wait(record["status_url"])
    assert done["state"] == "complete" and done["format"] == "tsv"
    (only,) = done["files"]
    text = http(only["url"])[2].decode()
    assert text.splitlines()[0].startswith("time (seconds since 1900-01-01 0:0:0)\ttime_iso8601 (UTC)")
    assert len(text.splitlines()) == 1441


@pytest.mark.parametrize("name", ["..", "%2e%2e", "..%2Fdata%2Fstore.sqlite", "%2Fetc%2Fpasswd",
                                  "..%2F..%2Fjobs.sqlite", "deployment0001.nc"])
def test_paths_stay_inside_the_job_folder(name, export_server):
    record = _submit(export_server, stream_body(CTD, [SALINITY], stop=3765744000.0))
    _wait(record["status_url"])
    status, _, body = http(f"{record['status_url']}/{name}")
    assert status in (400, 404), body
    assert b"root:" not in body and b"SQLite" not in body


@pytest.mark.parametrize("job_id", ["..", "not-a-job", "0" * 32, "..%2F..%2Fetc"])
def test_unknown_jobs_are_404(job_id, export_server):
    assert http(f"{export_server.url}/jobs/{job_id}")[0] == 404
    assert http(f"{export_server.url}/jobs/{job_id}", method="DELETE")[0] == 404


@pytest.mark.parametrize(("body", "status", "words"), [
    (b"{", 400, "not valid JSON"),
    (stream_body(CTD, format="xls"), 400, "format"),
    (stream_body(CTD, [14]), 400, "is not in stream"),
    (stream_body(CTD, start=3000000000.0, stop=3000000100.0), 202, ""),
])
def test_bad_job_requests(body, status, words, export_server):
    got, _, text = post(export_server.url + "/jobs", body)
    assert got == status, text
    record = json.loads(text)
    if status == 202:  # no data is only known when the job runs: it fails with the reason
        done = _wait(record["status_url"])
        assert done["state"] == "failed" and done["code"] == 404 and "no records" in done["reason"]
        assert done["files"] == []
    else:
        assert words in record["message"]


def test_cancelled_job_leaves_nothing(export_server, async_dir):
    record = _submit(export_server, stream_body(CTD, format="csv"))
    status, _, _ = http(record["status_url"], method="DELETE")
    assert status == 204
    assert http(record["status_url"])[0] == 404
    deadline = time.monotonic() + 60
    folder = async_dir / "jobs" / record["id"]
    while folder.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not folder.exists()
    time.sleep(1.0)  # a runner that had not noticed yet must not recreate anything
    assert not folder.exists()
    assert record["id"] not in [j["id"] for j in json.loads(http(export_server.url + "/jobs")[2])["jobs"]]


def test_job_survives_a_reload(export_server):
    record = _submit(export_server, stream_body(CTD, format="netcdf"))
    export_server.process.send_signal(signal.SIGHUP)  # what manage-streamng reload sends
    done = _wait(record["status_url"])
    assert done["state"] == "complete", done


def test_stored_request_reads_back_as_the_same_query(curated, export_settings):
    from stream_engine.engine.query import parse_query
    from stream_engine.jobs import request_body

    body = stream_body(CTD, [SALINITY, DENSITY], format="csv", include_provenance=True, requestUUID="r-1",
                       qcParameters=[{"qcParameterName": "x", "value": 1}], execute_dpa=False)
    query = parse_query(body, curated, export_settings)
    assert parse_query(request_body(query), curated, export_settings) == query


@pytest.fixture(scope="module")
def splitting_server(demo_dir, tmp_path_factory):
    """A server that cuts jobs over 8,000 records into time-slice sub-jobs."""
    from live_server import start_server

    server = start_server(demo_dir, tmp_path_factory.mktemp("split_logs"), threads=2, extra_env={
        "STREAM_ENGINE_ASYNC_DIR": str(tmp_path_factory.mktemp("split_async")),
        "STREAM_ENGINE_JOB_SPLIT_RECORDS": "8000", "STREAM_ENGINE_JOB_SUBJOB_PROCESSES": "2"})
    try:
        yield server
    finally:
        server.stop()


def test_large_job_is_split_and_aggregated(splitting_server, export_server, tmp_path):
    body = stream_body(CTD, [SALINITY, DENSITY], format="netcdf", include_provenance=True)
    record = _submit(splitting_server, body)
    done = _wait(record["status_url"], timeout=300)
    assert done["state"] == "complete", done
    assert done["subjobs"] > 2 and done["records"] == 40320
    data_files = [f for f in done["files"] if f["name"].endswith(".nc")]
    names = [f["name"] for f in data_files]
    assert [n[:14] for n in names] == ["deployment0001", "deployment0002"]
    assert [f["name"] for f in done["files"] if f not in data_files] == [
        f"{CTD.refdes}-{CTD.method}-{CTD.stream}_provenance.json"]
    status, _, zipped = post(export_server.url + "/netcdf", stream_body(CTD, [SALINITY, DENSITY]))
    assert status == 200
    single = zipfile.ZipFile(io.BytesIO(zipped))
    assert sorted(single.namelist()) == names  # same OOI names: same first and last times
    for f in data_files:
        (tmp_path / "split").mkdir(exist_ok=True)
        (tmp_path / "split" / f["name"]).write_bytes(http(f["url"])[2])
        (tmp_path / "one").mkdir(exist_ok=True)
        (tmp_path / "one" / f["name"]).write_bytes(single.read(f["name"]))
        with netCDF4.Dataset(tmp_path / "split" / f["name"]) as a, netCDF4.Dataset(tmp_path / "one" / f["name"]) as b:
            for name in ("time", "deployment", "sea_water_practical_salinity", "sea_water_density"):
                np.testing.assert_array_equal(a[name][:], b[name][:])
            assert a.record_count == b.record_count


@pytest.fixture(scope="module")
def strict_server(demo_dir, tmp_path_factory):
    """A server allowing one active job, keeping finished jobs for 2 seconds."""
    from live_server import start_server

    folder = tmp_path_factory.mktemp("strict_async")
    server = start_server(demo_dir, tmp_path_factory.mktemp("strict_logs"), threads=2, extra_env={
        "STREAM_ENGINE_ASYNC_DIR": str(folder), "STREAM_ENGINE_JOB_MAX_ACTIVE": "1",
        "STREAM_ENGINE_JOB_RETENTION_SECONDS": "2"})
    try:
        yield server, folder
    finally:
        server.stop()


def test_active_job_limit_and_retention(strict_server):
    server, folder = strict_server
    record = _submit(server, stream_body(CTD, format="netcdf"))
    status, _, text = post(server.url + "/jobs", stream_body(CTD, [SALINITY]))
    assert status == 429 and "the limit is 1" in json.loads(text)["message"]
    done = _wait(record["status_url"])
    assert done["state"] == "complete" and (folder / "jobs" / record["id"]).is_dir()
    time.sleep(2.5)
    assert http(record["status_url"])[0] == 404
    assert not (folder / "jobs" / record["id"]).exists()
    assert _submit(server, stream_body(CTD, [SALINITY], stop=3765744000.0))["state"] in ("queued", "running")


def test_job_whose_runner_dies_is_failed(export_server):
    import os
    import subprocess

    record = _submit(export_server, stream_body(CTD, format="csv"))
    deadline = time.monotonic() + 30
    pid = None
    while pid is None and time.monotonic() < deadline:
        found = subprocess.run(["pgrep", "-f", f"stream_engine.jobs {record['id']}"], capture_output=True, text=True)
        pid = int(found.stdout.split()[0]) if found.stdout.strip() else None
        time.sleep(0.05)
    assert pid is not None, "no runner process found"
    os.kill(pid, signal.SIGKILL)  # within its first second: it is still importing
    done = _wait(record["status_url"])
    assert done["state"] == "failed" and "ended unexpectedly" in done["reason"]
