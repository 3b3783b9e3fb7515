"""NetCDF4, CSV and TSV exports of the demo streams, re-read and compared value by value with
the engine's own computation, and checked with the IOOS compliance checker."""

from __future__ import annotations

import csv
import json

import netCDF4
import numpy as np
import pytest
import xarray as xr
from conftest import compliance_failures, stream_body

from stream_engine.demo import CTD, DEPTH, LAT, LON, OPTODE
from stream_engine.engine.compute import compute
from stream_engine.engine.query import parse_query
from stream_engine.engine.resolve import resolve
from stream_engine.errors import BadRequest, InvalidQuery, NoDataInRange
from stream_engine.outputs.export import run_export
from stream_engine.preload.fill_values import missing_mask

SALINITY, DENSITY = 13, 5  # PD13 practical_salinity, PD5 density


def _oracle(store, preload, settings, query):
    key = query.primary.key
    plan = resolve(store, preload, key, list(query.primary.parameters) or None, query.time_range,
                   settings=settings)
    out = compute(store, preload, plan, time_range=query.time_range, settings=settings)
    return plan, out


@pytest.fixture(scope="module")
def ctd_netcdf(tmp_path_factory, demo_store, curated, export_settings):
    query = parse_query(stream_body(CTD, include_provenance=True, requestUUID="abc-123"),
                         curated, export_settings)
    folder = tmp_path_factory.mktemp("ctd_nc")
    # small slices: the files must come out the same as when written in one piece
    settings = export_settings.replace(QUERY_CHUNK_RECORDS=1000)
    result = run_export(demo_store, curated, query, "netcdf", folder, settings)
    return query, result


def test_netcdf_files_per_deployment_with_ooi_names(ctd_netcdf):
    query, result = ctd_netcdf
    names = sorted(p.name for p in result.files)
    assert names[0] == "CE07SHSM-MFD37-03-CTDBPC000-recovered_inst-ctdbp_cdef_instrument_recovered_provenance.json"
    data = [n for n in names if n.endswith(".nc")]
    assert [n[:14] for n in data] == ["deployment0001", "deployment0002"]
    for name in data:
        assert "_CE07SHSM-MFD37-03-CTDBPC000-recovered_inst-ctdbp_cdef_instrument_recovered_2019" in name
    with netCDF4.Dataset(result.files[0]) as ds:
        first = ds.variables["time"][0]
        last = ds.variables["time"][-1]
    from stream_engine.outputs.layout import compact_time

    assert result.files[0].name.endswith(f"_{compact_time(first)}-{compact_time(last)}.nc")
    assert not list(result.files[0].parent.glob(".*.part"))


def test_netcdf_values_equal_the_engine(ctd_netcdf, demo_store, curated, export_settings):
    query, result = ctd_netcdf
    plan, out = _oracle(demo_store, curated, export_settings, query)
    files = [p for p in result.files if p.suffix == ".nc"]
    datasets = [netCDF4.Dataset(p) for p in files]
    try:
        for ds in datasets:
            ds.set_auto_mask(False)
        times = np.concatenate([ds.variables["time"][:] for ds in datasets])
        np.testing.assert_array_equal(times, out.time)
        assert result.records == len(out.time) > 40000
        names = {v.name for v in datasets[0].variables.values()}
        assert {"sea_water_practical_salinity", "sea_water_density", "sea_water_temperature"} <= names
        for pid in plan.requested:
            p = curated.parameters[pid]
            if p.name in ("time", "deployment") or plan.reason(pid) is not None:
                continue
            name = p.netcdf_name or p.name
            got = np.concatenate([ds.variables[name][:] for ds in datasets])
            expected = out[p.name]
            if expected.dtype.kind in "OU":
                assert got.tolist() == expected.tolist(), name
            else:
                np.testing.assert_array_equal(got, expected, err_msg=name)
        deployments = np.concatenate([ds.variables["deployment"][:] for ds in datasets])
        np.testing.assert_array_equal(deployments, out.deployment)
    finally:
        for ds in datasets:
            ds.close()


