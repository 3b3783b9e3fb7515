"""The HTML catalog through a real server: every page valid, every link alive, every JSON twin
the same content, the filter right, the stream page telling the truth about the store."""

from __future__ import annotations

import json
from collections import deque
from urllib.parse import urlsplit

import pytest
from html_checks import Page, validate
from live_server import http

from stream_engine import demo
from stream_engine.catalog.describe import ntp_to_iso

#: Pages served by other parts of the application: checked for a working status, not crawled.
NOT_CRAWLED = ("/version", "/catalog.xml")


def _crawl(base: str) -> dict[str, Page]:
    """Follow every same-site link from ``/``: HTML pages validated, every link answering 2xx."""
    pages: dict[str, Page] = {}
    checked: set[str] = set()
    todo = deque([base + "/"])
    while todo:
        url = todo.popleft()
        if url in checked:
            continue
        checked.add(url)
        status, headers, body = http(url)
        assert status == 200, f"{url} -> {status}: {body[:300]!r}"
        path = urlsplit(url).path
        dap_response = path.startswith("/dap/") and not path.endswith("/")
        if not headers["Content-Type"].startswith("text/html") or dap_response or path in NOT_CRAWLED:
            continue
        page = validate(url, body.decode("utf-8"))
        pages[url] = page
        for link in page.links():
            if link.startswith(base) and link not in checked:
                todo.append(link)
    return pages


@pytest.fixture(scope="module")
def crawled(catalog_server):
    return _crawl(catalog_server.url)


def test_every_page_is_valid_and_every_link_works(crawled, catalog_server, catalog_store) -> None:
    base = catalog_server.url
    paths = {urlsplit(u).path for u in crawled}
    for coverage in catalog_store.streams():
        key = coverage.key
        assert f"/catalog/{key.path}" in paths
        assert f"/catalog/{key.subsite}/{key.node}/{key.sensor}/{key.method}/" in paths
        assert f"/dap/{key.subsite}/" in paths and f"/dap/{key.subsite}/{key.node}/" in paths
    assert "/" in paths
    assert len(crawled) > 3 * len(catalog_store.streams())
    assert all(u.startswith(base) for u in crawled)


def test_every_page_has_a_json_twin_with_the_same_content(crawled) -> None:
    for url in crawled:
        status, headers, _ = http(url)
        link = headers["Link"]
        assert link.endswith('; rel="alternate"; type="application/json"'), url
        twin = link[1 : link.index(">")]
        status, twin_headers, body = http(twin)
        assert status == 200 and twin_headers["Content-Type"] == "application/json", twin
        data = json.loads(body)
        assert twin_headers["Link"].startswith(f"<{url}>"), twin
        page = crawled[url]
        if "count" in data:
            assert f"{data['count']:,}" in page.text, url
        for child in data.get("children", []):
            assert child["url"] in page.links(), (url, child["url"])


def test_front_page_lists_subsites_with_nodes_counts_and_coverage(catalog_server, catalog_store) -> None:
    status, _, body = http(catalog_server.url + "/index.json")
    data = json.loads(body)
    streams = catalog_store.streams()
    subsites = sorted({c.key.subsite for c in streams})
    assert [c["name"] for c in data["children"]] == subsites
    mooring = next(c for c in data["children"] if c["name"] == demo.SUBSITE)
    assert [n["name"] for n in mooring["children"]] == [demo.NODE]
    on_mooring = [c for c in streams if c.key.subsite == demo.SUBSITE]
    assert mooring["streams"] == len(on_mooring) == 3
    assert mooring["count"] == sum(c.count for c in on_mooring)
    assert mooring["time_coverage_start"] == ntp_to_iso(min(c.first for c in on_mooring))
    assert mooring["time_coverage_end"] == ntp_to_iso(max(c.last for c in on_mooring))
    assert data["streams"] == len(streams) and data["count"] == sum(c.count for c in streams)
    page = http(catalog_server.url + "/")[2].decode()
    assert f'href="{catalog_server.url}/catalog/{demo.SUBSITE}/{demo.NODE}/"' in page
    assert f"{mooring['count']:,}" in page


