"""Quick-look plots: server-side decimation that keeps real values, images with axes, units and
deployment boundaries, and the stream page's plot form working without JavaScript."""

from __future__ import annotations

import struct
from urllib.parse import quote

import numpy as np
import pytest
from html_checks import validate
from live_server import http

from stream_engine import demo
from stream_engine.catalog.quicklook import quicklook_series
from stream_engine.catalog.times import parse_time
from stream_engine.config import load_settings
from stream_engine.engine.compute import compute
from stream_engine.engine.resolve import resolve
from stream_engine.errors import BadRequest, NotFound
from stream_engine.store.base import TimeRange

SETTINGS = load_settings(environ={})


def _range(store, key, lo=None, hi=None) -> TimeRange:
    c = store.coverage(key)
    return TimeRange(c.first if lo is None else lo, float(np.nextafter(c.last if hi is None else hi, np.inf)))


def test_stored_variable_is_decimated_to_real_values(catalog_store, curated) -> None:
    key = demo.CTD
    window = _range(catalog_store, key, parse_time("2019-05-03"), parse_time("2019-05-20"))
    series = quicklook_series(catalog_store, curated, key, "temperature", window, settings=SETTINGS,
                              points=500)
    stored = catalog_store.read(key, ["temperature"], time_range=window)
    assert series.records == len(stored["time"]) == series.used
    assert series.stride == 1
    assert len(series.time) == 500
    assert np.all(np.diff(series.time) > 0)
    assert series.time[0] >= window.start and series.time[-1] < window.stop
    position = np.searchsorted(stored["time"], series.time)
    np.testing.assert_array_equal(stored["time"][position], series.time)
    np.testing.assert_array_equal(stored["temperature"][position].astype(float), series.values)
    assert series.time[0] == stored["time"][0] and series.time[-1] == stored["time"][-1]
    assert [d[0] for d in series.deployments] == [1, 2]
    assert series.units == "counts"


def test_product_is_the_engine_value_at_every_point(catalog_store, curated) -> None:
    key = demo.CTD
    window = _range(catalog_store, key)
    series = quicklook_series(catalog_store, curated, key, "sea_water_practical_salinity", window,
                              settings=SETTINGS, points=300, compute_records=10_000)
    assert series.stride == 5 and series.records == catalog_store.coverage(key).count
    assert series.used == len(range(0, series.records, 5))
    pid = next(p.id for p in curated.stream_parameters(key.stream) if p.name == "practical_salinity")
    plan = resolve(catalog_store, curated, key, [pid], window, settings=SETTINGS)
    full = compute(catalog_store, curated, plan, settings=SETTINGS, require_deployment=False)
    position = np.searchsorted(full["time"], series.time)
    np.testing.assert_array_equal(full["practical_salinity"][position], series.values)
    assert len(series.time) == 300 and series.units == "1"
    assert np.all((series.values > 33) & (series.values < 34.5))


def test_bad_variables_are_refused(catalog_store, curated) -> None:
    window = _range(catalog_store, demo.CTD)
    with pytest.raises(NotFound, match="no variable 'nope'"):
        quicklook_series(catalog_store, curated, demo.CTD, "nope", window, settings=SETTINGS)
    with pytest.raises(BadRequest, match="not a numeric scalar"):
        quicklook_series(catalog_store, curated, demo.OPTODE, "serial_number",
                         _range(catalog_store, demo.OPTODE), settings=SETTINGS)


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def test_plot_images_over_http(catalog_server) -> None:
    base = f"{catalog_server.url}/catalog/{demo.CTD.path}/plot"
    status, headers, body = http(f"{base}.png?parameter=sea_water_practical_salinity")
    assert status == 200 and headers["Content-Type"] == "image/png"
    assert _png_size(body) == (1000, 420)
    status, headers, body = http(
        f"{base}.svg?parameter=sea_water_practical_salinity&start=2019-05-10&stop=2019-05-25T00:00:00Z")
    assert status == 200 and headers["Content-Type"].startswith("image/svg+xml")
    svg = body.decode()
    assert "Practical Salinity (1)" in svg and "time (UTC)" in svg
    assert "D1 end" in svg and "D2 start" in svg
    assert svg.count("D1 start") == 0  # deployment 1 started before the range


