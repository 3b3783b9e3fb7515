"""Loading the full upstream preload dictionary (../shared/ooi/preload)."""

from __future__ import annotations

import pytest

from stream_engine.config import load_settings
from stream_engine.errors import PreloadError
from stream_engine.preload import (
    Calibration,
    Choice,
    ParameterRef,
    ProductRef,
    default_preload,
    load_preload,
)

# Every problem of the March 2026 upstream snapshot, as the loader words it.
UPSTREAM_PROBLEMS = [
    "PFID128 adcp_earth_upward: args '[w]' is not a Python list of strings; read as ['w']",
    "PFID129 adcp_earth_error_velocity: args '[e]' is not a Python list of strings; read as ['e']",
    "PFID153 SALSURF_L2: args \"['cond, tC_sea', 'ztmpwat']\" is malformed; "
    "read as ['cond', 'tC_sea', 'ztmpwat']",
    "PD906 reference_designator: unknown value encoding ''; no fill value, no dtype",
    "PD909 seawater_pressure: map argument(s) offset not among the args of PFID36 "
    "ctd_sbe16plus_preswat (p0, t0, ptempa0, ptempa1, ptempa2, ptca0, ptca1, ptca2, ptcb0, "
    "ptcb1, ptcb2, pa0, pa1, pa2)",
    "PD930 pco2w_thermistor_temperature: map argument(s) sami_bits not among the args of PFID43 "
    "pco2_thermistor (traw)",
    "PD938 phsen_thermistor_temperature: map argument(s) sami_bits not among the args of PFID47 "
    "ph_thermistor (traw)",
    "PD1072 barometric_pressure_l1: map argument(s) barpres not among the args of PFID68 trhph_ "
    "(barpress)",
    "PD1085 vel3d_c_eastward_turbulent_velocity: map argument(s) status_code not among the args "
    "of PFID55 nortek_mag_corr_east (u, v, lat, lon, timestamp)",
    "PD1086 vel3d_c_northward_turbulent_velocity: map argument(s) status_code not among the args "
    "of PFID56 nortek_mag_corr_north (u, v, lat, lon, timestamp)",
    "PD1087 vel3d_c_upward_turbulent_velocity: map argument(s) status_code not among the args of "
    "PFID58 nortek_up_vel (w)",
    "PD2658 hc_data: unknown value encoding ''; no fill value, no dtype",
    "PD2706 raw: unknown value encoding ''; no fill value, no dtype",
    "PD2750 sci_abs_oxygen: map argument(s) sref not among the args of PFID61 "
    "do2_salinity_correction (DO, P, T, SP, lat, lon)",
    "PD3358 adcps_jln_recovered_eastward_beam_seawater_velocity: map argument(s) z not among the "
    "args of PFID28 adcp_beam_eastward (b1, b2, b3, b4, pg1, pg2, pg3, pg4, h, p, r, vf, lat, "
    "lon, dt)",
    "PD3359 adcps_jln_recovered_northward_beam_seawater_velocity: map argument(s) z not among the "
    "args of PFID29 adcp_beam_northward (b1, b2, b3, b4, pg1, pg2, pg3, pg4, h, p, r, vf, lat, "
    "lon, dt)",
    "PD3657 botsflu_meandepth: map argument(s) predtide not among the args of PFID181 "
    "prs_botsflu_meandepth (timestamp, botpres)",
    "PD3658 botsflu_5minrate: map argument(s) predtide not among the args of PFID182 "
    "prs_botsflu_5minrate (timestamp, botpres)",
    "PD3659 botsflu_10minrate: map argument(s) predtide not among the args of PFID183 "
    "prs_botsflu_10minrate (timestamp, botpres)",
    "BinSizes.csv line 398: stream 'presf_abc_tide_measurement_recovered' bin size '' is not a "
    "positive whole number of minutes; using the default 1440",
    "BinSizes.csv line 399: stream 'presf_abc_wave_burst_recovered' bin size '' is not a "
    "positive whole number of minutes; using the default 1440",
    "BinSizes.csv line 453: stream 'vel3d_cd_dcl_system_data' listed again with 1440 minutes "
    "(was 20160); the last row wins",
    "BinSizes.csv line 457: stream 'vel3d_cd_dcl_velocity_data' listed again with 720 minutes "
    "(was 20160); the last row wins",
    "DICT792 plims_a_hdr_engineering: names parameter PD82455, which does not exist; left out",
]


def test_counts(upstream):
    assert len(upstream.parameters) == 3781
    assert len(upstream.streams) == 572
    assert len(upstream.functions) == 219
    assert len(upstream.nominal_depths) == 926


