"""The catalog in real headless Chromium (Debian's ``chromium``, driven by Playwright): browse
from the front page to a stream, draw a quick-look plot, build and submit a request and download
its result. Screenshots go to ``tests/artifacts/`` (untracked)."""

from __future__ import annotations

import io
import json
import shutil
import zipfile
from pathlib import Path

import pytest
from html_checks import validate
from live_server import http

from stream_engine import demo
from stream_engine.catalog.times import parse_time
from stream_engine.web.routes import ROUTES

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
requires_chromium = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed (.ci/run installs it)"
)
sync_api = pytest.importorskip("playwright.sync_api")


def _has_route(path: str) -> bool:
    return any(r.match(path) is not None for r in ROUTES)


@pytest.fixture
def browser_page(tmp_path):
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=CHROMIUM, headless=True,
            args=CHROMIUM_FLAGS, viewport={"width": 1280, "height": 900}, accept_downloads=True,
        )
        try:
            page = context.new_page()
            page.set_default_timeout(60_000)
            yield page
        finally:
            context.close()


def _shot(page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"catalog-{name}.png"), full_page=True)


def _open_stream_page(page, base: str, key) -> None:
    page.goto(base + "/")
    assert page.locator("h1").inner_text() == "Stream Engine catalog"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    _shot(page, "1-front")
    for name in (key.subsite, key.node, key.sensor, key.method):
        page.get_by_role("link", name=name, exact=True).first.click()
        page.wait_for_load_state()
        assert page.locator("nav.breadcrumb [aria-current=page]").inner_text() == name
        if name == key.subsite:
            _shot(page, "2-subsite")
    page.get_by_role("link", name=key.stream, exact=True).first.click()
    page.wait_for_load_state()


@requires_chromium
def test_browse_to_a_stream_and_draw_a_quick_look(browser_page, catalog_server, catalog_store) -> None:
    page, base, key = browser_page, catalog_server.url, demo.CTD
    _open_stream_page(page, base, key)
    assert page.url == f"{base}/catalog/{key.path}"
    assert page.locator("h1").inner_text() == key.stream
    count = catalog_store.coverage(key).count
    assert page.locator("#record-count").inner_text().startswith(f"{count:,} in ")
    rows = page.locator("#deployments + .table-wrap tbody tr")
    assert rows.count() == 2 and rows.nth(0).locator("td").nth(0).inner_text() == "1"
    salinity = page.locator("#p-practical_salinity td")
    assert salinity.nth(1).inner_text() == "1" and salinity.nth(3).inner_text() == "computed"
    _shot(page, "3-stream")

    page.get_by_label("Variable").select_option("sea_water_practical_salinity")
    page.get_by_label("from (UTC)").first.fill("2019-05-10T00:00:00")
    page.get_by_label("to (UTC)").first.fill("2019-05-25T00:00:00")
    page.get_by_role("button", name="Plot").click()
    page.wait_for_load_state("load")
    image = page.locator("#plot-image")
    image.scroll_into_view_if_needed()
    page.wait_for_function("document.getElementById('plot-image').complete")
    assert image.evaluate("img => img.naturalWidth") == 1000
    assert "parameter=sea_water_practical_salinity" in image.get_attribute("src")
    assert page.get_by_label("Variable").input_value() == "sea_water_practical_salinity"
    image.screenshot(path=str(ARTIFACTS / "catalog-4-plot.png"))
    _shot(page, "4-stream-with-plot")


@requires_chromium
def test_request_form_shows_the_request_body(browser_page, catalog_server) -> None:
    page, base, key = browser_page, catalog_server.url, demo.CTD
    page.goto(f"{base}/catalog/{key.path}#request")
    form = page.locator("#request-form")
    form.get_by_label("sea_water_practical_salinity").check()
    form.get_by_label("from (UTC)").fill("2019-05-02T00:00:00")
    form.get_by_label("to (UTC)").fill("2019-05-02T12:00:00")
    form.get_by_role("button", name="Show the request body").click()
    page.wait_for_load_state()
    body = json.loads(page.locator("#request-body").inner_text())
    assert body["streams"][0]["stream"] == key.stream
    assert body["start"] == parse_time("2019-05-02T00:00:00")
    assert body["stop"] == parse_time("2019-05-02T12:00:00")
    assert len(body["streams"][0]["parameters"]) == 1
    assert f"{base}/particles" in page.locator("#request-curl").inner_text()
    _shot(page, "5-request-body")


