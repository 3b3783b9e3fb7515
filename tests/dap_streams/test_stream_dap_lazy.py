"""Laziness: metadata never reads data, a data request reads only what its hyperslabs need, a
computation serves several variables, and opening a 10-million-record stream moves almost
nothing."""

from __future__ import annotations

import numpy as np
import pytest
from stream_servers import (
    BIG,
    BIG_DT,
    BIG_RECORDS,
    BIG_START,
    GLIDER,
    CountingStore,
    assert_same,
    engine_values,
    in_process_app,
)
from webob import Request

from dap_handlers.stream_dataset import stream_dataset
from stream_engine import demo
from stream_engine.store.base import IndexRange

PYDAP_PROTOCOL_WARNING = "ignore:PyDAP was unable to determine the DAP protocol:UserWarning"


@pytest.fixture
def counting(engine_store):
    return CountingStore(engine_store)


def _get(app, path):
    response = Request.blank(path).get_response(app)
    body = response.body
    assert response.status_int == 200, body[:300]
    return body


def test_metadata_reads_no_data(tmp_path, counting, curated):
    app = in_process_app(counting, curated, tmp_path)
    for coverage in counting.streams():
        for suffix in (".dds", ".html", ".info", ".ver", "", ".dmr", ".dmr.xml", ".dsr"):
            _get(app, f"/dap/{coverage.key.path}{suffix}")
        _get(app, f"/dap/{coverage.key.path}.dds?time[0:{min(9, coverage.count - 1)}]")
    assert counting.reads == {}


def test_das_reads_only_string_columns_once(tmp_path, counting, curated):
    """The DAS gives each String variable its longest length (``DODS.strlen``, which netCDF-C
    needs): it reads those columns, once per dataset version, and nothing else."""
    app = in_process_app(counting, curated, tmp_path)
    for coverage in counting.streams():
        strings = {name for name, info in counting.columns(coverage.key).items()
                   if info.dtype.startswith(("<U", "|U", "|S", "|O", "O"))}
        counting.reset()
        _get(app, f"/dap/{coverage.key.path}.das")
        read = {column for _, columns, _ in counting.calls for column in columns}
        assert read <= strings | {"time", "deployment"}, (coverage.key, read - strings)
        if not strings:
            assert counting.reads == {}
        before = counting.reads[coverage.key]
        _get(app, f"/dap/{coverage.key.path}.das")
        assert counting.reads[coverage.key] == before


def test_products_of_one_request_are_computed_once(tmp_path, counting, curated, engine_settings):
    # without the folder shared by workers, where earlier tests' windows of these records may be
    app = in_process_app(counting, curated, tmp_path, DAP_SHARED_CACHE_BYTES=0)
    body = _get(app, f"/dap/{demo.OPTODE.path}.dods?dosta_abcdjm_cspp_tc_oxygen[0:99],"
                     "dissolved_oxygen[0:99]")
    assert body.count(b"Float32") == 2
    # one computation: the optode's raw inputs and the CTD's (for T, S, P) read once each
    assert counting.reads[demo.OPTODE] == 1 and counting.reads[demo.CTD] == 1
    assert counting.records[demo.OPTODE] == 100


