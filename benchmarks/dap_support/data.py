"""The benchmark's CTD stream: raw SBE 16plus counts plus their products, as an OOI NetCDF4 file.

The stream is the demo CTD (``CE07SHSM-MFD37-03-CTDBPC000``, ``recovered_inst``,
``ctdbp_cdef_instrument_recovered``) sampled at 1 Hz over two deployments that split the
records in half, five days apart, with the demo's per-deployment SBE 16plus calibrations. The
physical signal (tide, daily cycle, noise) becomes raw counts through
:func:`stream_engine.demo.ctd_counts`; the products are then computed from those counts with the
engine's own algorithms (``stream_engine.functions.ctd``) and stored as float32, the preload value
encoding. pydap serves this file as it is; ``stream-engine ingest`` drops the products and keeps
the raw columns.

Generation runs in blocks of ``BLOCK`` records written straight into the file, so memory stays
bounded whatever the record count.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from stream_engine import demo
from stream_engine.assets import ntp_to_unix_ms
from stream_engine.functions import ctd
from stream_engine.store.base import StreamKey

KEY: StreamKey = demo.CTD
START = 3_765_744_000.0  # 2019-05-01T00:00:00Z, NTP seconds
GAP = 5 * 86400.0
BLOCK = 1_000_000
NTP_2000 = 3_155_673_600.0

#: Products written into the file: netcdf name -> (units, long name).
PRODUCTS = {
    "sea_water_temperature": ("degrees_Celsius", "Seawater Temperature"),
    "sea_water_pressure": ("dbar", "Seawater Pressure"),
    "sea_water_electrical_conductivity": ("S m-1", "Seawater Electrical Conductivity"),
    "sea_water_practical_salinity": ("1", "Seawater Practical Salinity"),
    "sea_water_density": ("kg m-3", "Seawater Density"),
}
#: Raw columns written into the file: name -> (dtype, units).
RAW = {
    "time": ("f8", "seconds since 1900-01-01 0:0:0"),
    "deployment": ("i4", "1"),
    "internal_timestamp": ("f8", "seconds since 1900-01-01 0:0:0"),
    "driver_timestamp": ("f8", "seconds since 1900-01-01 0:0:0"),
    "ingestion_timestamp": ("f8", "seconds since 1900-01-01 0:0:0"),
    "ctd_time": ("i4", "seconds since 2000-01-01"),
    "temperature": ("i4", "counts"),
    "conductivity": ("i4", "counts"),
    "pressure": ("i4", "counts"),
    "pressure_temp": ("i4", "counts"),
}
INT_FILL = np.int32(-9999999)


@dataclass(frozen=True)
class Deployment:
    """One deployment of the generated stream: records ``[first, first + count)``."""

    number: int
    first: int
    count: int
    start: float

    @property
    def stop(self) -> float:
        """End of the deployment (NTP seconds), one second after its last record."""
        return self.start + self.count + 1.0


def deployments(records: int) -> tuple[Deployment, Deployment]:
    """Two deployments splitting ``records`` in half at 1 Hz, ``GAP`` seconds apart."""
    if records < 2:
        raise ValueError(f"records must be at least 2, got {records!r}")
    first = records // 2
    one = Deployment(1, 0, first, START)
    two = Deployment(2, first, records - first, one.stop + GAP)
    return one, two


def record_bytes() -> int:
    """Bytes per record of every variable in the file (raw and products)."""
    return sum(np.dtype(dt).itemsize for dt, _ in RAW.values()) + 4 * len(PRODUCTS)


def _ocean(t: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    hours = (t - START) / 3600.0
    m2 = np.sin(2 * np.pi * hours / 12.4206)
    day = np.sin(2 * np.pi * hours / 24.0 - 1.2)
    slow = np.sin(2 * np.pi * hours / (9.3 * 24.0))
    n = t.shape
    temp = 10.6 + 1.1 * m2 + 0.35 * day + 0.6 * slow + rng.normal(0.0, 0.02, n)
    salt = 33.62 - 0.06 * m2 + 0.03 * slow + rng.normal(0.0, 0.004, n)
    pres = 86.2 + 0.95 * m2 + rng.normal(0.0, 0.01, n)
    return temp, salt, pres


def products(raw: dict[str, np.ndarray], cal: dict[str, float]) -> dict[str, np.ndarray]:
    """The five CTD products (float32) from raw counts and one deployment's calibration."""
    c = {k[3:]: v for k, v in cal.items()}
    t1 = ctd.ctd_sbe16plus_tempwat(raw["temperature"], c["a0"], c["a1"], c["a2"], c["a3"])
    p1 = ctd.ctd_sbe16plus_preswat(
        raw["pressure"], raw["pressure_temp"], c["ptempa0"], c["ptempa1"], c["ptempa2"],
        c["ptca0"], c["ptca1"], c["ptca2"], c["ptcb0"], c["ptcb1"], c["ptcb2"],
        c["pa0"], c["pa1"], c["pa2"],
    )
    c1 = ctd.ctd_sbe16plus_condwat(
        raw["conductivity"], t1, p1, c["g"], c["h"], c["i"], c["j"], c["cpcor"], c["ctcor"]
    )
    sp = ctd.ctd_pracsal(c1, t1, p1)
    rho = ctd.ctd_density(sp, t1, p1, demo.LAT, demo.LON)
    values = (t1, p1, c1, sp, rho)
    return {name: np.asarray(v, dtype=np.float32) for name, v in zip(PRODUCTS, values, strict=True)}


