"""HTTP load on loopback: timed downloads, concurrent request rates, DAP2 ``.dods`` decoding.

Every loop is bounded by a request count and a deadline; connections use keep-alive.

The benchmark's client shares the machine's cores with the server it measures, so every cycle it
spends is a cycle the server does not get. :func:`download` therefore reads a body the lean way
(reader ``"readinto"``): straight from the socket into one buffer, with no copy of its own. A
body with a ``Content-Length`` goes into one private anonymous mapping of that size (huge pages
where the kernel has them); a chunked one (DAP4
``.dap``, pydap's ``.dods``) into a mapping that doubles as it fills (``mremap``: the pages move,
nothing is copied) and is cut to the body's size at the end; a body not kept goes through one
small reused buffer. The mapping itself is the kept body (``find``, slicing and
``numpy.frombuffer`` work on it). The reader before issue 13x (``"blocks"``: 1 MiB ``read()``
calls into new ``bytes``, joined at the end when kept, two copies of the body and a page-faulted
allocation per block) stays selectable, so a run can measure what the client itself costs.
"""

from __future__ import annotations

import http.client
import mmap
import re
import threading
import time
from dataclasses import dataclass

import numpy as np

from dap_support.servers import HOST

READ_BLOCK = 1 << 20
#: The first capacity of a kept body of unknown length (chunked): doubled as it fills.
FIRST_CAPACITY = 1 << 24
#: How a body is read: ``readinto`` (the default, lean) or ``blocks`` (the reader before 13x).
READERS = ("readinto", "blocks")

#: A kept response body: the mapping it was read into, or ``bytes``.
Body = bytes | mmap.mmap


@dataclass(frozen=True)
class Download:
    """One GET: status, body size, wall time, time to first byte, the client thread's CPU time
    over the same span (request, headers and body), and the body when kept."""

    status: int
    nbytes: int
    seconds: float
    first_byte: float
    body: Body | None = None
    client_cpu: float = 0.0

    @property
    def mb_per_s(self) -> float:
        return self.nbytes / self.seconds / 1e6 if self.seconds > 0 else 0.0


def download(port: int, path: str, *, keep: bool = False, timeout: float = 600.0,
             reader: str = "readinto") -> Download:
    """GET ``path`` on a fresh connection and read the whole body with ``reader`` (see
    :data:`READERS`); ``keep`` returns the body too."""
    if reader not in READERS:
        raise ValueError(f"unknown reader {reader!r}; expected one of {READERS}")
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        cpu0 = time.thread_time()
        t0 = time.perf_counter()
        conn.request("GET", path)
        res = conn.getresponse()
        first = time.perf_counter() - t0
        if reader == "blocks":
            nbytes, body = _read_blocks(res, keep)
        elif keep:
            nbytes, body = _read_kept(res)
        else:
            nbytes, body = _read_dropped(res), None
        seconds = time.perf_counter() - t0
        return Download(res.status, nbytes, seconds, first, body, time.thread_time() - cpu0)
    finally:
        conn.close()


def _read_blocks(res: http.client.HTTPResponse, keep: bool) -> tuple[int, bytes | None]:
    """The reader before 13x: 1 MiB ``read()`` calls into new ``bytes``, joined when kept."""
    parts: list[bytes] = []
    nbytes = 0
    while block := res.read(READ_BLOCK):
        nbytes += len(block)
        if keep:
            parts.append(block)
    return nbytes, b"".join(parts) if keep else None


def _read_dropped(res: http.client.HTTPResponse) -> int:
    """Read and drop the body through one reused buffer; its size in bytes."""
    scratch = bytearray(READ_BLOCK)
    nbytes = 0
    with memoryview(scratch) as view:
        while got := res.readinto(view):
            nbytes += got
    return nbytes


def _mapping(size: int) -> mmap.mmap:
    """A private anonymous mapping of ``size`` bytes (no zero-fill pass: the kernel's pages are
    zero), in huge pages where the kernel has them (~4x fewer faulting cycles for a 40 MB body).
    Private, since a shared anonymous mapping cannot grow: its pages past the first size fault
    with SIGBUS."""
    body = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE)
    if hasattr(mmap, "MADV_HUGEPAGE"):
        body.madvise(mmap.MADV_HUGEPAGE)
    return body


def _read_kept(res: http.client.HTTPResponse) -> tuple[int, Body]:
    """Read the body into one anonymous mapping: of its ``Content-Length`` when declared, else
    doubled as it fills (``mremap``, no copy) and cut to size at the end."""
    capacity = res.length if res.length is not None else FIRST_CAPACITY
    if capacity == 0:
        return 0, b""
    body = _mapping(capacity)
    nbytes = 0
    while True:
        if nbytes == capacity:
            if res.length is not None or res.isclosed():
                break
            capacity *= 2
            body.resize(capacity)
        with memoryview(body) as view:
            got = res.readinto(view[nbytes:])
        if not got:
            break
        nbytes += got
    if nbytes == 0:
        body.close()
        return 0, b""
    if nbytes < capacity:
        body.resize(nbytes)
    return nbytes, body


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


def dods_array(body: Body) -> np.ndarray:
    """The values of the single numeric array in a ``.dods`` response body (a view of it).

    The dtype comes from the DDS part (``Float32 name[obs = n];``); the XDR part is the element
    count twice, then the big-endian values.
    """
    marker = body.find(b"\nData:\n")
    if marker < 0:
        raise ValueError("not a .dods response: no 'Data:' separator; body starts "
                         f"{bytes(body[:200])!r}")
    dds = bytes(body[:marker]).decode("utf-8", "replace")
    types = re.findall(r"\b(" + "|".join(_DAP_TYPES) + r")\s+[\w.%-]+\s*\[", dds)
    if len(types) != 1:
        raise ValueError(f"expected one numeric array in the DDS, found types {types} in {dds!r}")
    start = marker + len(b"\nData:\n")
    count = int.from_bytes(body[start : start + 4], "big")
    return np.frombuffer(body, _DAP_TYPES[types[0]], count, offset=start + 8)


_DAP4_TYPES = {"Float32": "<f4", "Float64": "<f8", "Int32": "<i4", "UInt32": "<u4", "Int16": "<i2",
               "UInt16": "<u2", "Int64": "<i8", "UInt64": "<u8", "Int8": "<i1", "UInt8": "<u1"}


def dap_array(body: Body) -> np.ndarray:
    """The values of the single numeric variable in a DAP4 ``.dap`` response without checksums.

    The body is chunks of a 4-byte header (flags byte, 24-bit big-endian count) and that many
    bytes; the first chunk is the DMR, the rest the little-endian values (flag 0x04).
    """
    view = memoryview(body)
    chunks: list[memoryview] = []
    at = 0
    while at < len(view):
        flags, count = view[at], int.from_bytes(view[at + 1 : at + 4], "big")
        if flags & 0x02:
            raise ValueError(f"the .dap response ends with an error chunk: {bytes(view[at + 4 : at + 4 + count])!r}")
        chunks.append(view[at + 4 : at + 4 + count])
        at += 4 + count
        if flags & 0x01:
            break
    dmr = bytes(chunks[0]).decode("utf-8", "replace")
    types = re.findall(r"<(" + "|".join(_DAP4_TYPES) + r")\s+name=", dmr)
    if len(types) != 1:
        raise ValueError(f"expected one numeric variable in the DMR, found {types}")
    return np.frombuffer(b"".join(chunks[1:]), _DAP4_TYPES[types[0]])