def test_dap_folders_show_the_same_levels_as_the_catalog(catalog_server) -> None:
    base = catalog_server.url
    for path in (demo.SUBSITE, f"{demo.SUBSITE}/{demo.NODE}",
                 f"{demo.SUBSITE}/{demo.NODE}/{demo.CTD.sensor}/{demo.CTD.method}"):
        catalog = json.loads(http(f"{base}/catalog/{path}.json")[2])
        dap = json.loads(http(f"{base}/dap/{path}.json")[2])
        assert dap["breadcrumb"][0] == {"name": "DAP datasets", "url": f"{base}/dap/"}
        assert catalog["breadcrumb"][0] == {"name": "Catalog", "url": f"{base}/"}
        fields = ("level", "path", "name", "child_level", "streams", "count",
                  "time_coverage_start", "time_coverage_end")
        assert [catalog[f] for f in fields] == [dap[f] for f in fields]
        assert [(c["name"], c["count"]) for c in catalog["children"]] == [
            (c["name"], c["count"]) for c in dap["children"]]
        status, headers, body = http(f"{base}/dap/{path}/")
        assert status == 200 and headers["Content-Type"].startswith("text/html")
        assert [c["name"] for c in dap["children"]] and all(
            c["name"] in body.decode() for c in dap["children"])
    node = json.loads(http(f"{base}/dap/{demo.SUBSITE}/{demo.NODE}.json")[2])
    assert [c["name"] for c in node["children"]] == sorted(k.sensor for k in demo.STREAMS)
    assert node["children"][0]["url"] == f"{base}/dap/{demo.SUBSITE}/{demo.NODE}/{demo.FLUOROMETER.sensor}/"


def test_folder_without_slash_redirects(catalog_server) -> None:
    status, headers, _ = http(f"{catalog_server.url}/catalog/{demo.SUBSITE}?q=ctd")
    assert status == 200  # urllib follows the 301
    import urllib.request

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = urllib.request.build_opener(NoRedirect)
    with pytest.raises(urllib.error.HTTPError) as caught:
        opener.open(f"{catalog_server.url}/catalog/{demo.SUBSITE}?q=ctd")
    assert caught.value.code == 301
    assert caught.value.headers["Location"] == f"{catalog_server.url}/catalog/{demo.SUBSITE}/?q=ctd"


def _expected_matches(store, preload, predicate) -> list[str]:
    return [c.key.path for c in store.streams() if predicate(c.key, preload.stream_parameters(c.key.stream))]


@pytest.mark.parametrize(
    ("query", "predicate"),
    [
        ("PRACSAL_L2", lambda k, ps: any(p.data_product_identifier == "PRACSAL_L2" for p in ps)),
        ("doconcs", lambda k, ps: any("DOCONCS" in p.data_product_identifier for p in ps)),
        ("dissolved_oxygen", lambda k, ps: any("dissolved_oxygen" in (p.name + p.netcdf_name) for p in ps)),
        ("CE07SHSM recovered_host", lambda k, ps: k.subsite == "CE07SHSM" and k.method == "recovered_host"),
        ("mfd37 FLORT", lambda k, ps: k.node == "MFD37" and "FLORT" in k.sensor),
        ("no-such-thing", lambda k, ps: False),
    ],
)
def test_filter_finds_exactly_the_matching_streams(catalog_server, catalog_store, curated, query,
                                                    predicate) -> None:
    expected = _expected_matches(catalog_store, curated, predicate)
    data = json.loads(http(f"{catalog_server.url}/index.json?q={query.replace(' ', '+')}")[2])
    assert [m["path"] for m in data["matches"]] == expected
    assert data["query"] == query
    page = http(f"{catalog_server.url}/?q={query.replace(' ', '+')}")[2].decode()
    validate(catalog_server.url + "/", page)
    assert f"{len(expected)} stream{'' if len(expected) == 1 else 's'} matching" in page
    for path in expected:
        assert f'href="{catalog_server.url}/catalog/{path}"' in page