def test_strided_products_compute_only_windows_with_picks(counting, curated, engine_settings,
                                                          engine_store):
    # 1024-record windows; not from the folder shared by workers (earlier tests' windows)
    settings = engine_settings.replace(DAP_COMPUTE_RECORDS=1, DAP_SHARED_CACHE_BYTES=0)
    dataset = stream_dataset(counting, curated, demo.FLUOROMETER, settings=settings)
    expected = engine_values(engine_store, curated, engine_settings, demo.FLUOROMETER)
    counting.reset()
    picks = dataset["optical_backscatter"].read(slice(10, 8064, 3000))
    assert_same(picks, expected["optical_backscatter"][10::3000], "strided")
    # three picks in three different blocks: three one-record windows of the fluorometer
    assert counting.records[demo.FLUOROMETER] == 3
    counting.reset()
    whole = dataset["fluorometric_chlorophyll_a"].read(slice(0, 8064, 5))
    assert_same(whole, expected["fluorometric_chlorophyll_a"][::5], "every fifth")
    # each 1024-record block is computed from its first to its last pick, never beyond
    picks_at = np.arange(0, 8064, 5)
    spans = [(b[-1] - b[0] + 1) for b in np.split(picks_at, np.flatnonzero(np.diff(picks_at // 1024)) + 1)]
    assert counting.records[demo.FLUOROMETER] == sum(spans) < 8064


def test_tiny_cache_recomputes_but_stays_exact(counting, curated, engine_settings, engine_store):
    settings = engine_settings.replace(DAP_COMPUTE_RECORDS=1, DAP_CACHE_BYTES=1)
    dataset = stream_dataset(counting, curated, demo.CTD, settings=settings)
    expected = engine_values(engine_store, curated, engine_settings, demo.CTD)
    for name, parameter in (("sea_water_density", "density"),
                            ("sea_water_practical_salinity", "practical_salinity")):
        assert_same(dataset[name].read(slice(1000, 5000, 3)), expected[parameter][1000:5000:3],
                    name)


def test_records_outside_deployments_are_served_with_fill(engine_store, curated,
                                                          engine_settings, optional_samples):
    if optional_samples is None:
        pytest.skip("OOI samples not available")
    dataset = stream_dataset(engine_store, curated, GLIDER, settings=engine_settings)
    assert dataset["time"].shape == (5803,)  # the sample's events do not cover deployment 6
    pressure = dataset["sea_water_pressure"].read()
    assert np.isfinite(pressure).sum() > 5000
    assert np.isnan(dataset["depth"].read()).all()  # needs the deployment latitude
    assert "deployments without asset events carry data (REQUIRE_DEPLOYMENT = False)" in (
        dataset.attributes["comment"])


def test_require_deployment_masks_records_without_asset_events(engine_store, curated,
                                                               engine_settings, optional_samples):
    """The original's REQUIRE_DEPLOYMENT: deployment 6 has no asset events, so nothing of it is
    data; the records keep their place in obs (its size comes from the partition index)."""
    if optional_samples is None:
        pytest.skip("OOI samples not available")
    settings = engine_settings.replace(REQUIRE_DEPLOYMENT=True)
    dataset = stream_dataset(engine_store, curated, GLIDER, settings=settings)
    assert dataset["time"].shape == (5803,)
    assert np.isfinite(dataset["time"].read()).all()
    assert set(dataset["deployment"].read().tolist()) == {6}
    for name in ("sci_water_pressure", "sea_water_pressure", "depth"):  # raw, dbar product, depth
        assert np.isnan(dataset[name].read()).all(), name
        assert dataset[name].attributes["unavailable_for"] == (
            "records from 2018-05-15T10:00:00Z to 2018-05-15T15:59:59Z (up to 5803 by the partition "
            "index): outside every deployment in the asset events, not served (REQUIRE_DEPLOYMENT = True)")
    assert "only records inside the time window of a deployment known to the asset events carry data" in (
        dataset.attributes["comment"])


def test_the_glider_product_equals_the_sample_file(engine_store, curated, engine_settings,
                                                   optional_samples):
    if optional_samples is None:
        pytest.skip("OOI samples not available")
    import netCDF4
    from stream_servers import GLIDER_FILE

    with netCDF4.Dataset(optional_samples / GLIDER_FILE) as ds:
        ds.set_auto_mask(False)
        stored = ds["sci_water_pressure_dbar"][:]
    dataset = stream_dataset(engine_store, curated, GLIDER, settings=engine_settings)
    np.testing.assert_array_equal(dataset["sea_water_pressure"].read(), stored)


def test_xarray_opens_ten_million_records_reading_almost_nothing(big_server, big_store, curated,
                                                                engine_settings):
    xr = pytest.importorskip("xarray")
    url = f"{big_server.url}/dap/{BIG.path}"
    expected = engine_values(big_store.inner, curated, engine_settings, BIG,
                             index_range=IndexRange(5_000_000, 5_000_010))
    big_store.reset()
    sent_before = big_server.bytes_sent
    with xr.open_dataset(url, engine="netcdf4") as ds:
        assert ds.sizes["obs"] == BIG_RECORDS
        opened_records = big_store.records[BIG]
        opened_bytes = big_server.bytes_sent - sent_before
        assert opened_records <= 4, big_store.calls
        assert opened_bytes < 100_000
        big_store.reset()
        window = ds["sea_water_pressure"][5_000_000:5_000_010].values
        assert big_store.records[BIG] == 10
        assert_same(window, expected["sci_water_pressure_dbar"], "window")
        np.testing.assert_allclose(window, np.arange(10) * np.float32(0.1) * 10, rtol=1e-6)
        last = np.datetime64("1900-01-01") + np.timedelta64(
            int((BIG_START + (BIG_RECORDS - 1) * BIG_DT) * 1e6), "us")
        assert abs(ds["time"][-1].values - last) < np.timedelta64(1, "us")


@pytest.mark.filterwarnings(PYDAP_PROTOCOL_WARNING)
def test_pydap_engine_opens_ten_million_records_reading_almost_nothing(big_server, big_store):
    xr = pytest.importorskip("xarray")
    big_store.reset()
    with xr.open_dataset(f"{big_server.url}/dap/{BIG.path}", engine="pydap") as ds:
        assert ds.sizes["obs"] == BIG_RECORDS
        assert big_store.records[BIG] <= 4, big_store.calls
        np.testing.assert_array_equal(ds["sci_water_pressure"][::2_500_000].values,
                                      np.float32([0, 0, 0, 0]))


def test_big_stream_values_match_the_engine(big_store, curated, engine_settings):
    expected = engine_values(big_store, curated, engine_settings, BIG,
                             index_range=IndexRange(9_999_990, BIG_RECORDS))
    dataset = stream_dataset(big_store, curated, BIG, settings=engine_settings)
    tail = dataset["sea_water_pressure"].read(slice(9_999_990, None))
    assert_same(tail, expected["sci_water_pressure_dbar"], "tail")
