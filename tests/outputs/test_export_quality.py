"""Quality in exports (in-process ``run_export`` on the demo mooring, ``/particles`` as reference).

* An exclusion annotation hides exactly its records in NetCDF, CSV and TSV exports as
  ``/particles`` does: a stream-wide one drops them, one naming parameters makes those values
  missing (NetCDF ``_FillValue``/NaN, CSV/TSV empty); other values are unchanged.
* A wildcard annotation applies to every stream it matches and no other.
* ``include_annotations`` writes ``<refdes>-<method>-<stream>_annotations.json`` beside the files.
* QARTOD (``run_qartod``) and legacy QC (``qcParameters``) columns are exported with the values
  ``/particles`` gives and the CF flag attributes DAP gives.
"""

from __future__ import annotations

import csv
import json

import netCDF4
import numpy as np
import orjson
import pytest
from conftest import compliance_failures
from webob import Request

from stream_engine import demo
from stream_engine.assets import NTP_UNIX_OFFSET
from stream_engine.config import load_settings
from stream_engine.engine.query import parse_query
from stream_engine.outputs.export import run_export
from stream_engine.preload import default_preload
from stream_engine.quality.annotations import load_annotations
from stream_engine.quality.qartod import FLAG_MEANINGS, load_qartod
from stream_engine.store import open_store
from stream_engine.web.app import create_app

DEP2 = demo.DEPLOYMENTS[1]
START, STOP = DEP2.start, DEP2.start + 6 * 3600.0
CUT = (START + 3600.0, START + 5400.0)          # CTD only, every parameter: records dropped
NULL = (START + 7200.0, START + 9000.0)         # the whole node, salinity only: values missing
HOST = (START + 10800.0, START + 12600.0)       # every recovered_host stream of the node
SALINITY, DENSITY = 13, 5
NAMES = ("sea_water_practical_salinity", "sea_water_density")
FORMATS = ("netcdf", "csv", "tsv")


def ms(ntp: float) -> float:
    return (ntp - NTP_UNIX_OFFSET) * 1000.0


def body(key, parameters=(), **options) -> dict:
    return {"streams": [{"subsite": key.subsite, "node": key.node, "sensor": key.sensor, "method": key.method,
                         "stream": key.stream, "parameters": list(parameters)}],
            "start": START, "stop": STOP, **options}


@pytest.fixture(scope="module")
def settings(tmp_path_factory):
    root = tmp_path_factory.mktemp("export_quality")
    settings = load_settings(environ={"STREAM_ENGINE_DATA_DIR": str(root / "data"),
                                      "STREAM_ENGINE_LOG_DIR": str(root / "logs"),
                                      "STREAM_ENGINE_ASYNC_DIR": str(root / "async")})
    with open_store(settings) as store:
        demo.fill_demo(store, default_preload(settings))
    return settings


def export(settings, request: dict, format_name: str, folder):
    preload = default_preload(settings)
    with open_store(settings) as store:
        return run_export(store, preload, parse_query(request, preload, settings), format_name, folder, settings)


def read_columns(files, names) -> dict[str, np.ndarray]:
    """``time`` and ``names`` of an export's data files, concatenated (missing -> NaN)."""
    parts: dict[str, list] = {name: [] for name in ("time", *names)}
    for path in files:
        if path.suffix == ".nc":
            with netCDF4.Dataset(path) as ds:
                ds.set_auto_mask(False)
                for name in parts:
                    parts[name].append(ds[name][:])
        elif path.suffix in (".csv", ".tsv"):
            with open(path, newline="") as handle:
                rows = list(csv.reader(handle, delimiter="," if path.suffix == ".csv" else "\t"))
            header = [h.split(" (")[0] for h in rows[0]]
            for name in parts:
                column = header.index(name)
                texts = [row[column] for row in rows[1:]]
                if name.endswith("_executed") and "qartod" in name:
                    parts[name].append(np.array(texts))
                else:
                    parts[name].append(np.array([float(t) if t else np.nan for t in texts]))
    return {name: np.concatenate(values) for name, values in parts.items()}


def particles(settings, request: dict):
    app = create_app(settings)
    try:
        response = Request.blank("/particles", method="POST", body=orjson.dumps(request),
                                 content_type="application/json").get_response(app)
        assert response.status_code == 200, response.body
        document = orjson.loads(response.body)
    finally:
        app.context.close()
    return document


def as_array(records, name) -> np.ndarray:
    values = [r[name] for r in records]
    return np.array(values) if values and isinstance(values[0], str) else \
        np.array([np.nan if v is None else v for v in values], dtype=np.float64)