def _blocks(records: int, seed: int) -> Iterator[tuple[int, dict[str, np.ndarray]]]:
    """``(offset, columns)`` for consecutive blocks of at most ``BLOCK`` records."""
    rng = np.random.default_rng(seed)
    for dep in deployments(records):
        cal = demo.CTD_CALIBRATIONS[dep.number - 1]
        recovered = dep.stop + 2 * 86400.0
        for lo in range(0, dep.count, BLOCK):
            n = min(BLOCK, dep.count - lo)
            t = dep.start + np.arange(lo, lo + n, dtype=np.float64)
            t += np.round(rng.uniform(0.0, 0.4, n), 3)
            temp, salt, pres = _ocean(t, rng)
            raw: dict[str, np.ndarray] = {
                "time": t,
                "deployment": np.full(n, dep.number, dtype=np.int32),
                "internal_timestamp": t,
                "driver_timestamp": recovered + (dep.first + lo + np.arange(n)) * 1e-3,
                "ingestion_timestamp": np.full(n, recovered + 3600.0),
                "ctd_time": np.round(t - NTP_2000).astype(np.int32),
                **demo.ctd_counts(temp, salt, pres, cal),
            }
            yield dep.first + lo, {**raw, **products(raw, cal)}


def write_netcdf(path: Path, records: int, *, seed: int = 0,
                 progress: Callable[[int], None] | None = None) -> None:
    """Write the stream with ``records`` records, raw counts and products, to ``path``.

    Variables are contiguous and uncompressed (the fastest layout for pydap's handler), on one
    fixed ``obs`` dimension, in OOI layout.
    """
    import netCDF4

    with netCDF4.Dataset(path, "w", format="NETCDF4") as nc:
        nc.setncatts({
            "subsite": KEY.subsite, "node": KEY.node, "sensor": KEY.sensor,
            "collection_method": KEY.method, "stream": KEY.stream,
            "title": f"{KEY.refdes} {KEY.method} {KEY.stream} (generated benchmark data)",
            "Conventions": "CF-1.8, ACDD-1.3", "featureType": "timeSeries",
            "lat": demo.LAT, "lon": demo.LON,
        })
        nc.createDimension("obs", records)
        out = {}
        for name, (dtype, units) in RAW.items():
            fill = INT_FILL if dtype == "i4" and name != "deployment" else None
            var = nc.createVariable(name, dtype, ("obs",), contiguous=True, fill_value=fill)
            var.units = units
            out[name] = var
        nc["time"].setncatts({"standard_name": "time", "calendar": "gregorian", "axis": "T"})
        for name, (units, long_name) in PRODUCTS.items():
            var = nc.createVariable(name, "f4", ("obs",), contiguous=True, fill_value=np.float32(np.nan))
            var.setncatts({"units": units, "long_name": long_name, "standard_name": name,
                           "coordinates": "time"})
            out[name] = var
        for offset, columns in _blocks(records, seed):
            n = len(columns["time"])
            for name, values in columns.items():
                out[name][offset : offset + n] = values
            if progress:
                progress(n)


def read_products(path: Path, names: list[str]) -> dict[str, np.ndarray]:
    """The stored values of ``names`` (to check what the servers send)."""
    import netCDF4

    with netCDF4.Dataset(path) as nc:
        nc.set_auto_mask(False)
        return {name: nc[name][:] for name in names}


def asset_events(records: int) -> list[dict[str, Any]]:
    """The demo CTD's deployment events, with the benchmark deployments' start and stop."""
    events = demo.asset_events(KEY)
    for event, dep in zip(events, deployments(records), strict=True):
        event["eventStartTime"] = ntp_to_unix_ms(dep.start)
        event["eventStopTime"] = ntp_to_unix_ms(dep.stop)
    return events


def write_asset_events(path: Path, records: int) -> None:
    """Write :func:`asset_events` as the asset-management JSON ``stream-engine assets load`` reads."""
    path.write_text(json.dumps(asset_events(records), indent=1))