def test_filter_below_a_folder_stays_in_it(catalog_server) -> None:
    data = json.loads(http(f"{catalog_server.url}/catalog/{demo.SUBSITE}/{demo.NODE}.json?q=recovered")[2])
    assert [m["path"] for m in data["matches"]] == sorted(k.path for k in demo.STREAMS)
    assert all("method: recovered" in m["matched"][0] or "stream:" in m["matched"][0] for m in data["matches"])


def test_stream_page_describes_the_stream_from_index_assets_and_dictionary(
    catalog_server, catalog_store
) -> None:
    base = catalog_server.url
    key = demo.OPTODE
    coverage = catalog_store.coverage(key)
    data = json.loads(http(f"{base}/catalog/{key.path}.json")[2])
    assert data["id"] == f"{key.refdes}-{key.method}-{key.stream}"
    assert data["count"] == coverage.count
    assert data["time_coverage_start"] == ntp_to_iso(coverage.first)
    assert data["partitions"] == len(catalog_store.partitions(key))
    assert [d["number"] for d in data["deployments"]] == [1, 2]
    first = data["deployments"][0]
    assert (first["lat"], first["lon"], first["depth"]) == (demo.LAT, demo.LON, demo.DEPTH)
    assert first["start"] == "2019-05-01T00:00:00Z" and first["stop"] == "2019-05-15T00:00:00Z"
    assert "CC_csv" in first["calibrations"]
    by_name = {p["name"]: p for p in data["parameters"]}
    oxygen = by_name["dissolved_oxygen"]
    assert oxygen["kind"] == "computed" and oxygen["available"] and oxygen["level"] == "L2"
    assert oxygen["data_product_identifier"] == "DOXYGEN_L2" and oxygen["units"] == "umol kg-1"
    sources = {i["argument"]: i for i in oxygen["inputs"]}
    assert sources["SP"]["stream"] == demo.CTD.path
    assert sources["SP"]["stream_url"] == f"{base}/catalog/{demo.CTD.path}"
    assert sources["lat"]["kind"] == "location"
    assert by_name["calibrated_phase"]["kind"] == "stored"
    assert by_name["internal_timestamp"]["kind"] == "not stored"

    page = http(f"{base}/catalog/{key.path}")[2].decode()
    validate(base + "/", page)
    assert f'<dd id="record-count">{coverage.count:,} in ' in page
    assert f'href="{base}/catalog/{demo.CTD.path}">{demo.CTD.path}</a>' in page
    assert f'ds = xr.open_dataset("{base}/dap/{key.path}")' in page
    assert f"url = '{base}/dap/{key.path}';" in page


def test_unavailable_products_say_why(catalog_server, curated) -> None:
    """The met buoy sample has no calibrations for some products, or inputs no stream supplies."""
    key = "CE02SHSM/SBD11/06-METBKA000/telemetered/metbk_a_dcl_instrument"
    status, _, body = http(f"{catalog_server.url}/catalog/{key}.json")
    if status == 404:
        pytest.skip("OOI samples not loaded")
    data = json.loads(body)
    unavailable = [p for p in data["parameters"] if p["kind"] == "computed" and not p["available"]]
    assert data["summary"]["unavailable"] == len(unavailable) > 0
    assert all(p["reason"] for p in unavailable)
    page = http(f"{catalog_server.url}/catalog/{key}")[2].decode()
    assert page.count("<strong class=\"bad\">unavailable:</strong>") == len(unavailable)


def test_unknown_paths(catalog_server) -> None:
    base = catalog_server.url
    status, headers, body = http(f"{base}/catalog/{demo.SUBSITE}/NOPE/")
    assert status == 404 and headers["Content-Type"].startswith("text/html")
    page = validate(base + "/", body.decode())
    assert f"no node 'NOPE' in {demo.SUBSITE}; known: {demo.NODE}" in page.text
    assert base + "/" in page.links()
    status, headers, body = http(f"{base}/no/such/page")
    assert status == 404 and '<a href="/">catalog' in body.decode()
    status, headers, body = http(f"{base}/catalog/{demo.SUBSITE}/NOPE.json")
    assert status == 404 and json.loads(body)["code"] == 404
    status, _, body = http(f"{base}/catalog/{demo.CTD.path.replace('recovered_inst', 'telemetered')}")
    assert status == 404 and "holds data" in body.decode()
    status, _, body = http(f"{base}/dap/{demo.CTD.path}/extra/part")
    assert status == 404