@pytest.fixture(scope="module")
def annotated(settings, tmp_path_factory):
    """Exports of the three demo streams before and after storing the annotations: ``(before,
    after, ids)`` with ``before``/``after`` mapping (stream, format) to the files."""
    streams = {demo.CTD: [SALINITY, DENSITY], demo.OPTODE: [], demo.FLUOROMETER: []}
    root = tmp_path_factory.mktemp("annotated")
    before = {(key, f): export(settings, body(key, p), f, root / f"before-{key.stream}-{f}").files
              for key, p in streams.items() for f in FORMATS}
    with open_store(settings) as store:
        ids = load_annotations(store, [
            {"subsite": demo.SUBSITE, "node": demo.NODE, "sensor": demo.CTD.sensor, "method": None, "stream": None,
             "beginDT": ms(CUT[0]), "endDT": ms(CUT[1]), "annotation": "pump off", "exclusionFlag": True,
             "qcFlag": "fail", "parameters": []},
            {"subsite": demo.SUBSITE, "node": demo.NODE, "sensor": None, "method": None, "stream": None,
             "beginDT": ms(NULL[0]), "endDT": ms(NULL[1]), "annotation": "conductivity cell fouled",
             "exclusionFlag": True, "qcFlag": "suspect", "parameters": [SALINITY]},
            {"subsite": demo.SUBSITE, "beginDT": ms(START), "endDT": None, "annotation": "note only",
             "exclusionFlag": False},
            {"subsite": demo.SUBSITE, "node": demo.NODE, "sensor": None, "method": "recovered_host", "stream": None,
             "beginDT": ms(HOST[0]), "endDT": ms(HOST[1]), "annotation": "host logger clock wrong",
             "exclusionFlag": True},
            {"subsite": "CE02SHSM", "beginDT": ms(START), "annotation": "elsewhere", "exclusionFlag": True},
        ])
    after = {(key, f): export(settings, body(key, p, include_annotations=True), f,
                              root / f"after-{key.stream}-{f}").files
             for key, p in streams.items() for f in FORMATS}
    return before, after, ids


def inside(times: np.ndarray, span: tuple[float, float]) -> np.ndarray:
    return (times >= span[0]) & (times <= span[1])


@pytest.mark.parametrize("format_name", FORMATS)
def test_exclusions_hide_exactly_their_records(format_name, annotated, settings):
    before, after, _ = annotated
    files = [p for p in after[(demo.CTD, format_name)] if p.suffix != ".json"]
    got = read_columns(files, NAMES)
    plain = read_columns(before[(demo.CTD, format_name)], NAMES)
    cut = inside(plain["time"], CUT)
    assert 20 < cut.sum() < len(cut)
    np.testing.assert_array_equal(got["time"], plain["time"][~cut])  # dropped, nothing else
    nulled = inside(got["time"], NULL)
    assert nulled.sum() > 20
    salinity = got["sea_water_practical_salinity"]
    assert np.isnan(salinity[nulled]).all() and np.isfinite(salinity[~nulled]).all()
    np.testing.assert_array_equal(salinity[~nulled], plain["sea_water_practical_salinity"][~cut][~nulled])
    np.testing.assert_array_equal(got["sea_water_density"], plain["sea_water_density"][~cut])
    # exactly what /particles answers for the same request
    reference = particles(settings, body(demo.CTD, [SALINITY, DENSITY]))
    np.testing.assert_array_equal(got["time"], as_array(reference, "time"))
    for name in NAMES:
        np.testing.assert_array_equal(got[name].astype(np.float32), as_array(reference, name).astype(np.float32))


@pytest.mark.parametrize("format_name", FORMATS)
def test_wildcard_annotation_applies_to_every_matching_stream_and_no_other(format_name, annotated):
    before, after, _ = annotated
    for key in (demo.OPTODE, demo.FLUOROMETER):  # recovered_host: both match
        plain = read_columns(before[(key, format_name)], ())["time"]
        got = read_columns([p for p in after[(key, format_name)] if p.suffix != ".json"], ())["time"]
        hidden = inside(plain, HOST)
        assert hidden.sum() >= 6, key
        np.testing.assert_array_equal(got, plain[~hidden])
    ctd = read_columns([p for p in after[(demo.CTD, format_name)] if p.suffix != ".json"], ())["time"]
    ctd_before = read_columns(before[(demo.CTD, format_name)], ())["time"]
    assert inside(ctd_before, HOST).sum() > 20  # recovered_inst: untouched
    np.testing.assert_array_equal(ctd[inside(ctd, HOST)], ctd_before[inside(ctd_before, HOST)])


def test_annotation_file_beside_the_exports(annotated):
    _, after, ids = annotated
    for format_name in FORMATS:
        files = after[(demo.CTD, format_name)]
        (found,) = [p for p in files if p.suffix == ".json"]
        assert found.name == f"{demo.CTD.refdes}-{demo.CTD.method}-{demo.CTD.stream}_annotations.json"
        document = json.loads(found.read_text())
        assert [a["id"] for a in document["annotations"]] == ids[:3]
        assert document["annotations"][0]["annotation"] == "pump off"
    (optode,) = [p for p in after[(demo.OPTODE, "netcdf")] if p.suffix == ".json"]
    assert [a["id"] for a in json.loads(optode.read_text())["annotations"]] == [ids[1], ids[2], ids[3]]