@pytest.mark.parametrize(
    ("query", "status", "words"),
    [("", 400, "?parameter="), ("parameter=nope", 404, "no variable"),
     ("parameter=temperature&start=yesterday", 400, "neither an ISO 8601"),
     ("parameter=temperature&start=2019-05-20&stop=2019-05-10", 400, "before start"),
     ("parameter=temperature&points=5", 400, "points must be between")],
)
def test_plot_errors_are_clear(catalog_server, query, status, words) -> None:
    got, headers, body = http(f"{catalog_server.url}/catalog/{demo.CTD.path}/plot.png?{query}")
    assert got == status and headers["Content-Type"].startswith("text/html")
    assert quote(words, safe="?= ") in body.decode() or words in body.decode()


def test_stream_page_plot_form_works_without_javascript(catalog_server) -> None:
    page_url = f"{catalog_server.url}/catalog/{demo.OPTODE.path}"
    query = "parameter=dissolved_oxygen&start=2019-05-02T00%3A00%3A00&stop=2019-05-30T00%3A00%3A00&format=svg"
    status, _, body = http(f"{page_url}?{query}")
    assert status == 200
    page = validate(page_url, body.decode())
    images = [a for a in page.all("img") if a.get("id") == "plot-image"]
    assert len(images) == 1
    src = images[0]["src"].replace("&amp;", "&")
    assert src.startswith(f"{page_url}/plot.svg?parameter=dissolved_oxygen&start=2019-05-02T00")
    assert "dissolved_oxygen from 2019-05-02T00:00:00" in images[0]["alt"]
    status, headers, svg = http(src)
    assert status == 200 and headers["Content-Type"].startswith("image/svg+xml")
    assert b"umol kg-1" in svg
    selected = [a for n, a in page.tags if n == "option" and "selected" in a]
    assert {"value": "dissolved_oxygen", "selected": ""} in selected
    status, _, body = http(f"{page_url}?parameter=serial_number")
    assert status == 200 and "cannot be plotted" in body.decode()


def test_decimation_keeps_a_spike_across_read_groups(tmp_path, curated, monkeypatch) -> None:
    import stream_engine.catalog.quicklook as quicklook
    from stream_engine.store.base import StreamKey
    from stream_engine.store.embedded import EmbeddedStore

    monkeypatch.setattr(quicklook, "READ_RECORDS", 50_000)
    key = StreamKey("CE05MOAS", "GL001", "05-CTDGVM000", "recovered_host",
                    "ctdgv_m_glider_instrument_recovered")
    n = 300_000
    index = np.arange(n)
    pressure = (10 + np.sin(index / 500.0)).astype(np.float32)
    pressure[123_457] = 99.5
    pressure[200_000:200_100] = np.nan
    with EmbeddedStore(tmp_path / "data") as store:
        store.write(key, {"time": 3.8e9 + index * 2.0, "deployment": np.ones(n, np.int32),
                          "sci_water_pressure": pressure},
                    bin_seconds=curated.stream(key.stream).bin_seconds)
        assert len(store.partitions(key)) > 6  # several read groups of 50,000
        series = quicklook_series(store, curated, key, "sci_water_pressure", _range(store, key),
                                  settings=SETTINGS, points=500)
    assert len(series.time) == 500 and series.records == n
    assert series.values.max() == np.float32(99.5)
    assert series.time[int(series.values.argmax())] == 3.8e9 + 123_457 * 2.0
    assert not np.isnan(series.values).any()
    assert series.values.min() == pytest.approx(9.0, abs=1e-3)
    assert series.time[0] == 3.8e9 and series.time[-1] == 3.8e9 + (n - 1) * 2.0