@requires_chromium
def test_request_form_downloads_a_csv_zip(browser_page, catalog_server, catalog_store) -> None:
    if not _has_route("/csv"):
        pytest.skip("POST /csv (the synchronous export) is not part of this build yet")
    page, base, key = browser_page, catalog_server.url, demo.CTD
    page.goto(f"{base}/catalog/{key.path}#request")
    form = page.locator("#request-form")
    form.get_by_label("sea_water_practical_salinity").check()
    form.get_by_label("from (UTC)").fill("2019-05-02T00:00:00")
    form.get_by_label("to (UTC)").fill("2019-05-02T12:00:00")
    form.get_by_label("CSV files").check()
    _shot(page, "6-request-form")
    with page.expect_download() as caught:
        form.get_by_role("button", name="Submit request").click()
    download = caught.value
    target = ARTIFACTS / download.suggested_filename
    download.save_as(str(target))
    assert download.suggested_filename == f"{key.stream}.zip"
    with zipfile.ZipFile(io.BytesIO(target.read_bytes())) as archive:
        names = [n for n in archive.namelist() if n.endswith(".csv")]
        assert len(names) == 1 and names[0].startswith("deployment0001_")
        lines = archive.read(names[0]).decode().splitlines()
    expected = catalog_store.read(key, ["temperature"], time_range=__import__(
        "stream_engine.store.base", fromlist=["TimeRange"]).TimeRange(
        parse_time("2019-05-02T00:00:00"), parse_time("2019-05-02T12:00:00")))
    header = lines[0].split(",")
    assert "sea_water_practical_salinity" in "".join(header)
    assert len([line for line in lines[1:] if line and line[0].isdigit()]) == len(expected["time"])


@requires_chromium
def test_request_form_starts_an_export_job_and_downloads_its_file(browser_page, catalog_server) -> None:
    if not _has_route("/jobs"):
        pytest.skip("POST /jobs (asynchronous exports) is not part of this build yet")
    page, base, key = browser_page, catalog_server.url, demo.CTD
    page.goto(f"{base}/catalog/{key.path}#request")
    form = page.locator("#request-form")
    form.get_by_label("from (UTC)").fill("2019-05-02T00:00:00")
    form.get_by_label("to (UTC)").fill("2019-05-03T00:00:00")
    form.get_by_label("NetCDF4 files").check()
    form.get_by_label("as an export job").check()
    form.get_by_role("button", name="Submit request").click()
    page.wait_for_load_state()
    assert page.url.startswith(f"{base}/catalog/jobs/")
    job_id = page.url.rsplit("/", 1)[1]
    assert page.locator("h1").inner_text() == f"Export job {job_id}"
    page.wait_for_function("document.getElementById('job-state') && "
                           "['complete', 'failed'].includes(document.getElementById('job-state').textContent)",
                           timeout=240_000)
    assert page.locator("#job-state").inner_text() == "complete"
    validate(page.url, http(page.url)[2].decode())
    _shot(page, "7-export-job")
    status, _, body = http(page.locator("#job-status").get_attribute("href"))
    job = json.loads(body)
    assert status == 200 and job["id"] == job_id and job["state"] == "complete"
    links = page.locator("#job-files a")
    assert links.count() == len(job["files"]) >= 1
    name = next(f["name"] for f in job["files"] if f["name"].endswith(".nc"))
    with page.expect_download() as caught:
        page.get_by_role("link", name=name).click()
    target = ARTIFACTS / caught.value.suggested_filename
    caught.value.save_as(str(target))
    assert target.name == name and target.read_bytes()[:4] == b"\x89HDF"


@requires_chromium
def test_pages_fit_a_phone_screen(browser_page, catalog_server) -> None:
    page = browser_page
    page.set_viewport_size({"width": 390, "height": 844})
    for path in ("/", f"/catalog/{demo.OPTODE.path}", f"/catalog/{demo.SUBSITE}/{demo.NODE}/"):
        page.goto(catalog_server.url + path)
        assert page.evaluate("document.documentElement.scrollWidth") <= 390, path
    _shot(page, "8-phone-stream")