def test_annotation_file_written_when_the_range_holds_no_data(settings, annotated, tmp_path):
    from stream_engine.errors import NoDataInRange

    _, _, ids = annotated
    empty = {**body(demo.CTD, [SALINITY], include_annotations=True), "start": CUT[0] + 1, "stop": CUT[1] - 1}
    with pytest.raises(NoDataInRange, match="excluded by annotations"):
        export(settings, empty, "netcdf", tmp_path)
    (found,) = tmp_path.iterdir()
    assert [a["id"] for a in json.loads(found.read_text())["annotations"]] == [ids[0], ids[2]]


# -- QARTOD and legacy QC columns -----------------------------------------------------------------

QC_NAME = "sea_water_practical_salinity"


def qc_records(low: float, high: float) -> list[dict]:
    refdes = {"subsite": demo.CTD.subsite, "node": demo.CTD.node, "sensor": demo.CTD.sensor}
    return [{"qcParameterPK": {"streamParameter": "practical_salinity", "qcId": "dataqc_globalrangetest_minmax",
                               "parameter": argument, "refDes": refdes}, "valueType": kind, "value": value}
            for argument, kind, value in (("dat", "VECTOR", "data"), ("dat_min", "FLOAT", str(low)),
                                          ("dat_max", "FLOAT", str(high)))]


@pytest.fixture(scope="module")
def flagged(settings, annotated, tmp_path_factory):
    """Salinity with QARTOD (stored record) and legacy QC (in the request): the request, the
    /particles answer and the exports by format."""
    plain = particles(settings, body(demo.CTD, [SALINITY]))
    values = as_array(plain, QC_NAME)
    low, high = (float(v) for v in np.nanpercentile(values, [10, 90]))
    config = {"qartod": {"gross_range_test": {"suspect_span": [low, high],
                                              "fail_span": [float(np.nanmin(values)) + 1e-3, float(np.nanmax(values))]},
                         "spike_test": {"suspect_threshold": 0.01, "fail_threshold": 0.05}}}
    with open_store(settings) as store:
        load_qartod(store, [{"refDes": f"{demo.CTD.subsite}-{demo.CTD.node}-{demo.CTD.sensor}", "stream": None,
                             "parameters": {"inp": "practical_salinity", "tinp": "time"},
                             "qcConfig": json.dumps(config)}])
    request = body(demo.CTD, [SALINITY], run_qartod=True, qcParameters=qc_records(low, high))
    reference = particles(settings, request)
    root = tmp_path_factory.mktemp("flagged")
    files = {f: export(settings, request, f, root / f).files for f in FORMATS}
    return reference, files


FLAG_COLUMNS = (f"{QC_NAME}_qartod_results", f"{QC_NAME}_qartod_executed", f"{QC_NAME}_qc_executed",
                f"{QC_NAME}_qc_results")


@pytest.mark.parametrize("format_name", FORMATS)
def test_flag_columns_equal_particles(format_name, flagged):
    reference, files = flagged
    got = read_columns(files[format_name], (QC_NAME, *FLAG_COLUMNS))
    np.testing.assert_array_equal(got["time"], as_array(reference, "time"))
    for name in FLAG_COLUMNS:
        expected = as_array(reference, name)
        np.testing.assert_array_equal(got[name], expected, err_msg=name)
    results = got[f"{QC_NAME}_qartod_results"]
    assert {1, 3, 4, 9} <= set(results.tolist())  # pass, suspect, fail, and the nulled salinity: missing
    assert set(got[f"{QC_NAME}_qc_results"].tolist()) == {0, 1} and set(got[f"{QC_NAME}_qc_executed"].tolist()) == {1}


def test_flag_variables_in_netcdf_carry_cf_flag_attributes(flagged):
    _, files = flagged
    with netCDF4.Dataset(files["netcdf"][0]) as ds:
        salinity = ds[QC_NAME]
        assert salinity.ancillary_variables.split()[-4:] == list(FLAG_COLUMNS)
        results = ds[f"{QC_NAME}_qartod_results"]
        assert results.dtype == np.int16  # CF-1.8 has no unsigned types: uint8 widened
        np.testing.assert_array_equal(results.flag_values, [1, 2, 3, 4, 9])
        assert results.flag_values.dtype == np.int16
        assert results.flag_meanings == FLAG_MEANINGS
        assert results.standard_name == f"{salinity.standard_name} status_flag"
        assert results.tests_executed == "qartod.gross_range_test, qartod.spike_test"
        assert results.coverage_content_type == "qualityInformation"
        executed = ds[f"{QC_NAME}_qartod_executed"]
        assert executed.dtype is str and executed.tests_executed == "qartod.gross_range_test, qartod.spike_test"
        for which in ("executed", "results"):
            qc = ds[f"{QC_NAME}_qc_{which}"]
            np.testing.assert_array_equal(qc.flag_masks, [1])
            assert qc.flag_masks.dtype == np.int16 and "dataqc_globalrangetest_minmax" in qc.comment


def test_flag_exports_pass_the_compliance_checker(flagged, tmp_path):
    _, files = flagged
    failures = compliance_failures(files["netcdf"][0], tmp_path)
    assert "cf:1.8" not in failures, failures
