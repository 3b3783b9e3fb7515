"""Ingest rules on small generated files: identity, dtype conversion, time units, bad input."""

from __future__ import annotations

from pathlib import Path

import netCDF4
import numpy as np
import pytest

from stream_engine.errors import IngestError
from stream_engine.ingest import ingest_file, ntp_offset
from stream_engine.store.base import StreamKey

CTD = StreamKey("CE07SHSM", "MFD37", "03-CTDBPC000", "recovered_inst", "ctdbp_cdef_instrument_recovered")
T0 = 3786825600.0  # 2020-01-01T00:00:00Z in NTP seconds


def write_nc(path: Path, variables: dict, *, attrs: dict | None = None, time_units: str | None = None) -> Path:
    """A small OOI-layout file; ``variables`` maps name to array (char arrays for strings)."""
    identity = {"subsite": CTD.subsite, "node": CTD.node, "sensor": CTD.sensor,
                "collection_method": CTD.method, "stream": CTD.stream}
    with netCDF4.Dataset(path, "w") as ds:
        ds.setncatts(identity if attrs is None else attrs)
        n = len(next(iter(variables.values())))
        ds.createDimension("obs", n)
        for name, values in variables.items():
            values = np.asarray(values)
            dims: tuple[str, ...] = ("obs",)
            if values.dtype.kind == "U":
                width = max(1, values.dtype.itemsize // 4)
                ds.createDimension(f"string{width}_{name}", width)
                values = netCDF4.stringtochar(values.astype(f"S{width}"))
                dims = ("obs", f"string{width}_{name}")
            elif values.ndim == 2:
                ds.createDimension(f"{name}_dim", values.shape[1])
                dims = ("obs", f"{name}_dim")
            var = ds.createVariable(name, values.dtype, dims)
            if name == "time" and time_units:
                var.units = time_units
            var[:] = values
    return path


def ctd_columns(n: int = 4) -> dict:
    return {
        "time": T0 + np.arange(n) * 900.0,
        "deployment": np.full(n, 2, dtype=np.int32),
        "temperature": np.arange(n, dtype=np.float64) + 512000.0,  # integral float64 -> int32
        "conductivity": np.arange(n, dtype=np.int32) + 1_400_000,
        "pressure": np.arange(n, dtype=np.int64) + 600_000,  # int64 in range -> int32
        "pressure_temp": np.arange(n, dtype=np.int16) + 1000,  # widening
        "preferred_timestamp": np.array(["port_timestamp"] * n),
        "sea_water_temperature": np.linspace(10, 11, n).astype(np.float32),  # a product
        "mystery": np.zeros(n),  # not in the dictionary
    }


def test_conversions_follow_the_dictionary(tmp_path: Path, store, preload) -> None:
    cols = ctd_columns()
    cols["temperature"][1] = np.nan
    report = ingest_file(store, preload, write_nc(tmp_path / "ctd.nc", cols))
    assert report.key == CTD
    assert (report.records, report.inserted, report.replaced) == (4, 4, 0)
    assert set(report.dropped) == {"sea_water_temperature", "mystery"}
    info = store.columns(CTD)
    assert {k: v.dtype for k, v in info.items()} == {
        "time": "<f8", "deployment": "<i4", "temperature": "<i4", "conductivity": "<i4",
        "pressure": "<i4", "pressure_temp": "<i4", "preferred_timestamp": "<U",
    }
    data = store.read(CTD)
    assert data["temperature"].tolist() == [512000, -9999999, 512002, 512003]  # NaN -> PD193 fill
    assert data["pressure"].tolist() == [600000, 600001, 600002, 600003]
    assert data["preferred_timestamp"].tolist() == ["port_timestamp"] * 4
    assert data["deployment"].tolist() == [2] * 4
    assert data["time"].tolist() == [T0, T0 + 900, T0 + 1800, T0 + 2700]


def test_overrides_replace_and_supply_identity(tmp_path: Path, store, preload) -> None:
    path = write_nc(tmp_path / "anon.nc", ctd_columns(), attrs={"subsite": "CE07SHSM", "node": "XXXXX"})
    with pytest.raises(IngestError, match="--sensor") as info:
        ingest_file(store, preload, path)
    assert "anon.nc" in str(info.value)
    report = ingest_file(store, preload, path, overrides={
        "node": "MFD37", "sensor": "03-CTDBPC000", "method": "recovered_inst", "stream": CTD.stream,
    })
    assert report.key == CTD
    with pytest.raises(IngestError, match="unknown override"):
        ingest_file(store, preload, path, overrides={"collection": "x"})


def test_float64_values_float32_cannot_hold_keep_float64(tmp_path: Path, store, preload) -> None:
    key = StreamKey("CE07SHSM", "MFD37", "03-DOSTAD000", "recovered_host", "dosta_abcdjm_dcl_instrument_recovered")
    attrs = {"subsite": key.subsite, "node": key.node, "sensor": key.sensor,
             "collection_method": key.method, "stream": key.stream}
    phase = np.array([30.1, 31.2, 32.3])
    ingest_file(store, preload, write_nc(tmp_path / "a.nc", {"time": T0 + np.arange(3.0), "calibrated_phase": phase,
                                                              "optode_temperature": np.array([10.5, 10.25, 10.0])}, attrs=attrs))
    info = store.columns(key)
    assert info["calibrated_phase"].dtype == "<f8"  # 30.1 is not a float32: nothing is lost
    assert info["optode_temperature"].dtype == "<f4"  # exactly representable: dictionary type
    assert store.read(key, ["calibrated_phase"])["calibrated_phase"].view(np.uint64).tolist() == phase.view(np.uint64).tolist()
    later = {"time": T0 + 10 + np.arange(2.0), "calibrated_phase": np.array([1.5, 2.5], dtype=np.float32)}
    ingest_file(store, preload, write_nc(tmp_path / "b.nc", later, attrs=attrs))
    assert store.read(key, ["calibrated_phase"])["calibrated_phase"].tolist() == [30.1, 31.2, 32.3, 1.5, 2.5]
    # a float64 value that float32 cannot hold, into an int parameter: refused
    bad = {"time": T0 + np.arange(2.0), "product_number": np.array([4831.0, 4831.5])}
    with pytest.raises(IngestError, match="product_number.*fractional"):
        ingest_file(store, preload, write_nc(tmp_path / "c.nc", bad, attrs=attrs))


def test_time_units_become_ntp(tmp_path: Path, store, preload) -> None:
    assert ntp_offset("seconds since 1900-01-01 0:0:0") == (1.0, 0.0)
    assert ntp_offset("days since 1970-01-01") == (86400.0, 2208988800.0)
    assert ntp_offset("furlongs since 1970-01-01") is None
    cols = ctd_columns(3)
    cols["time"] = np.array([0.0, 60.0, 120.5])
    ingest_file(store, preload, write_nc(tmp_path / "t.nc", cols, time_units="seconds since 2020-01-01 00:00:00"))
    assert store.read(CTD)["time"].tolist() == [T0, T0 + 60, T0 + 120.5]


def test_reingest_is_unchanged_and_writes_nothing(tmp_path: Path, store, preload) -> None:
    path = write_nc(tmp_path / "ctd.nc", ctd_columns())
    first = ingest_file(store, preload, path)
    assert (first.inserted, first.replaced, first.unchanged) == (4, 0, 0)
    token = store.change_token()
    again = ingest_file(store, preload, path)
    assert (again.inserted, again.replaced, again.unchanged) == (0, 0, 4)
    assert store.change_token() == token
    assert store.coverage(CTD).count == 4


def test_reingest_with_one_changed_value_replaces_one(tmp_path: Path, store, preload) -> None:
    ingest_file(store, preload, write_nc(tmp_path / "ctd.nc", ctd_columns()))
    cols = ctd_columns()
    cols["conductivity"][2] += 7
    again = ingest_file(store, preload, write_nc(tmp_path / "ctd2.nc", cols))
    assert (again.inserted, again.replaced, again.unchanged) == (0, 1, 3)
    assert store.read(CTD, ["conductivity"])["conductivity"].tolist() == [1_400_000, 1_400_001, 1_400_009, 1_400_003]


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("not_netcdf", "not a NetCDF file"),
        ("no_identity", "pass --subsite"),
        ("unknown_stream", "stream 'no_such_stream' is not in the preload"),
        ("no_time", "has no 'time' variable"),
        ("nan_time", "'time' has 1 missing or fill values"),
        ("fractional", "'temperature'.*fractional"),
        ("out_of_range", "'pressure'.*outside the int32 range"),
        ("text_for_number", "'conductivity'.*is text"),
        ("scalar_as_array", "'temperature' has dimensions"),
        ("empty", "has no records"),
    ],
)
def test_bad_files_store_nothing(tmp_path: Path, store, preload, case: str, message: str) -> None:
    path = tmp_path / f"{case}.nc"
    cols = ctd_columns()
    attrs = None
    if case == "not_netcdf":
        path.write_text("time,temperature\n1,2\n")
    else:
        if case == "no_identity":
            attrs = {}
        elif case == "unknown_stream":
            attrs = {"subsite": "A", "node": "B", "sensor": "C", "collection_method": "streamed", "stream": "no_such_stream"}
        elif case == "no_time":
            del cols["time"]
        elif case == "nan_time":
            cols["time"][2] = np.nan
        elif case == "fractional":
            cols["temperature"][3] = 512000.25
        elif case == "out_of_range":
            cols["pressure"][0] = 2**40
        elif case == "text_for_number":
            cols["conductivity"] = np.array(["a", "b", "c", "d"])
        elif case == "scalar_as_array":
            cols["temperature"] = np.ones((4, 3))
        elif case == "empty":
            cols = {"time": np.zeros(0), "temperature": np.zeros(0)}
        write_nc(path, cols, attrs=attrs)
    with pytest.raises(IngestError, match=message) as info:
        ingest_file(store, preload, path)
    assert path.name in str(info.value)
    assert store.streams() == []


def test_missing_file(tmp_path: Path, store, preload) -> None:
    with pytest.raises(IngestError, match="no such file"):
        ingest_file(store, preload, tmp_path / "absent.nc")
