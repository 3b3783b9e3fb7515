"""Our curated dictionary (preload_database/): complete, consistent and reproducible."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from stream_engine.preload import (
    Choice,
    ParameterRef,
    ProductRef,
    StreamParameterRef,
    load_preload,
)

REQUIRED_STREAMS = [
    "ctdbp_cdef_instrument_recovered",
    "dosta_abcdjm_dcl_instrument_recovered",
    "flort_dj_dcl_instrument_recovered",
    "ctdbp_no_sample",
    "ctdmo_ghqr_sio_mule_instrument",
    "ctdmo_ghqr_instrument_recovered",
    "ctdpf_ckl_wfp_instrument",
    "ctdpf_ckl_wfp_instrument_recovered",
    "ctdgv_m_glider_instrument",
    "ctdgv_m_glider_instrument_recovered",
    "dosta_abcdjm_dcl_instrument",
    "dosta_abcdjm_cspp_instrument_recovered",
    "dosta_abcdjm_glider_instrument",
    "dosta_abcdjm_glider_recovered",
    "flort_sample",
    "flort_dj_dcl_instrument",
    "flort_m_glider_instrument",
    "flort_m_glider_recovered",
    "parad_m_glider_instrument",
    "parad_m_glider_recovered",
    "parad_k__stc_imodem_instrument",
    "glider_gps_position",
    "metbk_hourly",
]


def _curate_module(curated_dir: Path):
    spec = importlib.util.spec_from_file_location("curate", curated_dir / "curate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_loads_without_problems(curated):
    assert curated.problems == []
    assert len(curated.streams) == 35
    assert len(curated.parameters) == 337
    assert len(curated.functions) == 76


@pytest.mark.parametrize("name", REQUIRED_STREAMS)
def test_contains_issue_and_demo_streams(curated, name):
    assert name in curated.streams


def test_contains_the_streams_of_every_sample_file(curated, samples_dir):
    import netCDF4

    names = set()
    for path in sorted(samples_dir.glob("*.nc")):
        with netCDF4.Dataset(path) as ds:
            names.add(ds.getncattr("stream") if "stream" in ds.ncattrs() else path.stem)
    assert len(names) == 13
    assert names <= set(curated.streams)


def test_every_reference_resolves(curated):
    def options(source):
        return source.options if isinstance(source, Choice) else (source,)

    for stream in curated.streams.values():
        for pid in stream.parameter_ids:
            parameter = curated.parameters[pid]
            if parameter.function_id is None:
                continue
            function = curated.function(parameter.function_id)
            assert set(parameter.function_map) <= set(function.args), parameter.pd
            for source in parameter.function_map.values():
                for option in options(source):
                    if isinstance(option, ParameterRef):
                        assert option.id in curated.parameters
                    elif isinstance(option, ProductRef):
                        assert curated.by_dpi(option.dpi), option.dpi
                    elif isinstance(option, StreamParameterRef):
                        assert option.id in curated.stream(option.stream).parameter_ids


def test_products_of_the_ctd_family(curated):
    ctd = {p.name: p for p in curated.stream_parameters("ctdbp_cdef_instrument_recovered")}
    assert ctd["practical_salinity"].function_id == 26
    assert curated.function(26).function == "ctd_pracsal"
    assert {p.id for p in curated.by_dpi("PRACSAL_L2")} >= {13}
    oxygen = curated.parameter("PD14")
    assert curated.function(oxygen.function_id).args[-1] == "sref"  # curated correction


def test_bin_sizes_and_depths(curated):
    assert curated.stream("ctdbp_no_sample").bin_minutes == 360
    assert curated.stream("adcp_velocity_beam").bin_minutes == 180
    assert curated.stream("ctdbp_cdef_instrument_recovered").bin_minutes == 1440
    assert curated.nominal_depths["CE01ISSM-RID16-03-CTDBPC000"] == 7.0
    assert "CE01ISSM-RID16-07-NUTNRB000" in curated.nominal_depths
    assert "CE01ISSM-MFD35-05-PCO2WB000" not in curated.nominal_depths


def test_regenerating_gives_the_same_files(curated_dir, upstream_dir, tmp_path, capsys):
    curate = _curate_module(curated_dir)
    summary = curate.curate(upstream_dir, curate.STREAMS, tmp_path)
    assert "35 streams, 337 parameters, 76 functions" in summary
    for name in (
        "ParameterDefs.csv",
        "ParameterDictionary.csv",
        "ParameterFunctions.csv",
        "BinSizes.csv",
        "nominal_depths.csv",
    ):
        assert (tmp_path / name).read_bytes() == (curated_dir / name).read_bytes(), name
    assert "corrected: PFID153 args" in capsys.readouterr().out


def test_curate_skips_unknown_streams(curated_dir, upstream_dir, tmp_path, capsys):
    curate = _curate_module(curated_dir)
    summary = curate.curate(upstream_dir, ["glider_gps_position", "no_such_stream"], tmp_path)
    assert "skipped: stream 'no_such_stream'" in capsys.readouterr().err
    assert summary.startswith(f"wrote {tmp_path}: 1 streams, 12 parameters, 0 functions")
    written = load_preload(tmp_path)
    assert written.problems == []
    assert list(written.streams) == ["glider_gps_position"]