def test_exact_problems_of_the_real_data(upstream):
    assert upstream.problems == UPSTREAM_PROBLEMS


def test_every_function_map_parses(upstream):
    mapped = [p for p in upstream.parameters.values() if p.function_id is not None]
    assert len(mapped) == 312
    assert all(p.function_map for p in mapped)
    assert not [m for m in upstream.problems if "does not parse" in m]


def test_every_stream_parameter_exists(upstream):
    for stream in upstream.streams.values():
        assert all(pid in upstream.parameters for pid in stream.parameter_ids), stream.name
    assert len(upstream.stream_parameters("plims_a_hdr_engineering")) == len(
        upstream.stream("plims_a_hdr_engineering").parameter_ids
    )


def test_time_parameter(upstream):
    time = upstream.parameter("PD7")
    assert time.name == "time"
    assert time.value_encoding == "float64"
    assert time.units == "seconds since 1900-01-01"
    assert upstream.parameter(7) is time


def test_parameter_fields(upstream):
    salinity = upstream.parameter("PD13")
    assert salinity.name == "practical_salinity"
    assert salinity.netcdf_name == "sea_water_practical_salinity"
    assert salinity.data_product_identifier == "PRACSAL_L2"
    assert salinity.function_id == 26
    assert salinity.function_map == {
        "c": ProductRef("CONDWAT_L1"),
        "t": ProductRef("TEMPWAT_L1"),
        "p": ProductRef("PRESWAT_L1"),
    }
    assert upstream.function(26).qualified_name == "ion_functions.data.ctd_functions.ctd_pracsal"
    assert upstream.function(26).args == ("c", "t", "p")
    assert upstream.parameter("PD14").function_map["SP"] == Choice(
        (ProductRef("PRACSAL_L2"), ProductRef("SALSURF_L2"))
    )
    assert upstream.parameter("PD908").function_map["a0"] == Calibration("CC_a0")
    assert upstream.parameter("PD908").function_map["t0"] == ParameterRef(193)
    assert {p.id for p in upstream.by_dpi("PRACSAL_L2")} >= {13}


def test_dimensions_and_array_parameters(upstream):
    spectra = [p for p in upstream.parameters.values() if p.dimensions == ("spectra",)]
    assert len(spectra) == 4
    # 178 array<quantity>, plus PD906 "array" and PD2658 "array<>"
    assert sum(1 for p in upstream.parameters.values() if p.is_array) == 180


def test_bin_sizes(upstream):
    assert upstream.stream("adcp_pd0_beam_parsed").bin_minutes == 60
    assert upstream.stream("adcp_pd0_beam_parsed").bin_seconds == 3600
    assert upstream.stream("ctdbp_no_sample").bin_minutes == 360
    assert upstream.stream("vel3d_cd_dcl_velocity_data").bin_minutes == 720  # last row wins
    assert upstream.stream("presf_abc_tide_measurement_recovered").bin_minutes == 1440


def test_stream_quirks(upstream):
    hourly = upstream.stream("metbk_hourly")
    assert hourly.is_virtual
    assert hourly.source_streams == ("metbk_a_dcl_instrument", "metbk_a_dcl_instrument_recovered")
    assert hourly.temporal_parameter == 3074
    assert upstream.stream("cspp_eng_dcl_modem").temporal_parameter == 7  # blank cell
    assert upstream.stream("turbd_a_instrument").parameter_ids[-3:] == (1138, 1139, 8136)
    assert upstream.stream("ctdbp_no_sample").stream_type == "Science"


def test_function_args_quirks(upstream):
    assert upstream.function(128).args == ("w",)
    assert upstream.function(153).args == ("cond", "tC_sea", "ztmpwat")
    assert upstream.function(1).function_type == "NumexprFunction"
    assert upstream.function(1).function == "(T / 10000) - 10"


def test_nominal_depths(upstream):
    assert upstream.nominal_depths["CE01ISSM-RID16-03-CTDBPC000"] == 7.0
    assert upstream.nominal_depths["CE02SHBP-LJ01D"] == 80.0


def test_missing_folder_and_file_raise_preload_error(tmp_path):
    with pytest.raises(PreloadError, match="does not exist"):
        load_preload(tmp_path / "nowhere")
    with pytest.raises(PreloadError, match="ParameterFunctions.csv"):
        load_preload(tmp_path)


def test_default_preload_is_loaded_once_per_path(curated_dir):
    settings = load_settings().replace(PRELOAD=str(curated_dir))
    first = default_preload(settings)
    assert default_preload(settings) is first
    assert "ctdbp_no_sample" in first.streams
