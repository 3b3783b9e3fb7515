"""Data folders for the JSON API tests: the demo mooring, and the OOI sample streams that the
real request bodies in ``../shared/ooi/samples/*request*.json`` name."""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from stream_engine import demo
from stream_engine.assets import load_event_file
from stream_engine.config import load_settings
from stream_engine.ingest import ingest_file
from stream_engine.preload import default_preload
from stream_engine.store import open_store
from stream_engine.store.base import StreamKey

NUTNR = StreamKey("CE04OSPS", "SF01B", "4A-NUTNRA102", "streamed", "nutnr_a_sample")
ECHO = StreamKey("RS01SLBS", "LJ01A", "05-HPIESA101", "streamed", "echo_sounding")
CTDPF = StreamKey("CE04OSPS", "SF01B", "2A-CTDPFA107", "streamed", "ctdpf_sbe43_sample")
EVENT_FILES = ("CE04OSPS-SF01B-2A-CTDPFA107_events.json", "CE04OSPS-SF01B-4A-NUTNRA102_events.json",
               "RS01SLBS-LJ01A-05-HPIESA101_events.json")
#: The synthetic CTD's records: every 2 s across the sample bodies' range, one ext_volt0 a fill.
CTD_TIMES = 3653423990.0 + 2.0 * np.arange(20)
CTD_FILL_AT = 7


def settings_for(data_dir: Path, log_dir: Path, preload: Path | None = None) -> Any:
    environ = {"STREAM_ENGINE_DATA_DIR": str(data_dir), "STREAM_ENGINE_LOG_DIR": str(log_dir)}
    if preload is not None:
        environ["STREAM_ENGINE_PRELOAD"] = str(preload)
    return load_settings(environ=environ)


def fill_demo_folder(data_dir: Path, log_dir: Path) -> Any:
    settings = settings_for(data_dir, log_dir)
    with open_store(settings) as store:
        demo.fill_demo(store, default_preload(settings))
    return settings


def fill_samples_folder(data_dir: Path, log_dir: Path, ooi_dir: Path) -> Any:
    """The nutrient sensor and the HPIES from their sample files, their asset events, and a
    small ``ctdpf_sbe43_sample`` (whose sample file is not in the snapshot) under the upstream
    preload dictionary."""
    settings = settings_for(data_dir, log_dir, ooi_dir / "preload")
    preload = default_preload(settings)
    samples = ooi_dir / "samples"
    with open_store(settings) as store:
        for key, name in ((NUTNR, "nutnr_a_sample.nc"), (ECHO, "echo_sounding.nc")):
            overrides = {f: getattr(key, f) for f in ("subsite", "node", "sensor", "method", "stream")}
            ingest_file(store, preload, samples / name, overrides=overrides)
        volts = (1000 + 10 * np.arange(len(CTD_TIMES))).astype(np.int32)
        volts[CTD_FILL_AT] = int(preload.parameters[2310].fill_value)
        store.write(CTDPF, {"time": CTD_TIMES, "deployment": np.full(len(CTD_TIMES), 2, np.int32),
                            "ext_volt0": volts}, bin_seconds=preload.stream(CTDPF.stream).bin_seconds)
        for name in EVENT_FILES:
            load_event_file(store, samples / name)
    return settings


def post(url: str, body: Any, timeout: float = 60.0) -> tuple[int, dict[str, str], bytes]:
    """POST ``body`` (bytes, or anything orjson encodes): status, headers, body; errors returned."""
    data = body if isinstance(body, bytes) else orjson.dumps(body)
    request = urllib.request.Request(url, data=data, method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def stream_entry(key: StreamKey, parameters: list[int]) -> dict[str, Any]:
    return {"subsite": key.subsite, "node": key.node, "sensor": key.sensor, "method": key.method,
            "stream": key.stream, "parameters": parameters}