def test_netcdf_attributes(ctd_netcdf):
    _, result = ctd_netcdf
    with netCDF4.Dataset(result.files[0]) as ds:
        assert ds.data_model == "NETCDF4"
        assert ds.dimensions["obs"].isunlimited()
        assert ds.Conventions == "CF-1.8, ACDD-1.3"
        assert ds.featureType == "timeSeries"
        assert ds.requestUUID == "abc-123"
        assert ds.deployment == 1
        assert ds.subsite == "CE07SHSM" and ds.collection_method == "recovered_inst"
        n = len(ds.dimensions["obs"])
        assert ds.record_count == n
        assert ds.time_coverage_start.startswith("2019-05-01T00:00")
        time = ds.variables["time"]
        assert time.units == "seconds since 1900-01-01 0:0:0" and time.calendar == "gregorian"
        assert list(time.actual_range) == [time[0], time[-1]]
        for name, where in (("lat", LAT), ("lon", LON)):  # per record (issue 7's positions)
            assert ds.variables[name].dimensions == ("obs",)
            np.testing.assert_array_equal(ds.variables[name][:], np.full(n, where))
        assert ds.geospatial_vertical_max == DEPTH
        salinity = ds.variables["sea_water_practical_salinity"]
        assert salinity.units == "1" and salinity.standard_name == "sea_water_practical_salinity"
        assert salinity.dtype.kind == "f" and np.isnan(salinity._FillValue)
        assert salinity.coordinates == "time lat lon"
        assert salinity.provenance_function == "ion_functions.data.ctd_functions.ctd_pracsal"
        assert "sea_water_temperature" in salinity.ancillary_variables.split()
        assert salinity.filters()["zlib"] and salinity.filters()["shuffle"]
        raw = ds.variables["temperature"]
        assert raw.ooi_parameter_name == "temperature" and not hasattr(raw, "provenance_function")
        assert raw._FillValue == raw.dtype.type(-9999999)
    with xr.open_dataset(result.files[0]) as xds:  # xarray decodes the NTP time axis
        assert str(xds["time"].values[0]).startswith("2019-05-01T00:00:00")
        assert xds["sea_water_density"].attrs["units"] == "kg m-3"


def test_netcdf_passes_the_compliance_checker(ctd_netcdf, curated, tmp_path):
    _, result = ctd_netcdf
    for path in (p for p in result.files if p.suffix == ".nc"):
        failures = compliance_failures(path, tmp_path)
        assert "cf:1.8" not in failures, failures
        # ACDD wants a standard_name on every data variable; CF defines none for raw counts,
        # instrument timestamps or the deployment number, and we never invent one
        with netCDF4.Dataset(path) as ds:
            unnamed = {name for name, v in ds.variables.items() if not hasattr(v, "standard_name")}
        for failure in failures.get("acdd:1.3", []):
            name = failure.split('"')[1]
            assert failure.endswith("['standard_name']") and name in unnamed, failure


def test_optode_export_with_strings_and_external_inputs(demo_store, curated, export_settings, tmp_path):
    query = parse_query(stream_body(OPTODE), curated, export_settings)
    result = run_export(demo_store, curated, query, "netcdf", tmp_path, export_settings)
    plan, out = _oracle(demo_store, curated, export_settings, query)
    parts = [xr.open_dataset(p, decode_times=False) for p in sorted(result.files)]
    with xr.concat(parts, dim="obs", data_vars="all") as ds:
        oxygen = next(v for v in ds.data_vars if ds[v].attrs.get("ooi_parameter_id") == "PD14")
        np.testing.assert_array_equal(ds[oxygen].values, out["dissolved_oxygen"])
        assert "provenance_source_streams" in ds[oxygen].attrs
        strings = [v for v in ds.data_vars if ds[v].dtype.kind in "OUT"]
        assert strings, "the DCL timestamps are strings"
        for name in strings:
            source = ds[name].attrs["ooi_parameter_name"]  # compute() names by preload name
            assert ds[name].values.tolist() == out[source].tolist()
    for part in parts:
        part.close()
    for path in result.files:
        assert "cf:1.8" not in compliance_failures(path, tmp_path)


