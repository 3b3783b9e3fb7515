"""THREDDS catalogs: valid InvCatalog 1.0 XML, crawled by Unidata siphon from the root to every
stream, and a stream opened through its OPeNDAP access URL with xarray."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import pytest
import xarray as xr
from live_server import http
from siphon.catalog import TDSCatalog

from stream_engine import demo
from stream_engine.catalog.describe import ntp_to_iso

NS = {"t": "http://www.unidata.ucar.edu/namespaces/thredds/InvCatalog/v1.0",
      "xlink": "http://www.w3.org/1999/xlink"}


def _walk(catalog: TDSCatalog, found: dict) -> None:
    for dataset in catalog.datasets.values():
        found[dataset.id] = dataset
    for ref in catalog.catalog_refs.values():
        _walk(ref.follow(), found)


def test_siphon_crawls_from_the_root_to_every_stream(catalog_server, catalog_store) -> None:
    root = TDSCatalog(catalog_server.url + "/catalog.xml")
    assert sorted(root.catalog_refs) == sorted({c.key.subsite for c in catalog_store.streams()})
    found: dict = {}
    _walk(root, found)
    expected = {f"{c.key.refdes}-{c.key.method}-{c.key.stream}": c for c in catalog_store.streams()}
    assert sorted(found) == sorted(expected)
    for ident, dataset in found.items():
        key = expected[ident].key
        assert dataset.access_urls["OPENDAP"] == f"{catalog_server.url}/dap/{key.path}"
        assert dataset.url_path == key.path


def test_thredds_alias_is_the_same_catalog(catalog_server) -> None:
    assert http(catalog_server.url + "/thredds/catalog.xml")[2] == http(catalog_server.url + "/catalog.xml")[2]
    tds = TDSCatalog(catalog_server.url + "/thredds/catalog.xml")
    assert demo.SUBSITE in tds.catalog_refs


def test_a_stream_opens_through_its_opendap_access_url(catalog_server, catalog_store) -> None:
    key = demo.CTD
    method_catalog = TDSCatalog(
        f"{catalog_server.url}/catalog/{key.subsite}/{key.node}/{key.sensor}/{key.method}/catalog.xml")
    dataset = method_catalog.datasets[key.stream]
    with xr.open_dataset(dataset.access_urls["OPENDAP"], engine="netcdf4") as ds:
        coverage = catalog_store.coverage(key)
        assert ds.sizes["obs"] == coverage.count
        salinity = ds["sea_water_practical_salinity"].isel(obs=slice(0, 50)).values
        assert np.all((salinity > 30) & (salinity < 35)), salinity
        assert ds.attrs["subsite"] == key.subsite


def test_method_catalog_lists_time_coverage_and_variables(catalog_server, catalog_store) -> None:
    key = demo.CTD
    status, headers, body = http(
        f"{catalog_server.url}/catalog/{key.subsite}/{key.node}/{key.sensor}/{key.method}/catalog.xml")
    assert status == 200 and headers["Content-Type"].startswith("application/xml")
    root = ET.fromstring(body)
    assert root.tag == f"{{{NS['t']}}}catalog" and root.get("version") == "1.0.1"
    services = {s.get("serviceType"): s.get("base") for s in root.iter(f"{{{NS['t']}}}service")}
    assert services["OPeNDAP"] == f"{catalog_server.url}/dap/"
    dataset = root.find(f".//t:dataset[@urlPath='{key.path}']", NS)
    coverage = catalog_store.coverage(key)
    assert dataset.find("t:timeCoverage/t:start", NS).text == ntp_to_iso(coverage.first)
    assert dataset.find("t:timeCoverage/t:end", NS).text == ntp_to_iso(coverage.last)
    variables = {v.get("name"): v for v in dataset.iterfind("t:variables/t:variable", NS)}
    assert {"time", "sea_water_practical_salinity", "sea_water_density", "conductivity"} <= set(variables)
    assert variables["sea_water_practical_salinity"].get("units") == "1"
    assert dataset.find("t:property[@name='record_count']", NS).get("value") == str(coverage.count)


def test_unknown_folder_catalog_is_404(catalog_server) -> None:
    status, _, body = http(f"{catalog_server.url}/catalog/NOWHERE/catalog.xml")
    assert status == 404 and b"no subsite &#39;NOWHERE&#39;" in body


@pytest.mark.parametrize("path", ["/catalog.xml", f"/catalog/{demo.SUBSITE}/{demo.NODE}/catalog.xml"])
def test_catalog_xml_is_well_formed_with_refs_that_resolve(catalog_server, path) -> None:
    root = ET.fromstring(http(catalog_server.url + path)[2])
    refs = [r.get(f"{{{NS['xlink']}}}href") for r in root.iter(f"{{{NS['t']}}}catalogRef")]
    assert refs
    for ref in refs:
        assert http(ref)[0] == 200, ref


def test_http_download_service_gives_the_stream_files(catalog_server) -> None:
    key = demo.OPTODE
    catalog = TDSCatalog(
        f"{catalog_server.url}/catalog/{key.subsite}/{key.node}/{key.sensor}/{key.method}/catalog.xml")
    urls = catalog.datasets[key.stream].access_urls
    if "HTTPServer" not in urls:
        pytest.skip("this build has no NetCDF export (POST /netcdf), so no HTTP download service")
    assert urls["HTTPServer"] == f"{catalog_server.url}/download/{key.path}"
    import io
    import zipfile

    status, headers, body = http(urls["HTTPServer"], timeout=300)
    assert status == 200 and headers["Content-Type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        names = sorted(n for n in archive.namelist() if n.endswith(".nc"))
    assert [n[:14] for n in names] == ["deployment0001", "deployment0002"]