def test_pages_never_read_stored_data(catalog_data, curated, tmp_path) -> None:
    """Every page and twin renders from the index, assets and dictionary; only plots read data."""
    from webob import Request

    from stream_engine.config import load_settings
    from stream_engine.store.embedded import EmbeddedStore
    from stream_engine.store.wrapper import WrapperStore
    from stream_engine.web.app import create_app

    class NoReads(WrapperStore):
        reads = 0

        def read(self, key, columns=None, *, time_range=None, index_range=None):
            NoReads.reads += 1
            return self.inner.read(key, columns, time_range=time_range, index_range=index_range)

        def read_columns(self, key, columns, *, index_range):
            NoReads.reads += 1
            return self.inner.read_columns(key, columns, index_range=index_range)

    with EmbeddedStore(catalog_data) as inner:
        app = create_app(load_settings(environ={"STREAM_ENGINE_LOG_DIR": str(tmp_path)}))
        app.context._store = NoReads(inner)
        app.context._preload = curated
        paths = ["/", "/index.json", "/dap/", "/catalog.xml", "/?q=salinity"]
        for c in inner.streams():
            k = c.key
            paths += [f"/catalog/{k.path}", f"/catalog/{k.path}.json", f"/catalog/{k.subsite}/",
                      f"/dap/{k.subsite}/{k.node}/{k.sensor}/", f"/catalog/{k.subsite}/{k.node}.json",
                      f"/catalog/{k.subsite}/{k.node}/{k.sensor}/{k.method}/catalog.xml"]
        for path in paths:
            assert Request.blank(path).get_response(app).status_code == 200, path
        assert NoReads.reads == 0
        plot = f"/catalog/{demo.CTD.path}/plot.png?parameter=temperature"
        assert Request.blank(plot).get_response(app).status_code == 200
        assert NoReads.reads > 0


def test_partly_available_products_say_where_and_why(catalog_server) -> None:
    """The glider sample's records fall outside its deployments in the asset events, so its depth
    (which needs the deployment location) is stated missing there, from the index alone."""
    key = "CE05MOAS/GL319/05-CTDGVM000/recovered_host/ctdgv_m_glider_instrument_recovered"
    status, _, body = http(f"{catalog_server.url}/catalog/{key}.json")
    if status == 404:
        pytest.skip("OOI samples not loaded")
    by_name = {p["name"]: p for p in json.loads(body)["parameters"]}
    depth = by_name["depth"]
    assert depth["available"]
    assert depth["unavailable_for"] == [
        "records from 2018-05-15T10:00:00Z to 2018-05-15T15:59:59Z (up to 5803 by the partition "
        "index): outside every deployment in the asset events, so no deployment location (CC_lat)"
    ]
    assert any("input values is missing" in limit for limit in depth["missing_where"])
    page = http(f"{catalog_server.url}/catalog/{key}")[2].decode()
    assert "<strong>Not computed for:</strong>" in page
    assert "outside every deployment in the asset events, so no deployment location" in page


def test_links_follow_the_public_base_url(catalog_data, curated, tmp_path) -> None:
    """Behind a proxy at https://example.org/streams every catalog link keeps that prefix."""
    from webob import Request

    from stream_engine.config import load_settings
    from stream_engine.web.app import create_app

    settings = load_settings(environ={"STREAM_ENGINE_LOG_DIR": str(tmp_path),
                                      "STREAM_ENGINE_DATA_DIR": str(catalog_data),
                                      "STREAM_ENGINE_BASE_URL": "https://example.org/streams"})
    app = create_app(settings)
    for path in ("/", f"/catalog/{demo.SUBSITE}/", f"/catalog/{demo.CTD.path}"):
        page = Request.blank(path).get_response(app)
        assert page.status_code == 200
        links = [link for link in validate("https://example.org/streams" + path, page.text).links()]
        assert links and all(link.startswith("https://example.org/streams/") for link in links), path