@pytest.mark.parametrize(("format_name", "delimiter"), [("csv", ","), ("tsv", "\t")])
def test_delimited_export(format_name, delimiter, demo_store, curated, export_settings, tmp_path):
    query = parse_query(stream_body(CTD, [SALINITY, DENSITY]), curated, export_settings)
    result = run_export(demo_store, curated, query, format_name,
                        tmp_path, export_settings.replace(QUERY_CHUNK_RECORDS=5000))
    _, out = _oracle(demo_store, curated, export_settings, query)
    assert [p.suffix for p in result.files] == [f".{format_name}"] * 2
    rows = []
    for path in result.files:
        with open(path, newline="") as handle:
            reader = csv.reader(handle, delimiter=delimiter)
            header = next(reader)
            rows.extend(reader)
    assert header == ["time (seconds since 1900-01-01 0:0:0)", "time_iso8601 (UTC)", "deployment",
                      "sea_water_practical_salinity (1)", "sea_water_density (kg m-3)",
                      "lat (degrees_north)", "lon (degrees_east)"]
    assert len(rows) == len(out.time)
    columns = list(zip(*rows, strict=True))
    np.testing.assert_array_equal(np.array(columns[0], dtype=float), out.time)
    assert columns[1][0] == "2019-05-01T00:00:00.510Z"
    for index, name in ((3, "practical_salinity"), (4, "density")):
        expected = out[name]
        got = np.array([float(v) if v else np.nan for v in columns[index]], dtype=expected.dtype)
        np.testing.assert_array_equal(got, expected)
    assert set(columns[5]) == {repr(LAT)}


def test_missing_values_are_empty_fields():
    from stream_engine.outputs.csv import _texts

    assert _texts(np.array([1.5, np.nan]), np.nan) == ["1.5", ""]
    assert _texts(np.array([np.float32(0.1), np.nan], dtype=np.float32), np.nan) == ["0.1", ""]
    assert _texts(np.array([7, -9999999], dtype=np.int32), -9999999) == ["7", ""]
    assert _texts(np.array(["a,b", ""], dtype=object), "") == ["a,b", ""]
    assert missing_mask(np.array(["a", ""]), "").tolist() == [False, True]


def test_no_records_in_range_is_not_found_and_leaves_nothing(demo_store, curated, export_settings, tmp_path):
    body = stream_body(CTD, start=3000000000.0, stop=3000000100.0)
    query = parse_query(body, curated, export_settings)
    with pytest.raises(NoDataInRange):
        run_export(demo_store, curated, query, "netcdf", tmp_path, export_settings)
    assert list(tmp_path.iterdir()) == []


def test_bad_requests_name_the_field(curated, export_settings):
    with pytest.raises(InvalidQuery) as caught:
        parse_query(stream_body(CTD, [14]), curated, export_settings)
    assert caught.value.field == "streams[0].parameters[0]"


def test_unknown_format(demo_store, curated, export_settings, tmp_path):
    query = parse_query(stream_body(CTD), curated, export_settings)
    with pytest.raises(BadRequest, match="unknown export format"):
        run_export(demo_store, curated, query, "xls", tmp_path, export_settings)


def test_provenance_file(ctd_netcdf):
    _, result = ctd_netcdf
    body = json.loads(result.files[-1].read_text())
    assert body["requestUUID"] == "abc-123"
    assert body["query_parameter_provenance"]["requested_streams"][0]["stream"] == CTD.stream
    computed = body["computed_provenance"]
    salinity = computed["calculations"]["practical_salinity"]
    assert salinity["function"] == "ion_functions.data.ctd_functions.ctd_pracsal"
    assert salinity["status"] == "ok"
    assert computed["deployments"] == [1, 2]
    events = body["instrument_provenance"][CTD.refdes]
    assert len(events) == 2
