"""The stream page's annotation timeline: a strict HTML5 page listing every annotation of the
stream (begin, end or open, parameters, flag, exclusion, text), the JSON twin, and in Chromium
each bar sitting under the plot's time axis at the records it covers."""

from __future__ import annotations

import json

import pytest
from catalog_annotations import FLUOROMETER_ANNOTATIONS, MAY_5, MAY_8_NOON, MAY_22
from html_checks import validate
from live_server import http
from test_browser import ARTIFACTS, browser_page, requires_chromium  # noqa: F401 (fixture)

from stream_engine import demo
from stream_engine.assets import NTP_UNIX_OFFSET
from stream_engine.catalog.plot import AXES_LEFT, AXES_RIGHT
from stream_engine.catalog.times import parse_time

KEY = demo.FLUOROMETER
START, STOP = "2019-05-01T00:00:00", "2019-06-03T00:00:00"
QUERY = f"?parameter=raw_signal_chl&start={START}&stop={STOP}"


def _ntp(ms: int) -> float:
    return ms / 1000 + NTP_UNIX_OFFSET


def _fraction(ms: int) -> float:
    return (_ntp(ms) - parse_time(START)) / (parse_time(STOP) - parse_time(START))


def test_stream_page_lists_the_annotations_and_its_json_twin_has_them(catalog_server) -> None:
    base = catalog_server.url
    url = f"{base}/catalog/{KEY.path}{QUERY}"
    page = http(url)[2].decode()
    validate(url, page)
    assert 'id="annotations"' in page and "<script" not in page
    assert "biofouling &lt;suspected&gt; &amp; growing" in page  # escaped
    assert "open (still applies)" in page and "yes: data removed" in page
    assert "<code>raw_signal_chl</code>" in page and "(outside the plotted range)" in page
    assert f'href="{base}/annotations/{KEY.path}"' in page
    data = json.loads(http(f"{base}/catalog/{KEY.path}.json{QUERY}")[2])["annotations"]
    stored = json.loads(http(f"{base}/annotations/{KEY.path}")[2])
    stored = stored["annotations"] if isinstance(stored, dict) else stored
    assert sorted(a["id"] for a in data["items"]) == sorted(a["id"] for a in stored)
    assert [i["text"] for i in data["items"]] == ["bench test", "chlorophyll channel fouled",
                                                  "biofouling <suspected> & growing"]
    bench, fouled, open_ended = data["items"]
    assert not bench["shown"] and bench["left"] is None
    assert fouled["exclusion"] and fouled["parameters"] == ["raw_signal_chl"] and fouled["flag"] == "fail"
    assert fouled["begin"] == "2019-05-05T00:00:00.000Z" and fouled["end"] == "2019-05-08T12:00:00.000Z"
    assert fouled["left"] == pytest.approx(100 * _fraction(MAY_5), abs=1e-3)
    assert fouled["width"] == pytest.approx(100 * (_fraction(MAY_8_NOON) - _fraction(MAY_5)), abs=1e-3)
    assert open_ended["end"] is None and open_ended["after"] and open_ended["parameters"] == []
    assert open_ended["left"] + open_ended["width"] == pytest.approx(100)
    assert data["frame"] == {"left": pytest.approx(100 * AXES_LEFT), "width": pytest.approx(100 * (AXES_RIGHT - AXES_LEFT))}
    assert len(FLUOROMETER_ANNOTATIONS) == 3


def test_a_stream_without_annotations_says_so(catalog_server) -> None:
    url = f"{catalog_server.url}/catalog/{demo.OPTODE.path}"
    page = http(url)[2].decode()
    validate(url, page)
    assert "No annotation applies to this stream." in page
    assert json.loads(http(f"{catalog_server.url}/catalog/{demo.OPTODE.path}.json")[2])["annotations"]["items"] == []


@requires_chromium
def test_bars_sit_under_the_plot_at_the_annotated_times(browser_page, catalog_server) -> None:  # noqa: F811
    page = browser_page
    page.goto(f"{catalog_server.url}/catalog/{KEY.path}{QUERY}")
    page.wait_for_function("document.getElementById('plot-image').complete")
    image = page.locator("#plot-image").bounding_box()
    bars = page.locator(".timeline .bar")
    assert bars.count() == 2
    assert page.locator(".timeline").get_attribute("aria-hidden") == "true"  # the table says it all
    fouled, open_ended = bars.nth(0).bounding_box(), bars.nth(1).bounding_box()

    def x(fraction: float) -> float:  # where the plot's time axis puts this fraction of its range
        return image["x"] + image["width"] * (AXES_LEFT + (AXES_RIGHT - AXES_LEFT) * fraction)

    assert fouled["x"] == pytest.approx(x(_fraction(MAY_5)), abs=2)
    assert fouled["x"] + fouled["width"] == pytest.approx(x(_fraction(MAY_8_NOON)), abs=2)
    assert open_ended["x"] == pytest.approx(x(_fraction(MAY_22)), abs=2)
    assert open_ended["x"] + open_ended["width"] == pytest.approx(x(1.0), abs=2)
    assert "bar exclusion" in bars.nth(0).get_attribute("class")
    rows = page.locator("#annotations-table tbody tr")
    assert rows.count() == 3 and rows.nth(0).get_attribute("class") == "muted"
    page.locator("#annotations").scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "catalog-9-annotations.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{catalog_server.url}/catalog/{KEY.path}{QUERY}")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
