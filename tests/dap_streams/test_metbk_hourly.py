"""The virtual stream ``metbk_hourly``: computed from the met buoy's records on its own hourly
time base, served by DAP and the JSON API like any stream, through the application's own store
(:class:`stream_engine.engine.virtual.VirtualStreams`)."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import orjson
import pytest
from stream_servers import InProcessServer, dap_url
from webob import Request

from stream_engine.assets import load_event_file
from stream_engine.config import load_settings
from stream_engine.functions import lookup
from stream_engine.ingest import ingest_file
from stream_engine.preload import default_preload
from stream_engine.store import open_store
from stream_engine.store.base import StreamKey
from stream_engine.web.app import create_app

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "web"))
from json_api_data import stream_entry  # noqa: E402

netCDF4 = pytest.importorskip("netCDF4")

METBK = StreamKey("CE02SHSM", "SBD11", "06-METBKA000", "telemetered", "metbk_a_dcl_instrument")
HOURLY = StreamKey("CE02SHSM", "SBD11", "06-METBKA000", "telemetered", "metbk_hourly")
MET = "ion_functions.data.met_functions"
HEIGHTS = {"lon": -124.30404, "lat": 44.63929, "ztmpwat": 1.168, "zwindsp": 4.519, "ztmpair": 4.034,
           "zhumair": 4.034, "zinvpbl": 600.0, "jwarm": 1.0, "jcool": 1.0}


@pytest.fixture(scope="module")
def app(tmp_path_factory, samples_dir) -> Iterator[object]:
    """The met buoy's 2017 sample moved 16 h earlier (it then spans local solar midnight), its
    VELPT and asset events, served by an application opening the store itself."""
    root = tmp_path_factory.mktemp("metbk_hourly")
    moved = root / "metbk_a_dcl_instrument.nc"
    shutil.copy(samples_dir / "metbk_a_dcl_instrument.nc", moved)
    with netCDF4.Dataset(moved, "a") as ds:
        ds["time"][:] = ds["time"][:] - 16 * 3600.0
    settings = load_settings(environ={"STREAM_ENGINE_DATA_DIR": str(root / "data"),
                                      "STREAM_ENGINE_LOG_DIR": str(root / "logs")}).replace(DAP_CACHE_BYTES=0)
    preload = default_preload(settings)
    with open_store(settings) as store:
        ingest_file(store, preload, moved)
        load_event_file(store, samples_dir / "CE02SHSM-SBD11-06-METBKA000_events.json")
    application = create_app(settings)
    yield application
    application.context.close()


@pytest.fixture(scope="module")
def server(app) -> Iterator[InProcessServer]:
    running = InProcessServer(app)
    yield running
    running.close()


def _minute(server: InProcessServer, *names: str) -> dict[str, np.ndarray]:
    with netCDF4.Dataset(dap_url(server.url, METBK)) as ds:
        ds.set_auto_mask(False)
        return {name: ds[name][:] for name in names}


def _direct_hourly(server: InProcessServer, function: str) -> np.ndarray:
    m = _minute(server, "time", "sea_surface_temperature", "met_relwind_speed", "air_temperature",
                "relative_humidity", "barometric_pressure", "shortwave_irradiance", "longwave_irradiance",
                "precipitation")
    return lookup(MET, function).compute({
        "tC_sea": m["sea_surface_temperature"], "wnd": m["met_relwind_speed"], "tC_air": m["air_temperature"],
        "relhum": m["relative_humidity"], "timestamp": m["time"], "pr_air": m["barometric_pressure"],
        "Rshort_down": m["shortwave_irradiance"], "Rlong_down": m["longwave_irradiance"],
        "cumu_prcp": m["precipitation"], **HEIGHTS})


def test_hourly_stream_is_listed_and_served_over_dap(server) -> None:
    minute = _minute(server, "time", "shortwave_irradiance")
    with netCDF4.Dataset(dap_url(server.url, HOURLY)) as ds:
        ds.set_auto_mask(False)
        time = ds["time"][:]
        netsirr = ds["met_netsirr_hourly"][:]
        heatflx = ds["met_heatflx"][:]
        names = set(ds.variables)
    # one record per non-empty hour counted from the deployment's first record, at its middle
    t0 = minute["time"][0]
    hours = np.unique(np.floor((minute["time"] - t0) / 3600.0))
    np.testing.assert_array_equal(time, t0 + 1800.0 + 3600.0 * hours)
    assert len(time) == 5
    expected = lookup(MET, "met_netsirr_hourly")(minute["shortwave_irradiance"], minute["time"])
    np.testing.assert_array_equal(netsirr, expected.astype(np.float32))
    np.testing.assert_allclose(heatflx, _direct_hourly(server, "met_heatflx"), rtol=2e-6, equal_nan=True)
    # hours of the local day that started in the afternoon have no warm layer: missing by the rule
    local_day = np.floor((time - 124.30404 * 240.0) / 86400.0)  # of the hourly records' times
    assert np.isnan(heatflx[local_day == local_day[0]]).all()
    assert np.isfinite(heatflx[local_day > local_day[0]]).all()
    assert {"met_rainrte", "met_wind10m", "met_tempskn", "met_mommflx"} <= names
    status, listing = _get(server, "/dap.json")
    assert status == 200 and HOURLY.path in listing.decode()


def test_hourly_slices_are_the_whole_stream_sliced(server) -> None:
    with netCDF4.Dataset(dap_url(server.url, HOURLY)) as ds:
        ds.set_auto_mask(False)
        whole = ds["met_wind10m"][:]
        np.testing.assert_array_equal(ds["met_wind10m"][3:5], whole[3:5])
        np.testing.assert_array_equal(ds["time"][1:4], ds["time"][:][1:4])


def test_hourly_stream_through_the_json_api(app, server) -> None:
    preload = app.context.preload
    pid = next(p.id for p in preload.stream_parameters(HOURLY.stream) if p.name == "met_sensflx")
    body = {"streams": [stream_entry(HOURLY, [pid])], "start": 3.6e9, "stop": 3.8e9}
    response = Request.blank("/particles", method="POST", body=orjson.dumps(body),
                             content_type="application/json").get_response(app)
    assert response.status_int == 200, response.body[:500]
    particles = orjson.loads(response.body)
    assert len(particles) == 5
    expected = _direct_hourly(server, "met_sensflx").astype(np.float32)
    got = np.array([np.nan if p["met_sensflx"] is None else p["met_sensflx"] for p in particles])
    np.testing.assert_allclose(got, expected, rtol=2e-6, equal_nan=True)


def _get(server: InProcessServer, path: str) -> tuple[int, bytes]:
    import urllib.request

    with urllib.request.urlopen(server.url + path, timeout=60) as response:
        return response.status, response.read()


def test_hourly_stream_exports_as_csv(app) -> None:
    import io
    import zipfile

    preload = app.context.preload
    pid = next(p.id for p in preload.stream_parameters(HOURLY.stream) if p.name == "met_netsirr_hourly")
    body = {"streams": [stream_entry(HOURLY, [pid])], "start": 3.6e9, "stop": 3.8e9}
    response = Request.blank("/csv", method="POST", body=orjson.dumps(body),
                             content_type="application/json").get_response(app)
    assert response.status_int == 200, response.body[:500]
    with zipfile.ZipFile(io.BytesIO(response.body)) as archive:
        names = [n for n in archive.namelist() if n.endswith(".csv")]
        assert names and all("metbk_hourly" in n for n in names)
        text = archive.read(names[0]).decode()
    assert "met_netsirr_hourly" in text.splitlines()[0]
    assert len([line for line in text.splitlines()[1:] if line.strip()]) >= 5


def test_hourly_stream_exports_from_the_command_line(app, tmp_path) -> None:
    """``stream-engine export`` opens the store with its virtual streams, as the server does."""
    from stream_engine.outputs.command import export_command

    preload = app.context.preload
    pid = next(p.id for p in preload.stream_parameters(HOURLY.stream) if p.name == "met_netsirr_hourly")
    request = tmp_path / "request.json"
    request.write_bytes(orjson.dumps({"streams": [stream_entry(HOURLY, [pid])], "start": 3.6e9, "stop": 3.8e9}))
    assert export_command(str(request), "csv", tmp_path / "out", app.context.settings) == 0
    files = sorted((tmp_path / "out").rglob("*metbk_hourly*.csv"))
    assert files
    rows = [line for line in files[0].read_text().splitlines()[1:] if line.strip()]
    assert len(rows) >= 5
    header = files[0].read_text().splitlines()[0]
    column = next(i for i, name in enumerate(header.split(",")) if name.startswith("met_netsirr_hourly"))
    values = np.array([float(r.split(",")[column]) if r.split(",")[column] else np.nan for r in rows])
    assert np.isfinite(values).any()
