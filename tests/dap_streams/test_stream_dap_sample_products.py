"""Every product of every OOI sample stream is served over DAP or listed with its reason.

All the sample files and asset events are ingested into one store. For each stream, over DAP:

* every product the dictionary defines for the stream (a function parameter) is a variable, or
  is named in the global ``unavailable_parameters`` with a reason;
* every derived variable the original engine stored in the sample file is there too: a product
  of the stream (as above), a mobile platform's coordinate (``int_ctd_pressure``; a glider's
  ``glider_gps_position-*`` positions, ``interp_lat``/``interp_lon`` served as ``lat``/``lon``),
  a fixed platform's ``lat``/``lon`` (the deployment location: a variable, or the
  ``geospatial_*`` attributes), or another stream's value interpolated as an input (named in
  the provenance of the products that use it).

The ``*_qc_executed``/``*_qc_results`` variables are results of QC tests a request asked for,
not products of the stream, and are not checked here.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import netCDF4
import pytest
from stream_servers import InProcessServer, dap_url, in_process_app

from stream_engine.assets import load_event_file
from stream_engine.engine.colocation import is_mobile
from stream_engine.ingest import ingest_file
from stream_engine.store.base import StreamKey
from stream_engine.store.embedded import EmbeddedStore

#: Identity of the sample files written without the stream's global attributes.
IDENTITIES = {
    "nutnr_a_sample.nc": StreamKey("CE04OSPS", "SF01B", "4A-NUTNRA102", "streamed", "nutnr_a_sample"),
    "echo_sounding.nc": StreamKey("RS01SLBS", "LJ01A", "05-HPIESA101", "streamed", "echo_sounding"),
}
GPS = "glider_gps_position"


def _sample_files(samples_dir: Path) -> list[str]:
    return sorted(p.name for p in samples_dir.glob("*.nc"))


@pytest.fixture(scope="module")
def samples_server(tmp_path_factory, curated, samples_dir) -> Iterator[tuple[InProcessServer, dict[str, StreamKey]]]:
    folder = tmp_path_factory.mktemp("samples") / "data"
    keys = {}
    with EmbeddedStore(folder) as store:
        for name in _sample_files(samples_dir):
            key = IDENTITIES.get(name)
            overrides = None if key is None else {
                "subsite": key.subsite, "node": key.node, "sensor": key.sensor, "method": key.method,
                "stream": key.stream}
            keys[name] = ingest_file(store, curated, samples_dir / name, overrides=overrides).key
        for path in sorted(samples_dir.glob("*_events.json")):
            load_event_file(store, path)
        server = InProcessServer(in_process_app(store, curated, tmp_path_factory.mktemp("samples_logs")))
        try:
            yield server, keys
        finally:
            server.close()


def _listed(unavailable: str) -> dict[str, str]:
    """``{parameter or coordinate name: reason}`` from ``unavailable_parameters``."""
    out = {}
    for entry in unavailable.split("; "):
        head, _, reason = entry.partition(": ")
        name = head.split(" (PD")[0]
        if reason and name not in out:
            out[name] = reason
    return out


class _Served:
    def __init__(self, ds: netCDF4.Dataset) -> None:
        self.variables = set(ds.variables)
        self.parameters = {ds[v].ooi_parameter_name for v in ds.variables if "ooi_parameter_name" in ds[v].ncattrs()}
        self.listed = _listed(ds.unavailable_parameters) if "unavailable_parameters" in ds.ncattrs() else {}
        self.inputs = " ".join(ds[v].provenance_inputs for v in ds.variables
                               if "provenance_inputs" in ds[v].ncattrs())
        self.located = "geospatial_lat_min" in ds.ncattrs() and "geospatial_lon_min" in ds.ncattrs()

    def has(self, name: str) -> bool:
        return name in self.variables or name in self.parameters or bool(self.listed.get(name))


def _why_missing(variable: str, key: StreamKey, served: _Served, preload) -> str | None:
    """``None`` when a derived variable of the sample file is accounted for, else what is wrong."""
    by_name = {p.name: p for p in preload.stream_parameters(key.stream)}
    by_name.update({p.netcdf_name: p for p in preload.stream_parameters(key.stream) if p.netcdf_name})
    own = by_name.get(variable)
    if own is not None and own.is_function:
        return None if served.has(own.name) else f"product {own.name} neither served nor listed"
    if variable == "int_ctd_pressure" or (key.stream == GPS and variable == "sci_water_pressure_dbar"):
        return None if served.has("int_ctd_pressure") else "interpolated CTD pressure missing"
    if variable.startswith(f"{GPS}-"):
        name = variable.split("-", 1)[1]
        name = {"interp_lat": "lat", "interp_lon": "lon"}.get(name, name)
        return None if served.has(name) else f"glider position {name} missing"
    if variable in ("lat", "lon"):
        if is_mobile(key):
            return None if served.has(variable) else f"{variable} of a mobile platform missing"
        return None if served.has(variable) or served.located else "deployment location missing"
    if "-" in variable:
        stream, _, parameter = variable.partition("-")
        if f"{parameter} from " in served.inputs and f"/{stream}" in served.inputs:
            return None
        return f"interpolated input {variable} is in no product's provenance"
    return None


def _derived(variables: list[str]) -> list[str]:
    return [v for v in variables if not v.endswith(("_qc_executed", "_qc_results"))]


def test_every_sample_product_is_served_or_listed_with_its_reason(samples_server, samples_dir, curated):
    server, keys = samples_server
    problems = []
    checked = 0
    for name, key in keys.items():
        with netCDF4.Dataset(dap_url(server.url, key)) as ds:
            served = _Served(ds)
        for p in curated.stream_parameters(key.stream):
            if p.is_function:
                checked += 1
                if not served.has(p.name):
                    problems.append(f"{name}: product {p.name} ({p.pd}) neither served nor listed")
        with netCDF4.Dataset(samples_dir / name) as sample:
            variables = _derived(list(sample.variables))
        for variable in variables:
            why = _why_missing(variable, key, served, curated)
            if why is not None:
                problems.append(f"{name}: {why}")
    assert problems == []
    assert checked >= 60


def test_listed_products_say_why(samples_server):
    server, keys = samples_server
    with netCDF4.Dataset(dap_url(server.url, keys["metbk_a_dcl_instrument_recovered.nc"])) as ds:
        listed = _listed(ds.unavailable_parameters) if "unavailable_parameters" in ds.ncattrs() else {}
    for reason in listed.values():
        assert len(reason) > 20
    with netCDF4.Dataset(dap_url(server.url, keys["nutnr_j_cspp_instrument_recovered.nc"])) as ds:
        listed = _listed(ds.unavailable_parameters)
    assert "salinity_corrected_nitrate" in listed
    assert "no stream provides dpi_TEMPWAT_L1" in listed["salinity_corrected_nitrate"]
