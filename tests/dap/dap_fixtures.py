"""DAP test data and a loopback WSGI app around ``handle_dap`` (imported by conftest and tests)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from wsgiref.simple_server import WSGIRequestHandler

import numpy as np

from dap_handlers.app import handle_dap
from dap_handlers.dap4.service import DAP4_KINDS, handle_dap4
from dap_handlers.model import DapDataset, DapVariable

N_OBS = 5000
N_WAVELENGTH = 7
#: Needs all 17 significant digits to survive.
PRECISE = 0.1 + 0.2
TITLE = 'CTD "A" data, path C:\\ooi\\ctd'
LAST_MODIFIED = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


def sample_arrays() -> dict[str, np.ndarray]:
    obs = np.arange(N_OBS)
    return {
        "time": 3_900_000_000.123456 + obs * 0.5,
        "temperature": (10 + np.sin(obs / 50)).astype("f4"),
        "count": (obs * 7 - 1000).astype("i4"),
        "spectra": (np.arange(N_OBS * N_WAVELENGTH) / 3.0).reshape(N_OBS, N_WAVELENGTH),
        "station": np.array([f"CE01ISSM-{i % 13}" for i in obs]),
        "coefficients": np.array([1.5, -2.25, PRECISE, 1e-30]),
    }


def sample_dataset() -> DapDataset:
    """A small stream-like dataset: ``time`` is an ordinary Float64 on ``obs``."""
    a = sample_arrays()
    return DapDataset(
        "ctd_sample",
        [
            DapVariable.from_array(
                "time",
                a["time"],
                ["obs"],
                {
                    "units": "seconds since 1900-01-01 0:0:0",
                    "calendar": "gregorian",
                    "standard_name": "time",
                    "actual_range": [a["time"][0], a["time"][-1]],
                },
            ),
            DapVariable.from_array(
                "temperature",
                a["temperature"],
                ["obs"],
                {
                    "units": "degree_Celsius",
                    "_FillValue": np.float32(-9999999.0),
                    "coordinates": "time",
                    "comment": 'computed by "ctd_sbe37im_tempwat", see \\docs',
                },
            ),
            DapVariable.from_array("count", a["count"], ["obs"], {"long_name": "counter"}),
            DapVariable.from_array("spectra", a["spectra"], ["obs", "wavelength"], {"units": "1"}),
            DapVariable.from_array("station", a["station"], ["obs"], {"long_name": "station"}),
            DapVariable.from_array(
                "coefficients", a["coefficients"], ["coeff"], {"precise": PRECISE}
            ),
        ],
        {"title": TITLE, "Conventions": "CF-1.8, ACDD-1.3", "precise_global": PRECISE},
    )


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


class DapTestServer:
    """A WSGI app serving one dataset at ``/dap/<name>.<ext>`` (DAP2 and DAP4), recording
    request URLs."""

    def __init__(self, dataset: DapDataset, max_response_bytes: int = 500_000_000) -> None:
        self.dataset = dataset
        self.max_response_bytes = max_response_bytes
        self.requests: list[str] = []
        self.url = ""

    def __call__(self, environ, start_response):
        path, query = environ["PATH_INFO"], environ.get("QUERY_STRING", "")
        self.requests.append(path + ("?" + query if query else ""))
        stem, suffix = f"/dap/{self.dataset.name}", path.removeprefix(f"/dap/{self.dataset.name}.")
        if not path.startswith(stem + "."):
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found"]
        headers = {
            key[5:].replace("_", "-").title(): value
            for key, value in environ.items()
            if key.startswith("HTTP_")
        }
        common = {"max_response_bytes": self.max_response_bytes, "last_modified": LAST_MODIFIED,
                  "etag": "v1", "request_headers": headers, "block_bytes": 64 * 1024}
        if suffix in DAP4_KINDS:
            response = handle_dap4(self.dataset, suffix, query, dataset_url=self.url, **common)
        else:
            response = handle_dap(self.dataset, suffix, query, **common)
        start_response(f"{response.status} DAP", response.headers)
        return BytesBody(response.body_iter)


class BytesBody:
    """A DAP body whose parts (``bytes`` or byte views of the values) are handed over as
    ``bytes``, as wsgiref takes nothing else; closing it closes the body."""

    def __init__(self, body: Iterable[bytes | memoryview]) -> None:
        self.body = body

    def __iter__(self) -> Iterator[bytes]:
        return (part if isinstance(part, bytes) else bytes(part) for part in self.body)

    def close(self) -> None:
        close = getattr(self.body, "close", None)
        if close is not None:
            close()
