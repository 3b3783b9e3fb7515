"""Attributes of the stream datasets as clients see them: CF/ACDD globals, stream identity,
full-precision numbers, escaped quotes, typed fill values and product provenance."""

from __future__ import annotations

import numpy as np
import pytest
from stream_servers import GLIDER, METBK, dap_url

from dap_handlers.stream_dataset import stream_dataset
from stream_engine import demo


@pytest.fixture(scope="module")
def optode(live):
    netCDF4 = pytest.importorskip("netCDF4")
    with netCDF4.Dataset(dap_url(live.url, demo.OPTODE)) as ds:
        yield ds


def test_globals(optode, engine_store):
    coverage = engine_store.coverage(demo.OPTODE)
    assert optode.Conventions == "CF-1.8, ACDD-1.3"
    assert optode.featureType == "timeSeries" and optode.cdm_data_type == "TimeSeries"
    assert optode.id == "CE07SHSM-MFD37-03-DOSTAD000-recovered_host-dosta_abcdjm_dcl_instrument_recovered"
    assert optode.naming_authority == "org.oceanobservatories"
    assert (optode.subsite, optode.node, optode.sensor) == ("CE07SHSM", "MFD37", "03-DOSTAD000")
    assert optode.collection_method == "recovered_host"
    assert optode.stream == "dosta_abcdjm_dcl_instrument_recovered"
    assert optode.refdes == "CE07SHSM-MFD37-03-DOSTAD000"
    assert optode.record_count == coverage.count == 40320
    assert optode.time_coverage_start == "2019-05-01T00:00:20.698Z"
    assert optode.time_coverage_end == "2019-06-02T23:59:20.737Z"
    assert list(optode.deployments) == [1, 2]
    # full precision: %.6g would have sent 46.9859 and -124.565
    assert optode.geospatial_lat_min == demo.LAT == 46.98589
    assert optode.geospatial_lon_max == demo.LON == -124.5649
    assert optode.geospatial_vertical_max == demo.DEPTH
    assert optode.summary.startswith(
        'Stream "dosta_abcdjm_dcl_instrument_recovered" of instrument CE07SHSM-MFD37-03-DOSTAD000,'
        ' collection method "recovered_host"'
    )
    assert optode.parameters_not_stored == "internal_timestamp"
    np.testing.assert_array_equal(optode["time"].actual_range, [coverage.first, coverage.last])
    assert optode["time"].calendar == "gregorian" and optode["time"].standard_name == "time"


def test_variable_metadata_and_typed_fill(optode):
    oxygen = optode["dissolved_oxygen"]
    assert oxygen.units == "umol kg-1"
    assert oxygen.standard_name == "moles_of_oxygen_per_unit_mass_in_sea_water"
    assert oxygen.long_name == "Dissolved Oxygen Concentration from Stable Response DO Instrument"
    assert oxygen.data_product_identifier == "DOXYGEN_L2" and oxygen.data_level == "L2"
    assert oxygen.ooi_parameter_id == "PD14"
    assert np.isnan(oxygen._FillValue) and oxygen._FillValue.dtype == np.float32
    number = optode["product_number"]
    # netCDF-C declares UInt16 as short with _Unsigned; the fill is typed like the variable
    assert number._Unsigned == "true" and number[:5].dtype == np.uint16
    assert number._FillValue.dtype == number.dtype and number._FillValue == 0
    assert "standard_name" not in optode["blue_phase"].ncattrs()  # empty in the dictionary
    assert "_FillValue" not in optode["serial_number"].ncattrs()


def test_provenance_of_a_cross_stream_product(optode):
    oxygen = optode["dissolved_oxygen"]
    assert oxygen.provenance_function == "ion_functions.data.do2_functions.do2_salinity_correction"
    assert oxygen.provenance_function_type == "PythonFunction"
    assert oxygen.provenance_version == "1.0"
    assert oxygen.provenance_source_streams.split() == [demo.OPTODE.path, demo.CTD.path]
    assert oxygen.provenance_calibrations.split() == ["CC_conc_coef", "CC_csv", "CC_lat", "CC_lon"]
    inputs = oxygen.provenance_inputs.split("; ")
    assert inputs[0] == "DO: dosta_abcdjm_cspp_tc_oxygen (product of this stream, dpi_DOCONCS_L1)"
    assert any(i.startswith(f"SP: practical_salinity from {demo.CTD.path} (dpi_PRACSAL_L2, linear")
               for i in inputs)
    assert "lat: CC_lat (deployment location)" in inputs


def test_unavailable_products_are_named_not_served(engine_store, curated, engine_settings,
                                                   optional_samples):
    if optional_samples is None:
        pytest.skip("OOI samples not available")
    dataset = stream_dataset(engine_store, curated, METBK, settings=engine_settings)
    # this store has no VELPT beside the met buoy: no currents
    assert "met_current_speed" not in dataset
    assert "met_relwind_speed" in dataset  # without currents, the wind itself
    entries = dataset.attributes["unavailable_parameters"].split("; ")
    assert any(e.startswith("met_current_speed (PD") and "no stream provides PD1154 near" in e
               for e in entries)
    glider = stream_dataset(engine_store, curated, GLIDER, settings=engine_settings)
    assert "sea_water_practical_salinity" not in glider
    assert any(e.startswith("practical_salinity (PD13): ") for e in
               glider.attributes["unavailable_parameters"].split("; "))
    assert "sci_water_cond" in glider.attributes["parameters_not_stored"].split()


def test_precise_time_range_of_a_sample(live, engine_store, optional_samples):
    if optional_samples is None:
        pytest.skip("OOI samples not available")
    netCDF4 = pytest.importorskip("netCDF4")
    coverage = engine_store.coverage(GLIDER)
    with netCDF4.Dataset(dap_url(live.url, GLIDER)) as ds:
        first, last = ds["time"].actual_range
        assert (first, last) == (coverage.first, coverage.last) == (3735367200.80087, 3735388799.17905)
        assert ds["sea_water_pressure"].ooi_parameter_name == "sci_water_pressure_dbar"
        assert ds["sea_water_pressure"].provenance_function == (
            "ion_functions.data.ctd_functions.ctd_glider_preswat")
