"""Gliders over DAP: CTD pressure and GPS positions interpolated onto the other streams of the
glider, found by resolution from the ingested OOI samples, against the values the original
engine stored in the same files."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import netCDF4
import numpy as np
import pytest
from stream_servers import InProcessServer, dap_url, in_process_app

from stream_engine.assets import load_event_file
from stream_engine.ingest import ingest_file
from stream_engine.store.base import StreamKey
from stream_engine.store.embedded import EmbeddedStore

GL319 = "deployment0006_CE05MOAS-GL319-{}-recovered_host-{}.nc"
GL388 = "deployment0008_CP05MOAS-GL388-{}-recovered_host-{}.nc"
GPS, CTD, PAR = "glider_gps_position", "ctdgv_m_glider_instrument_recovered", "parad_m_glider_recovered"
FILES = {
    ("CE05MOAS", "GL319", "00-ENG000000", GPS): GL319.format("00-ENG000000", GPS),
    ("CE05MOAS", "GL319", "05-CTDGVM000", CTD): GL319.format("05-CTDGVM000", CTD),
    ("CE05MOAS", "GL319", "01-PARADM000", PAR): GL319.format("01-PARADM000", PAR),
    ("CP05MOAS", "GL388", "00-ENG000000", GPS): GL388.format("00-ENG000000", GPS),
    ("CP05MOAS", "GL388", "03-CTDGVM000", CTD): GL388.format("03-CTDGVM000", CTD),
    ("CP05MOAS", "GL388", "05-PARADM000", PAR): GL388.format("05-PARADM000", PAR),
}
EVENTS = (
    "CE05MOAS-GL319-05-CTDGVM000_events.json", "CE05MOAS-GL319-01-PARADM000_events.json",
    "CP05MOAS-GL388-00-ENG000000_events.json", "CP05MOAS-GL388-03-CTDGVM000_events.json",
)
#: Largest difference between our interpolated CTD pressure and the stored one [dbar]: the
#: original interpolated the pressure computed in float64, we interpolate the float32 product.
PRESSURE_TOLERANCE = 7.6e-6


def _key(subsite: str, node: str, sensor: str, stream: str) -> StreamKey:
    return StreamKey(subsite, node, sensor, "recovered_host", stream)


@pytest.fixture(scope="module")
def glider_server(tmp_path_factory, curated, samples_dir) -> Iterator[InProcessServer]:
    folder = tmp_path_factory.mktemp("gliders") / "data"
    with EmbeddedStore(folder) as store:
        for name in FILES.values():
            ingest_file(store, curated, samples_dir / name)
        for name in EVENTS:
            load_event_file(store, samples_dir / name)
        server = InProcessServer(in_process_app(store, curated, tmp_path_factory.mktemp("glider_logs")))
        try:
            yield server
        finally:
            server.close()


def _stored(samples_dir: Path, name: str, variable: str) -> np.ndarray:
    with netCDF4.Dataset(samples_dir / name) as ds:
        ds.set_auto_mask(False)
        return np.asarray(ds[variable][:], dtype=np.float64)


def _served(server: InProcessServer, key: StreamKey, *names: str) -> dict[str, np.ndarray]:
    with netCDF4.Dataset(dap_url(server.url, key)) as ds:
        ds.set_auto_mask(False)
        return {name: np.asarray(ds[name][:]) for name in ("time", *names)}


@pytest.mark.parametrize("ident", [k for k in FILES if k[3] in (GPS, PAR)], ids=lambda k: f"{k[1]}-{k[3]}")
def test_interpolated_ctd_pressure_matches_the_stored_values(glider_server, samples_dir, ident):
    served = _served(glider_server, _key(*ident), "int_ctd_pressure")
    stored_name = "int_ctd_pressure" if ident[3] == PAR else "sci_water_pressure_dbar"
    stored = _stored(samples_dir, FILES[ident], stored_name)
    np.testing.assert_array_equal(served["time"], _stored(samples_dir, FILES[ident], "time"))
    assert np.isfinite(stored).all() and np.isfinite(served["int_ctd_pressure"]).all()
    np.testing.assert_allclose(served["int_ctd_pressure"], stored, rtol=0, atol=PRESSURE_TOLERANCE)
    # the tolerance is needed: the float32 product is what we interpolate
    assert np.abs(served["int_ctd_pressure"] - stored).max() > 1e-8


def _assert_same_where_both(ours: np.ndarray, theirs: np.ndarray, at_least: int) -> None:
    both = np.isfinite(ours) & np.isfinite(theirs)
    assert both.sum() >= at_least
    np.testing.assert_array_equal(ours[both], theirs[both])


@pytest.mark.parametrize("ident", [k for k in FILES if k[3] in (CTD, PAR)], ids=lambda k: f"{k[1]}-{k[3]}")
def test_positions_equal_the_stored_ones_where_both_have_a_fix(glider_server, samples_dir, ident):
    names = ("m_gps_lat", "m_gps_lon", "m_lat", "m_lon", "lat", "lon")
    served = _served(glider_server, _key(*ident), *names)
    file = FILES[ident]
    for name in names[:4]:
        stored = _stored(samples_dir, file, f"{GPS}-{name}")
        _assert_same_where_both(served[name], stored, 20 if name.startswith("m_gps") else 2500)
    # lat/lon: the GPS stream's interpolation between fixes where it stores one (GL388), else
    # our interpolation of the fixes, which meets every stored fix exactly (GL319)
    interpolated = ident[1] == "GL388"
    for axis in ("lat", "lon"):
        stored = _stored(samples_dir, file, f"{GPS}-interp_{axis}" if interpolated else f"{GPS}-m_gps_{axis}")
        _assert_same_where_both(served[axis], stored, 2500 if interpolated else 40)
        assert np.isfinite(served[axis]).sum() > 10 * np.isfinite(_stored(samples_dir, file, f"{GPS}-m_gps_{axis}")).sum()


def test_position_attributes_and_the_gps_stream_own_position(glider_server, samples_dir):
    key = _key("CP05MOAS", "GL388", "00-ENG000000", GPS)
    with netCDF4.Dataset(dap_url(glider_server.url, key)) as ds:
        assert ds["lat"].standard_name == "latitude" and ds["lat"].units == "degrees_north"
        assert ds["lon"].axis == "X" and ds["int_ctd_pressure"].units == "dbar"
        assert "ctdgv_m_glider_instrument_recovered" in ds["int_ctd_pressure"].comment
        assert "unavailable_parameters" not in ds.ncattrs()
        ds.set_auto_mask(False)
        lat = ds["lat"][:]
    np.testing.assert_array_equal(lat, _stored(samples_dir, FILES[("CP05MOAS", "GL388", "00-ENG000000", GPS)],
                                               "interp_lat"))
