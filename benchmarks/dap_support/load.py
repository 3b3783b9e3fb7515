"""HTTP load on loopback: timed downloads, concurrent request rates, DAP2 ``.dods`` decoding.

Every loop is bounded by a request count and a deadline; connections use keep-alive.
"""

from __future__ import annotations

import http.client
import re
import threading
import time
from dataclasses import dataclass

import numpy as np

from dap_support.servers import HOST

READ_BLOCK = 1 << 20


@dataclass(frozen=True)
class Download:
    """One GET: status, body size, wall time, time to first byte, and the body when kept."""

    status: int
    nbytes: int
    seconds: float
    first_byte: float
    body: bytes | None = None

    @property
    def mb_per_s(self) -> float:
        return self.nbytes / self.seconds / 1e6 if self.seconds > 0 else 0.0


def download(port: int, path: str, *, keep: bool = False, timeout: float = 600.0) -> Download:
    """GET ``path`` on a fresh connection, reading the body in 1 MiB blocks."""
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        t0 = time.perf_counter()
        conn.request("GET", path)
        res = conn.getresponse()
        first = time.perf_counter() - t0
        parts: list[bytes] = []
        nbytes = 0
        while block := res.read(READ_BLOCK):
            nbytes += len(block)
            if keep:
                parts.append(block)
        seconds = time.perf_counter() - t0
        return Download(res.status, nbytes, seconds, first, b"".join(parts) if keep else None)
    finally:
        conn.close()


@dataclass(frozen=True)
class Rate:
    """Outcome of a concurrent run: successful and failed requests over the elapsed time."""

    ok: int
    failed: int
    seconds: float
    first_error: str = ""

    @property
    def per_second(self) -> float:
        return self.ok / self.seconds if self.seconds > 0 else 0.0


def request_rate(port: int, path: str, *, threads: int, max_requests: int, max_seconds: float,
                 warmup: int = 20) -> Rate:
    """Requests/s for ``path`` with ``threads`` keep-alive clients, until ``max_requests``
    responses or ``max_seconds`` have passed, whichever comes first."""
    for _ in range(warmup):
        download(port, path, timeout=30)
    lock = threading.Lock()
    counts = {"issued": 0, "ok": 0, "failed": 0}
    errors: list[str] = []
    deadline = time.perf_counter() + max_seconds

    def client() -> None:
        conn = http.client.HTTPConnection(HOST, port, timeout=30)
        try:
            while time.perf_counter() < deadline:
                with lock:
                    if counts["issued"] >= max_requests:
                        return
                    counts["issued"] += 1
                try:
                    conn.request("GET", path)
                    res = conn.getresponse()
                    res.read()
                    good = res.status == 200
                    if res.will_close:
                        conn.close()
                except (OSError, http.client.HTTPException) as exc:
                    conn.close()
                    good = False
                    errors.append(f"{type(exc).__name__}: {exc}")
                else:
                    if not good:
                        errors.append(f"HTTP {res.status}")
                with lock:
                    counts["ok" if good else "failed"] += 1
        finally:
            conn.close()

    workers = [threading.Thread(target=client, daemon=True) for _ in range(threads)]
    t0 = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(max_seconds + 60)
    return Rate(counts["ok"], counts["failed"], time.perf_counter() - t0, errors[0] if errors else "")


_DAP_TYPES = {"Float32": ">f4", "Float64": ">f8", "Int32": ">i4", "UInt32": ">u4",
              "Int16": ">i4", "UInt16": ">u4"}


def dods_array(body: bytes) -> np.ndarray:
    """The values of the single numeric array in a ``.dods`` response body.

    The dtype comes from the DDS part (``Float32 name[obs = n];``); the XDR part is the element
    count twice, then the big-endian values.
    """
    marker = body.find(b"\nData:\n")
    if marker < 0:
        raise ValueError("not a .dods response: no 'Data:' separator; body starts "
                         f"{body[:200]!r}")
    dds = body[:marker].decode("utf-8", "replace")
    types = re.findall(r"\b(" + "|".join(_DAP_TYPES) + r")\s+[\w.%-]+\s*\[", dds)
    if len(types) != 1:
        raise ValueError(f"expected one numeric array in the DDS, found types {types} in {dds!r}")
    data = body[marker + len(b"\nData:\n") :]
    count = int(np.frombuffer(data[:4], ">u4")[0])
    return np.frombuffer(data[8:], _DAP_TYPES[types[0]], count)


_DAP4_TYPES = {"Float32": "<f4", "Float64": "<f8", "Int32": "<i4", "UInt32": "<u4", "Int16": "<i2",
               "UInt16": "<u2", "Int64": "<i8", "UInt64": "<u8", "Int8": "<i1", "UInt8": "<u1"}


def dap_array(body: bytes) -> np.ndarray:
    """The values of the single numeric variable in a DAP4 ``.dap`` response without checksums.

    The body is chunks of a 4-byte header (flags byte, 24-bit big-endian count) and that many
    bytes; the first chunk is the DMR, the rest the little-endian values (flag 0x04).
    """
    chunks: list[bytes] = []
    at = 0
    while at < len(body):
        flags, count = body[at], int.from_bytes(body[at + 1 : at + 4], "big")
        if flags & 0x02:
            raise ValueError(f"the .dap response ends with an error chunk: {body[at + 4 : at + 4 + count]!r}")
        chunks.append(body[at + 4 : at + 4 + count])
        at += 4 + count
        if flags & 0x01:
            break
    dmr = chunks[0].decode("utf-8", "replace")
    types = re.findall(r"<(" + "|".join(_DAP4_TYPES) + r")\s+name=", dmr)
    if len(types) != 1:
        raise ValueError(f"expected one numeric variable in the DMR, found {types}")
    return np.frombuffer(b"".join(chunks[1:]), _DAP4_TYPES[types[0]])
