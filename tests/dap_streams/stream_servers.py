"""Helpers for the stream DAP tests: stores filled with demo and sample data, servers, oracles."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import numpy as np

from stream_engine import demo
from stream_engine.assets import load_event_file
from stream_engine.engine.compute import compute
from stream_engine.engine.resolve import resolve
from stream_engine.ingest import ingest_file
from stream_engine.store.base import IndexRange, StreamKey, TimeRange
from stream_engine.store.wrapper import WrapperStore

GLIDER_FILE = (
    "deployment0006_CE05MOAS-GL319-05-CTDGVM000-recovered_host-"
    "ctdgv_m_glider_instrument_recovered.nc"
)
METBK_FILE = "metbk_a_dcl_instrument.nc"
ADCP_FILE = "deployment0000_RS03AXBS-LJ03A-10-ADCPTE301-streamed-adcp_velocity_beam.nc"
SAMPLE_EVENTS = (
    "CE05MOAS-GL319-05-CTDGVM000_events.json",
    "CE02SHSM-SBD11-06-METBKA000_events.json",
)
GLIDER = StreamKey(
    "CE05MOAS", "GL319", "05-CTDGVM000", "recovered_host", "ctdgv_m_glider_instrument_recovered"
)
METBK = StreamKey("CE02SHSM", "SBD11", "06-METBKA000", "telemetered", "metbk_a_dcl_instrument")
ADCP = StreamKey("RS03AXBS", "LJ03A", "10-ADCPTE301", "streamed", "adcp_velocity_beam")
BIG = StreamKey(
    "CE05MOAS", "GL999", "05-CTDGVM000", "recovered_host", "ctdgv_m_glider_instrument_recovered"
)
#: Below the size of an unconstrained .dods of the demo CTD (about 5 MB), above any single variable.
SIZE_CAP = 3_000_000
BIG_RECORDS = 10_000_000
BIG_START = 3.8e9
BIG_DT = 0.5


def fill_store(store: Any, preload: Any, samples_dir: Path | None) -> None:
    """The demo mooring plus, when the OOI samples are present, a glider CTD, a met buoy and an
    ADCP (2-D array parameters)."""
    demo.fill_demo(store, preload)
    if samples_dir is None:
        return
    for name in (GLIDER_FILE, METBK_FILE, ADCP_FILE):
        ingest_file(store, preload, samples_dir / name)
    for name in SAMPLE_EVENTS:
        load_event_file(store, samples_dir / name)


def write_big_stream(store: Any, preload: Any) -> None:
    """10 million glider records (``sci_water_pressure`` only), written in two batches."""
    bin_seconds = preload.stream(BIG.stream).bin_seconds
    half = BIG_RECORDS // 2
    for batch in range(2):
        index = np.arange(batch * half, (batch + 1) * half)
        store.write(
            BIG,
            {
                "time": BIG_START + index * BIG_DT,
                "deployment": np.ones(half, np.int32),
                "sci_water_pressure": (index % 1000).astype(np.float32) / 10,
            },
            bin_seconds=bin_seconds,
        )


def engine_values(
    store: Any, preload: Any, settings: Mapping[str, Any], key: StreamKey,
    index_range: IndexRange | None = None,
) -> Any:
    """The engine's own answer for a whole stream (every parameter), outside deployments kept."""
    coverage = store.coverage(key)
    time_range = TimeRange(coverage.first, float(np.nextafter(coverage.last, np.inf)))
    plan = resolve(store, preload, key, None, time_range, settings=settings)
    return compute(store, preload, plan, index_range=index_range, settings=settings,
                   require_deployment=False)


class CountingStore(WrapperStore):
    """Counts reads and the records they return, per stream."""

    def __init__(self, inner: Any) -> None:
        super().__init__(inner)
        self.reads: Counter[StreamKey] = Counter()
        self.records: Counter[StreamKey] = Counter()
        self.calls: list[tuple[StreamKey, tuple[str, ...], Any]] = []

    def read(self, key, columns=None, *, time_range=None, index_range=None):
        out = self.inner.read(key, columns, time_range=time_range, index_range=index_range)
        self.reads[key] += 1
        self.records[key] += len(out["time"])
        self.calls.append((key, tuple(columns or ()), index_range or time_range))
        return out

    def reset(self) -> None:
        self.reads.clear()
        self.records.clear()
        self.calls.clear()


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


