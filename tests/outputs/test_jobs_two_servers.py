"""Two server processes on different ports over one Cassandra keyspace, their job files in one
shared folder (``ASYNC_DIR`` on shared storage): a job started on one is reported, listed,
downloadable and cancellable on the other, with the values a synchronous export gives."""

from __future__ import annotations

import io
import json
import time
import zipfile

import netCDF4
import numpy as np
import pytest
from conftest import post, stream_body
from live_server import http, start_server

from stream_engine.demo import CTD

pytestmark = pytest.mark.cassandra

SALINITY, DENSITY = 13, 5


@pytest.fixture(scope="module")
def two_servers(demo_keyspace, demo_dir, tmp_path_factory):
    node, store = demo_keyspace
    shared = tmp_path_factory.mktemp("shared_async")
    env = {**node.settings_env(store.keyspace), "STREAM_ENGINE_ASYNC_DIR": str(shared)}
    servers = [start_server(demo_dir, tmp_path_factory.mktemp(f"two_logs{i}"), threads=2, extra_env=env)
               for i in range(2)]
    try:
        yield servers, shared
    finally:
        for server in servers:
            server.stop()


def _wait(url: str, timeout: float = 180.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, _, body = http(url)
        assert status == 200, body
        record = json.loads(body)
        if record["state"] in ("complete", "failed"):
            return record
        time.sleep(0.3)
    raise AssertionError(f"job at {url} still {record['state']} after {timeout} s")


def test_job_started_on_one_server_is_served_by_the_other(two_servers, tmp_path):
    (first, second), shared = two_servers
    assert first.url != second.url
    status, _, text = post(first.url + "/jobs", stream_body(CTD, [SALINITY, DENSITY], format="netcdf"))
    assert status == 202, text
    job_id = json.loads(text)["id"]
    listed = json.loads(http(second.url + "/jobs")[2])["jobs"]
    assert job_id in [j["id"] for j in listed]  # reported by the other node at once
    done = _wait(f"{second.url}/jobs/{job_id}")
    assert done["state"] == "complete", done
    assert done["records"] == 40320 and all(f["url"].startswith(second.url) for f in done["files"])
    assert sorted(p.name for p in (shared / "jobs" / job_id).iterdir()) == sorted(f["name"] for f in done["files"])
    status, _, zipped = post(second.url + "/netcdf", stream_body(CTD, [SALINITY, DENSITY]))
    assert status == 200
    single = zipfile.ZipFile(io.BytesIO(zipped))
    for f in done["files"]:
        status, _, body = http(f["url"])  # downloaded from the node that did not run it
        assert status == 200 and len(body) == f["size"]
        assert body == http(f["url"].replace(second.url, first.url))[2]
        (tmp_path / "job.nc").write_bytes(body)
        (tmp_path / "sync.nc").write_bytes(single.read(f["name"]))
        with netCDF4.Dataset(tmp_path / "job.nc") as job, netCDF4.Dataset(tmp_path / "sync.nc") as sync:
            assert len(job["time"]) > 1000
            for name in ("time", "deployment", "sea_water_practical_salinity", "sea_water_density"):
                np.testing.assert_array_equal(job[name][:], sync[name][:], err_msg=name)
            assert np.all(np.isfinite(job["sea_water_practical_salinity"][:]))


def test_job_cancelled_on_the_other_server_is_gone_everywhere(two_servers):
    (first, second), shared = two_servers
    status, _, text = post(first.url + "/jobs", stream_body(CTD, format="csv"))
    assert status == 202, text
    job_id = json.loads(text)["id"]
    assert http(f"{second.url}/jobs/{job_id}", method="DELETE")[0] == 204
    for server in (first, second):
        assert http(f"{server.url}/jobs/{job_id}")[0] == 404
        assert job_id not in [j["id"] for j in json.loads(http(server.url + "/jobs")[2])["jobs"]]
    deadline = time.monotonic() + 60  # the runner on the first node notices and removes its files
    while (shared / "jobs" / job_id).exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not (shared / "jobs" / job_id).exists()
