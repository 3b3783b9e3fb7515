"""The original asynchronous routes through a real server: ``/netcdf-fs`` sub-jobs write files
and status files, ``/aggregate`` merges them into the same files one export gives, ``/stats``
reports size and time; errors have real statuses and still leave the failure file."""

from __future__ import annotations

import json

import netCDF4
import numpy as np
import pytest
from conftest import post, stream_body

from stream_engine.demo import CTD

SALINITY = 13
DAY = 86400.0
MAY_1 = 3765657600.0  # 2019-05-01T00:00:00Z in NTP seconds


def _values(paths, name):
    parts = [netCDF4.Dataset(p) for p in sorted(paths)]
    try:
        return np.concatenate([p[name][:] for p in parts])
    finally:
        for p in parts:
            p.close()


def test_subjobs_then_aggregate_equal_one_export(export_server, async_dir, tmp_path):
    directory = "/somewhere/uframe/20190501T000000-ctd-subjobs"
    slices = [(MAY_1, MAY_1 + 10 * DAY), (MAY_1 + 10 * DAY + 0.001, MAY_1 + 40 * DAY)]
    for start, stop in slices:
        status, _, text = post(export_server.url + "/netcdf-fs",
                               stream_body(CTD, [SALINITY], start=start, stop=stop, directory=directory))
        assert status == 200, text
        answer = json.loads(text)
        assert answer["code"] == 200 and ".nc" in answer["message"]
    folder = async_dir / "uframe" / "20190501T000000-ctd-subjobs"
    names = sorted(p.name for p in folder.iterdir())
    assert sum(n.endswith("-status.txt") for n in names) == 2
    assert [n[:14] for n in names if n.endswith(".nc")] == ["deployment0001"] * 2 + ["deployment0002"]
    assert {(folder / n).read_text() for n in names if n.endswith("-status.txt")} == {"complete"}

    status, _, text = post(export_server.url + "/stats", {"async_job": "uframe/20190501T000000-ctd-subjobs"})
    assert status == 200
    stats = json.loads(text)
    assert stats["size"] == sum(p.stat().st_size for p in folder.iterdir()) and stats["time"] is None

    status, _, text = post(export_server.url + "/aggregate", {"async_job": "uframe/20190501T000000-ctd-subjobs"})
    assert status == 200 and json.loads(text)["message"] == "aggregation complete"
    merged = sorted(folder.glob("*.nc"))
    assert [p.name[:14] for p in merged] == ["deployment0001", "deployment0002"]
    summary = json.loads((folder / "status.json").read_text())
    assert sorted(summary["status"].values()) == ["complete", "complete"]
    assert (folder / "status.txt").read_text() == "complete"
    assert json.loads(post(export_server.url + "/stats", {"async_job": "uframe/20190501T000000-ctd-subjobs"})[2])["time"] > 0

    # the same export in one piece
    whole = tmp_path / "whole"
    whole.mkdir()
    status, _, text = post(export_server.url + "/netcdf-fs",
                           stream_body(CTD, [SALINITY], start=MAY_1, stop=MAY_1 + 40 * DAY,
                                       directory="x/whole"))
    assert status == 200
    single = sorted((async_dir / "x" / "whole").glob("*.nc"))
    assert [p.name for p in single] == [p.name for p in merged]
    for name in ("time", "sea_water_practical_salinity", "deployment"):
        np.testing.assert_array_equal(_values(merged, name), _values(single, name))
    with netCDF4.Dataset(merged[0]) as ds, netCDF4.Dataset(single[0]) as one:
        assert ds.record_count == one.record_count == len(ds.dimensions["obs"])
        assert ds.time_coverage_end == one.time_coverage_end


@pytest.mark.parametrize(("route", "suffix"), [("/csv-fs", ".csv"), ("/tab-fs", ".tsv")])
def test_delimited_subjob(route, suffix, export_server, async_dir):
    status, _, text = post(export_server.url + route,
                           stream_body(CTD, [SALINITY], start=MAY_1, stop=MAY_1 + DAY, directory=f"d/{route[1:]}"))
    assert status == 200, text
    files = sorted((async_dir / "d" / route[1:]).iterdir())
    assert sorted(p.suffix for p in files) == sorted([suffix, ".txt"])


def test_failure_has_a_real_status_and_the_failure_file(export_server, async_dir):
    body = stream_body(CTD, start=3000000000.0, stop=3000000100.0, directory="f/nodata", requestUUID="req-9")
    status, _, text = post(export_server.url + "/netcdf-fs", body)
    assert status == 404
    folder = async_dir / "f" / "nodata"
    (failure,) = folder.glob("*-failure.json")
    written = json.loads(failure.read_text())
    assert written["code"] == 404 and written["requestUUID"] == "req-9"
    assert written["message"].startswith("Request for particles failed for the following reason: ")
    assert list(folder.glob("*-status.txt"))


@pytest.mark.parametrize("directory", ["../../etc", "a/../..", "..", "", "/", None])
def test_directories_stay_inside_the_async_folder(directory, export_server, async_dir):
    body = stream_body(CTD, start=MAY_1, stop=MAY_1 + 60, directory=directory)
    status, _, text = post(export_server.url + "/netcdf-fs", body)
    assert status == 400, text
    for route in ("/aggregate", "/stats"):
        assert post(export_server.url + route, {"async_job": directory})[0] == 400


def test_unknown_job_folders_are_404(export_server):
    for route in ("/aggregate", "/stats"):
        assert post(export_server.url + route, {"async_job": "no/such-folder"})[0] == 404


def test_particles_subjob_writes_what_particles_returns(export_server, async_dir):
    body = stream_body(CTD, [SALINITY], start=MAY_1, stop=MAY_1 + 20 * DAY)
    status, _, expected = post(export_server.url + "/particles", body)
    assert status == 200
    status, _, text = post(export_server.url + "/particles-fs", {**body, "directory": "p/json"})
    assert status == 200, text
    files = sorted((async_dir / "p" / "json").glob("deployment*.json"))
    assert [p.name[:14] for p in files] == ["deployment0001", "deployment0002"]
    written = [particle for path in files for particle in json.loads(path.read_text())]
    assert written == json.loads(expected)