class InProcessServer:
    """A WSGI app on a loopback port in a thread, recording request lines and bytes sent."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.requests: list[str] = []
        self.bytes_sent = 0
        self.server: WSGIServer = make_server("127.0.0.1", 0, self, handler_class=QuietHandler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        query = environ.get("QUERY_STRING", "")
        self.requests.append(environ["PATH_INFO"] + ("?" + query if query else ""))
        body = self.app(environ, start_response)
        try:
            for chunk in body:
                self.bytes_sent += len(chunk)
                yield chunk
        finally:
            if hasattr(body, "close"):  # WSGI: whoever iterates a body closes it
                body.close()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def dap_url(base: str, key: StreamKey) -> str:
    return f"{base}/dap/{key.path}"


def decoded(values: np.ndarray, fill: Any) -> np.ndarray:
    """Engine values as a masking client decodes them: fill becomes NaN (floats unchanged)."""
    if values.dtype.kind == "f":
        return values
    out = values.astype(np.float64)
    out[values == fill] = np.nan
    return out


def names_by_parameter(variables: Mapping[str, Any]) -> dict[str, str]:
    """DAP variable name by preload name, from the ``ooi_parameter_name`` attributes."""
    out = {}
    for name, attrs in variables.items():
        parameter = attrs.get("ooi_parameter_name")
        if parameter:
            out[str(parameter)] = name
    return out


def assert_same(actual: Any, expected: np.ndarray, what: str) -> None:
    """Exact equality, NaN equal to NaN, for numbers; as text for strings."""
    actual = np.asarray(actual)
    if expected.dtype.kind in "UO":
        np.testing.assert_array_equal(actual.astype(str), expected.astype(str), err_msg=what)
        return
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    np.testing.assert_array_equal(actual, expected, err_msg=what, strict=False)


SLICES: Sequence[slice] = (slice(None), slice(5, 1234), slice(3, 5000, 7), slice(1, None, 997))


def in_process_app(store: Any, preload: Any, tmp_path: Path, **overrides: Any) -> Any:
    """The web app over a given store object (e.g. a counting wrapper)."""
    from stream_engine.config import load_settings
    from stream_engine.web.app import create_app

    settings = load_settings(environ={"STREAM_ENGINE_LOG_DIR": str(tmp_path / "logs")})
    app = create_app(settings.replace(**overrides) if overrides else settings)
    app.context._store = store
    app.context._preload = preload
    return app


#: Per stream: preload names checked through every client (products first), and whether the
#: stream comes from the OOI samples.
CHECKS = {
    demo.OPTODE: (("dissolved_oxygen", "dosta_abcdjm_cspp_tc_oxygen", "calibrated_phase",
                   "product_number"), False),
    demo.FLUOROMETER: (("optical_backscatter", "fluorometric_chlorophyll_a", "raw_signal_chl"),
                       False),
    demo.CTD: (("practical_salinity", "density", "ctdbp_seawater_temperature", "temperature"),
               False),
    GLIDER: (("sci_water_pressure_dbar", "depth", "sci_water_pressure"), True),
    METBK: (("ct_depth", "barometric_pressure", "air_temperature"), True),
    ADCP: (("velocity_beam1", "echo_intensity_beam2", "heading", "pitch"), True),
}
KEYS = list(CHECKS)
IDS = [k.stream for k in KEYS]
#: DAP names that differ from the preload name (``netcdf_name``).
RENAMED = {
    (GLIDER, "sci_water_pressure_dbar"): "sea_water_pressure",
    (demo.CTD, "practical_salinity"): "sea_water_practical_salinity",
    (demo.CTD, "ctdbp_seawater_temperature"): "sea_water_temperature",
}
