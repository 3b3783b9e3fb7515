"""Helpers of the engine tests: a small hand-built dictionary, asset events, test algorithms.

The dictionary (``small_preload``) has these streams; every stream has PD7 ``time``:

* ``ctd_a``: raw ``temperature`` (PD102, TEMPWAT_L1), ``salinity`` (PD103, PRACSAL_L2),
  ``ctd_count`` (PD104, int32 counter).
* ``ctd_b``: raw ``conductivity`` (PD301), product ``sal_computed`` = double(PD301) (SALCOMP_L2).
* ``opt_a``: raw ``phase`` (PD201), ``oxy_est`` (PD210, the instrument's estimate, OXY_L1) and
  products (PD202...PD214, see ``_products``).
* ``cyc_a`` / ``cyc_b``: each one product needing the other's (a dependency cycle).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from stream_engine.assets import ntp_to_unix_ms
from stream_engine.functions.registry import algorithm, is_registered
from stream_engine.preload.model import (
    Calibration,
    Choice,
    Constant,
    Parameter,
    ParameterFunction,
    ParameterRef,
    Preload,
    ProductRef,
    StreamDefinition,
)
from stream_engine.store.base import StreamKey
from stream_engine.store.embedded import EmbeddedStore

OWNER = "tests.engine"
T0 = 3_700_000_000.0  # NTP seconds, 2017-04


def _register() -> None:
    if is_registered(OWNER, "add"):
        return

    @algorithm(OWNER, "add", version="t1")
    def add(a: Any, b: Any) -> np.ndarray:
        """a + b"""
        return np.asarray(a, dtype=np.float64) + np.asarray(b, dtype=np.float64)

    @algorithm(OWNER, "scale", version="t1")
    def scale(x: Any, c: Any) -> np.ndarray:
        """x * c"""
        return np.asarray(x, dtype=np.float64) * np.asarray(c, dtype=np.float64)

    @algorithm(OWNER, "add_default", version="t1")
    def add_default(x: Any, y: Any = 5.0) -> np.ndarray:
        """x + y, y optional"""
        return np.asarray(x, dtype=np.float64) + y

    @algorithm(OWNER, "double", version="t1")
    def double(x: Any) -> np.ndarray:
        """2 x"""
        return 2.0 * np.asarray(x, dtype=np.float64)

    @algorithm(OWNER, "ident", version="t1")
    def ident(x: Any) -> np.ndarray:
        """x"""
        return np.asarray(x, dtype=np.float64)

    @algorithm(OWNER, "boom", version="t1")
    def boom(x: Any) -> np.ndarray:
        """always raises"""
        raise RuntimeError("boom: the sensor exploded")


_register()

FUNCTIONS = {
    1: "add", 2: "scale", 3: "add_default", 4: "double", 5: "ident", 6: "boom", 7: "nothing",
}


def _raw(pid: int, name: str, encoding: str = "float64", dpi: str = "", fill: Any = None) -> Parameter:
    return Parameter(pid, name, name, "quantity", encoding, fill_value=fill, data_product_identifier=dpi)


def _fn(pid: int, name: str, fid: int, fmap: dict, dpi: str = "", encoding: str = "float64") -> Parameter:
    return Parameter(pid, name, name, "function", encoding, data_product_identifier=dpi,
                     function_id=fid, function_map=fmap)


def _products() -> list[Parameter]:
    return [
        _fn(202, "oxy_temp_sum", 1, {"a": ParameterRef(201), "b": ProductRef("TEMPWAT_L1")}),
        _fn(203, "choice_pick", 5, {"x": Choice((ProductRef("NOPE_L1"), ProductRef("PRACSAL_L2")))}),
        _fn(204, "optional_pick", 3, {"x": ParameterRef(201),
                                      "y": Choice((ProductRef("NOPE_L1"),), optional=True)}),
        _fn(205, "needs_nope", 5, {"x": ProductRef("NOPE_L1")}),
        _fn(206, "scaled_phase", 2, {"x": ParameterRef(201), "c": Calibration("CC_coef")}),
        _fn(207, "unknown_fn", 7, {"x": ParameterRef(201)}),
        _fn(208, "exploding", 6, {"x": ParameterRef(201)}),
        _fn(209, "ext_product", 5, {"x": ProductRef("SALCOMP_L2")}),
        _fn(211, "oxy_calc", 2, {"x": ParameterRef(201), "c": Calibration("CC_oxycoef")}, dpi="OXY_L1"),
        _fn(212, "oxy_used", 5, {"x": ProductRef("OXY_L1")}),
        _fn(213, "count_copy", 5, {"x": ParameterRef(104)}),
        _fn(214, "lat_sum", 1, {"a": ParameterRef(201), "b": Calibration("CC_lat")}),
        _fn(215, "plus_const", 1, {"a": ParameterRef(201), "b": Constant(0.5)}),
    ]


def build_preload(nominal_depths: dict[str, float] | None = None) -> Preload:
    params = [
        _raw(7, "time"),
        _raw(102, "temperature", dpi="TEMPWAT_L1"),
        _raw(103, "salinity", dpi="PRACSAL_L2"),
        _raw(104, "ctd_count", "int32", fill=-9999999),
        _raw(201, "phase"),
        _raw(210, "oxy_est", dpi="OXY_L1"),
        _raw(301, "conductivity"),
        Parameter(220, "spectrum", "spectrum", "array<quantity>", "float32", dimensions=("wavelength",)),
        _fn(221, "spectrum_x2", 4, {"x": ParameterRef(220)}, encoding="float32"),
        _fn(302, "sal_computed", 4, {"x": ParameterRef(301)}, dpi="SALCOMP_L2"),
        _fn(401, "cyc_a_value", 5, {"x": ProductRef("CYC_B")}, dpi="CYC_A"),
        _fn(402, "cyc_b_value", 5, {"x": ProductRef("CYC_A")}, dpi="CYC_B"),
        *_products(),
    ]
    streams = [
        StreamDefinition(1, "ctd_a", (7, 102, 103, 104)),
        StreamDefinition(2, "opt_a", (7, 201, 210, 202, 203, 204, 205, 206, 207, 208, 209, 211, 212,
                                      213, 214, 215, 220, 221)),
        StreamDefinition(3, "ctd_b", (7, 301, 302)),
        StreamDefinition(4, "cyc_a", (7, 401)),
        StreamDefinition(5, "cyc_b", (7, 402)),
    ]
    functions = {
        fid: ParameterFunction(fid, f"test_{name}", "PythonFunction", name, OWNER)
        for fid, name in FUNCTIONS.items()
    }
    return Preload(
        parameters={p.id: p for p in params},
        streams={s.name: s for s in streams},
        functions=functions,
        nominal_depths=dict(nominal_depths or {}),
    )


OPT = StreamKey("CE01ISSM", "MFD37", "03-DOSTAD000", "recovered_host", "opt_a")


def deployment_event(refdes: str, number: int, start: float, stop: float | None,
                     cals: dict[str, list[tuple[float, Any]]] | None = None,
                     lat: float | None = 44.6, lon: float | None = -124.1) -> dict[str, Any]:
    """One asset-management DEPLOYMENT event (times in NTP seconds, as the tests think)."""
    return {
        "@class": ".XDeployment",
        "eventType": "DEPLOYMENT",
        "referenceDesignator": refdes,
        "deploymentNumber": number,
        "eventStartTime": ntp_to_unix_ms(start),
        "eventStopTime": None if stop is None else ntp_to_unix_ms(stop),
        "location": {"latitude": lat, "longitude": lon, "depth": 7.0},
        "sensor": {"calibration": [
            {"name": name, "calData": [{"value": v, "eventStartTime": ntp_to_unix_ms(t)} for t, v in values]}
            for name, values in (cals or {}).items()
        ]},
    }


def write_stream(store: EmbeddedStore, key: StreamKey, times: Iterable[float],
                 deployments: Iterable[int] | int = 1, **columns: Any) -> None:
    t = np.asarray(list(times), dtype=np.float64)
    d = np.broadcast_to(np.asarray(deployments, dtype=np.int32), t.shape).copy()
    records = {"time": t, "deployment": d}
    records.update({k: np.asarray(v) for k, v in columns.items()})
    store.write(key, records, bin_seconds=86400)


