"""Nitrate over DAP: the SUNA sample of the Oregon Offshore shallow profiler (its spectra, its real
calibration), corrected with the temperature and salinity of a CTD on the same profiler that
resolution finds; and the CSPP sample, which has neither calibration nor co-located temperature,
lists the product unavailable with the reason."""

from __future__ import annotations

import json
from collections.abc import Iterator

import netCDF4
import numpy as np
import pytest
from stream_servers import InProcessServer, dap_url, in_process_app

from stream_engine.assets import load_event_file, unix_ms_to_ntp
from stream_engine.functions.nitrate import ts_corrected_nitrate
from stream_engine.ingest import ingest_file
from stream_engine.store.base import StreamKey
from stream_engine.store.embedded import EmbeddedStore

NUTNR = StreamKey("CE04OSPS", "SF01B", "4A-NUTNRA102", "streamed", "nutnr_a_sample")
NUTNR_EVENTS = "CE04OSPS-SF01B-4A-NUTNRA102_events.json"
#: A CTD on the same profiler (the SBE 43 CTD's own stream is not among the samples; this stream
#: type stores temperature, salinity and pressure as they are, so the inputs are known exactly).
CTD = StreamKey("CE04OSPS", "SF01B", "2A-CTDPFA107", "streamed", "ctdpf_j_cspp_instrument_recovered")
CSPP = StreamKey("CE02SHSP", "SP001", "05-NUTNRJ000", "recovered_cspp", "nutnr_j_cspp_instrument_recovered")


def _ctd_values(times: np.ndarray) -> dict[str, np.ndarray]:
    """A profile: temperature, salinity and pressure changing linearly in time."""
    hours = (times - times[0]) / 3600.0
    return {"temperature": 9.0 + 0.05 * hours, "salinity": 33.2 + 0.01 * hours, "pressure": 20.0 + 0.5 * hours}


@pytest.fixture(scope="module")
def nutnr_file(samples_dir) -> dict[str, np.ndarray]:
    with netCDF4.Dataset(samples_dir / "nutnr_a_sample.nc") as ds:
        ds.set_auto_mask(False)
        out = {name: np.asarray(ds[name][:]) for name in ("time", "spectral_channels",
                                                          "nutnr_dark_value_used_for_fit")}
        out["frame_type"] = netCDF4.chartostring(ds["frame_type"][:])
        return out


@pytest.fixture(scope="module")
def nitrate_server(tmp_path_factory, curated, samples_dir, nutnr_file) -> Iterator[InProcessServer]:
    folder = tmp_path_factory.mktemp("nitrate") / "data"
    with EmbeddedStore(folder) as store:
        identity = {"subsite": NUTNR.subsite, "node": NUTNR.node, "sensor": NUTNR.sensor,
                    "method": NUTNR.method, "stream": NUTNR.stream}
        ingest_file(store, curated, samples_dir / "nutnr_a_sample.nc", overrides=identity)
        load_event_file(store, samples_dir / NUTNR_EVENTS)
        ingest_file(store, curated, samples_dir / "nutnr_j_cspp_instrument_recovered.nc")
        times = np.arange(nutnr_file["time"][0] - 600.0, nutnr_file["time"][-1] + 600.0, 60.0)
        columns = {name: values.astype(np.float32) for name, values in _ctd_values(times).items()}
        store.write(CTD, {"time": times, "deployment": np.full(len(times), 2, np.int32), **columns},
                    bin_seconds=curated.stream(CTD.stream).bin_seconds)
        server = InProcessServer(in_process_app(store, curated, tmp_path_factory.mktemp("nitrate_logs")))
        try:
            yield server
        finally:
            server.close()


def _calibration(samples_dir, deployment: int) -> dict[str, object]:
    events = json.loads((samples_dir / NUTNR_EVENTS).read_text())
    event = next(e for e in events if e["deploymentNumber"] == deployment)
    assert unix_ms_to_ntp(event["eventStartTime"]) < 3653420000
    return {c["name"]: c["calData"][0]["value"] for c in event["sensor"]["calibration"]}


def test_nitrate_is_corrected_with_the_colocated_ctd(nitrate_server, samples_dir, nutnr_file):
    with netCDF4.Dataset(dap_url(nitrate_server.url, NUTNR)) as ds:
        ds.set_auto_mask(False)
        served = ds["salinity_corrected_nitrate"][:]
        assert ds["spectral_channels"].dimensions == ("obs", "wavelength")
        assert ds["spectral_channels"].shape == (72, 256)
        sources = ds["salinity_corrected_nitrate"].provenance_source_streams
        inputs = ds["salinity_corrected_nitrate"].provenance_inputs
    assert CTD.path in sources
    assert "ctd_t: temperature from " + CTD.path in inputs
    cals = _calibration(samples_dir, 2)
    ctd = _ctd_values(np.array([nutnr_file["time"][0] - 600.0, *nutnr_file["time"]]))
    expected = ts_corrected_nitrate(
        cals["CC_cal_temp"], np.asarray(cals["CC_wl"]), np.asarray(cals["CC_eno3"]), np.asarray(cals["CC_eswa"]),
        np.asarray(cals["CC_di"]), nutnr_file["nutnr_dark_value_used_for_fit"],
        ctd["temperature"][1:].astype(np.float32).astype(np.float64),
        ctd["salinity"][1:].astype(np.float32).astype(np.float64),
        nutnr_file["spectral_channels"], nutnr_file["frame_type"],
        cals["CC_lower_wavelength_limit_for_spectra_fit"], cals["CC_upper_wavelength_limit_for_spectra_fit"],
    ).astype(np.float32)
    light = np.isfinite(expected)
    assert light.sum() >= 40 and np.isnan(served[~light]).all()
    np.testing.assert_allclose(served[light], expected[light], rtol=2e-6, atol=2e-4)
    # plausible coastal nitrate [umol/L], and the instrument's own uncorrected estimate nearby
    assert 0.0 < np.median(served[light]) < 45.0


def test_profiler_records_carry_the_ctd_pressure(nitrate_server, nutnr_file):
    with netCDF4.Dataset(dap_url(nitrate_server.url, NUTNR)) as ds:
        ds.set_auto_mask(False)
        pressure = ds["int_ctd_pressure"][:]
    expected = _ctd_values(np.array([nutnr_file["time"][0] - 600.0, *nutnr_file["time"]]))["pressure"][1:]
    np.testing.assert_allclose(pressure, expected, rtol=1e-6)


def test_cspp_nitrate_without_calibration_or_ctd_is_listed_with_the_reason(nitrate_server):
    with netCDF4.Dataset(dap_url(nitrate_server.url, CSPP)) as ds:
        listed = ds.unavailable_parameters
        assert ds["spectral_channels"].shape[1] == 256
    entry = next(e for e in listed.split("; ") if e.startswith("salinity_corrected_nitrate (PD18)"))
    assert "TEMPWAT_L1" in entry and "CE02SHSP-SP001-05-NUTNRJ000" in entry
