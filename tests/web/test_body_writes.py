"""Bodies written from byte buffers (stream_engine/web/body_writes.py), through the worker's own
request handling (gunicorn's ``handle_request`` on a socket pair) and with DAP2/DAP4 bodies made
by dap_handlers: the bytes on the wire are those of ``bytes`` parts, chunked framing included;
HEAD, keep-alive, a declared length, a client gone mid-body and a failure mid-body."""

from __future__ import annotations

import re
import socket
import threading
import zlib
from collections.abc import Iterable, Iterator
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from gunicorn import glogging
from gunicorn.config import Config
from gunicorn.http.wsgi import Response

from dap_handlers.app import handle_dap
from dap_handlers.dap4.service import handle_dap4
from dap_handlers.model import BlockReader, DapDataset, DapVariable
from stream_engine.web.body_writes import BufferResponse, BufferWrites, send_all
from stream_engine.web.connections import WRITES_BUFFERS, TrackedBody
from stream_engine.web.worker import StreamEngineWorker, _Conn

N = 200_000
BLOCK_BYTES = 16_384  # many blocks, and DAP4 chunks cut across them
VALUES = {
    "time": 3.9e9 + np.arange(N, dtype="f8") * 0.25,
    "salinity": np.sin(np.arange(N, dtype="f4") / 700).astype("f4") * 3 + 33,
    "count": (np.arange(N, dtype="i4") * 7 - 1000),
}


def _dataset(fail_after: int | None = None) -> DapDataset:
    """Three variables; with ``fail_after``, ``salinity``'s reader fails at that block."""
    variables = [DapVariable.from_array(name, values, ["obs"]) for name, values in VALUES.items()]
    if fail_after is None:
        return DapDataset("ctd", variables)
    source = variables[1]

    def blocks(keys: Iterable[tuple[slice, ...]]) -> Iterator[np.ndarray]:
        for n, key in enumerate(keys):
            if n == fail_after:
                raise RuntimeError("the store went away")
            yield VALUES["salinity"][key[0]]

    failing = DapVariable(source.name, source.dtype, source.shape, ["obs"],
                          BlockReader(lambda key: VALUES["salinity"][key[0]], blocks))
    return DapDataset("ctd", [variables[0], failing, variables[2]])


def _app(fail_after: int | None = None) -> Any:
    """A WSGI app answering ``/ctd.<suffix>?<query>`` with dap_handlers' responses, through the
    application's own body wrapper (:class:`TrackedBody`)."""
    def app(environ: dict[str, Any], start_response: Any) -> Any:
        suffix = environ["PATH_INFO"].rsplit(".", 1)[1]
        common = {"max_response_bytes": 10**9, "block_bytes": BLOCK_BYTES}
        if suffix == "dap":
            answer = handle_dap4(_dataset(fail_after), suffix, environ["QUERY_STRING"],
                                 dataset_url="http://x/ctd", **common)
        else:
            answer = handle_dap(_dataset(fail_after), suffix, environ["QUERY_STRING"], **common)
        start_response(f"{answer.status} X", answer.headers)
        return TrackedBody(answer.body_iter, environ, lambda: None)
    return app


class Served:
    """Our worker handling requests on one end of a socket pair, a client on the other."""

    def __init__(self, app: Any, buffers: bool = True) -> None:
        cfg = Config()
        cfg.set("keepalive", 5)
        self.worker = StreamEngineWorker(0, 0, [], SimpleNamespace(wsgi=lambda: app), 30, cfg,
                                         glogging.Logger(cfg))
        self.worker.load_wsgi()
        if not buffers:  # as gunicorn's own worker would: plain Response, bytes only
            self.worker.wsgi = app
        self.client, server = socket.socketpair()
        self.client.settimeout(30)
        self.conn = _Conn(self.worker, cfg, server, ("127.0.0.1", 1234), ("127.0.0.1", 8000))
        self.conn.init()
        self.outcomes: list[Any] = []

    def request(self, target: str, method: str = "GET", close: bool = False) -> None:
        head = f"{method} {target} HTTP/1.1\r\nHost: x\r\n" + ("Connection: close\r\n" if close else "")
        self.client.sendall((head + "\r\n").encode())
        req = next(self.conn.parser)
        try:
            self.outcomes.append(self.worker.handle_request(req, self.conn))
        except StopIteration:  # gunicorn's way of saying: failed after the headers, drop it
            self.outcomes.append("dropped")
            self.conn.sock.close()

    def handle_in_background(self, target: str) -> threading.Thread:
        thread = threading.Thread(target=self.request, args=(target,), daemon=True)
        thread.start()
        return thread

    def read_response(self, method: str = "GET") -> tuple[dict[str, str], bytes, bytes]:
        """Headers, the body as sent (framing included) and the body (framing removed)."""
        data = b""
        while b"\r\n\r\n" not in data:
            data += self._recv()
        head, _, rest = data.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        if method == "HEAD":
            return headers, rest, rest
        if "content-length" in headers:
            want = int(headers["content-length"])
            while len(rest) < want:
                got = self._recv()
                if not got:
                    break
                rest += got
            return headers, rest, rest
        assert headers["transfer-encoding"] == "chunked"
        raw, body = rest, b""
        while True:
            while b"\r\n" not in rest:
                got = self._recv()
                raw, rest = raw + got, rest + got
            size_line, _, rest = rest.partition(b"\r\n")
            size = int(size_line, 16)
            while len(rest) < size + 2:
                got = self._recv()
                if not got:
                    return headers, raw, body + rest  # cut short
                raw, rest = raw + got, rest + got
            body += rest[:size]
            assert rest[size:size + 2] == b"\r\n"
            rest = rest[size + 2:]
            if size == 0:
                return headers, raw, body

    def read_all(self) -> bytes:
        data = b""
        while got := self._recv():
            data += got
        return data

    def _recv(self) -> bytes:
        try:
            return self.client.recv(1 << 20)
        except ConnectionResetError:
            return b""

    def close(self) -> None:
        self.client.close()
        self.conn.sock.close()
        self.worker.tmp.close()


@pytest.fixture
def served() -> Iterator[Served]:
    pair = Served(_app())
    yield pair
    pair.close()


def _unchunked(data: bytes) -> bytes:
    body = b""
    while True:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line, 16)
        body, data = body + data[:size], data[size + 2:]
        if size == 0:
            return body


def _dated(body: bytes) -> bytes:
    """The body with the DMR's request time blanked (it changes from request to request)."""
    return re.sub(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", b"YYYY-MM-DDThh:mm:ssZ", body)


def _by_bytes(target: str) -> tuple[dict[str, str], bytes]:
    """The response gunicorn's own ``Response`` (bytes only) sends."""
    pair = Served(_app(), buffers=False)
    try:
        thread = pair.handle_in_background(target)
        headers, _, body = pair.read_response()
        thread.join(30)
        return headers, body
    finally:
        pair.close()


def _dods_expected() -> bytes:
    """The DODS values of ``VALUES``, written out by hand: count twice, big-endian values."""
    parts = []
    for values in VALUES.values():
        count = len(values).to_bytes(4, "big")
        parts.append(count + count + values.astype(values.dtype.newbyteorder(">")).tobytes())
    return b"".join(parts)


def test_dods_values_are_sent_from_views_and_equal_the_hand_written_encoding(served) -> None:
    thread = served.handle_in_background("/ctd.dods")
    headers, raw, body = served.read_response()
    thread.join(30)
    assert served.outcomes == [True]  # kept alive
    assert int(headers["content-length"]) == len(body) and "transfer-encoding" not in headers
    assert body.split(b"\nData:\n", 1)[1] == _dods_expected()
    assert _by_bytes("/ctd.dods")[1] == body


def _dap4_variables(body: bytes, checksums: bool) -> tuple[bytes, bytes]:
    """The DMR and the values (DAP4 chunk headers removed) of a ``.dap`` body."""
    chunks, rest, last = [], body, False
    while not last:
        flags, size = rest[0], int.from_bytes(rest[1:4], "big")
        assert not flags & 0x02, rest[4:4 + size]
        chunks.append(rest[4:4 + size])
        rest, last = rest[4 + size:], bool(flags & 0x01)
    assert rest == b""
    return chunks[0], b"".join(chunks[1:])


@pytest.mark.parametrize("checksums", [False, True], ids=["no checksums", "CRC32"])
def test_dap4_chunks_are_framed_around_views_and_the_body_is_unchanged(served, checksums) -> None:
    query = "dap4.checksum=true" if checksums else ""
    thread = served.handle_in_background(f"/ctd.dap?{query}")
    headers, raw, body = served.read_response()
    thread.join(30)
    assert served.outcomes == [True]
    dmr, values = _dap4_variables(body, checksums)
    expected, offset = [], 0
    for name, array in VALUES.items():
        data = array.astype(array.dtype.newbyteorder("<")).tobytes()
        expected.append(data)
        got = values[offset:offset + len(data)]
        assert got == data, name
        offset += len(data)
        if checksums:
            crc = int.from_bytes(values[offset:offset + 4], "little")
            assert crc == zlib.crc32(data)
            assert f"<Value>{crc}</Value>".encode() in dmr  # the DMR's _DAP4_Checksum_CRC32
            offset += 4
    assert offset == len(values)
    if checksums:
        assert int(headers["content-length"]) == len(body)
    else:
        assert headers["transfer-encoding"] == "chunked" and _unchunked(raw) == body
    assert _dated(_by_bytes(f"/ctd.dap?{query}")[1]) == _dated(body)


def test_head_sends_headers_only_and_the_connection_serves_the_next_request(served) -> None:
    thread = served.handle_in_background("/ctd.dods")
    _, _, whole = served.read_response()
    thread.join(30)
    thread = threading.Thread(target=served.request, args=("/ctd.dods", "HEAD"), daemon=True)
    thread.start()
    thread.join(30)
    served.client.settimeout(1)
    headers, rest, _ = served.read_response("HEAD")
    assert int(headers["content-length"]) == len(whole) and rest == b""
    with pytest.raises(TimeoutError):
        served.client.recv(1)  # nothing after the headers
    served.client.settimeout(30)
    thread = served.handle_in_background("/ctd.dods")  # the same connection, kept alive
    _, _, again = served.read_response()
    thread.join(30)
    assert again == whole
    assert served.outcomes == [True, True, True]


def test_keep_alive_across_a_dods_and_a_chunked_dap(served) -> None:
    for target in ("/ctd.dap", "/ctd.dods", "/ctd.dap"):
        thread = served.handle_in_background(target)
        served.read_response()
        thread.join(30)
    assert served.outcomes == [True, True, True]


def test_a_client_gone_mid_body_ends_the_request_and_closes_the_body() -> None:
    closed: list[bool] = []

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        start_response("200 OK", [("Content-Length", str(64 * 2**20))])
        block = np.zeros(2**20, dtype="<f4")
        return TrackedBody((memoryview(block).cast("B") for _ in range(16)), environ,
                           lambda: closed.append(True))

    pair = Served(app)
    failed: list[BaseException] = []

    def handle() -> None:
        try:
            pair.request("/x")
        except OSError as exc:
            failed.append(exc)

    try:
        thread = threading.Thread(target=handle, daemon=True)
        thread.start()
        got = 0
        while got < 3 * 2**20:  # a few blocks in
            got += len(pair.client.recv(1 << 20))
        pair.client.close()
        thread.join(30)
        assert not thread.is_alive() and isinstance(failed[0], OSError)  # the worker drops it
        assert closed == [True]
    finally:
        pair.conn.sock.close()
        pair.worker.tmp.close()


def test_a_failure_mid_body_cuts_dods_short() -> None:
    pair = Served(_app(fail_after=3))
    try:
        thread = pair.handle_in_background("/ctd.dods")
        data = pair.read_all()
        thread.join(30)
        head, _, body = data.partition(b"\r\n\r\n")
        declared = int(re.search(rb"Content-Length: (\d+)", head).group(1))
        assert pair.outcomes == ["dropped"]
        values = body.split(b"\nData:\n", 1)[1]
        time_bytes = 8 + N * 8
        # time whole, then salinity's count words and its first three blocks, then nothing
        assert len(body) < declared and len(values) == time_bytes + 8 + 3 * 4096 * 4
        assert values == _dods_expected()[:len(values)]
    finally:
        pair.close()


def test_a_failure_mid_body_ends_dap4_with_an_error_chunk() -> None:
    pair = Served(_app(fail_after=3))
    try:
        thread = pair.handle_in_background("/ctd.dap")
        headers, raw, body = pair.read_response()
        thread.join(30)
        assert pair.outcomes == [True]  # the body ended properly: the error is in it
        chunks, rest = [], body
        while rest:
            flags, size = rest[0], int.from_bytes(rest[1:4], "big")
            chunks.append((flags, rest[4:4 + size]))
            rest = rest[4 + size:]
        assert chunks[0][0] & 0x01 == 0 and b"<Dataset" in chunks[0][1]
        assert chunks[-1][0] & 0x03 == 0x03 and b"<Error" in chunks[-1][1]
        assert all(flags == 0x04 and len(data) == 2**19 for flags, data in chunks[1:-1])
        sent = b"".join(data for _, data in chunks[1:-1])
        # whole chunks of time, then of salinity's first blocks, then the error
        assert len(sent) == 3 * 2**19
        expected = VALUES["time"].astype("<f8").tobytes() + VALUES["salinity"].astype("<f4").tobytes()
        assert sent == expected[:len(sent)]
    finally:
        pair.close()


def test_buffer_writes_only_adopt_plain_http1_responses() -> None:
    seen: list[Any] = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        seen.append((type(getattr(start_response, "__self__", None)), environ.get(WRITES_BUFFERS)))
        return []

    response = Response.__new__(Response)
    BufferWrites(app)({}, response.start_response)
    BufferWrites(app, tls=True)({}, Response.__new__(Response).start_response)
    BufferWrites(app)({}, lambda status, headers: None)
    assert seen == [(BufferResponse, True), (Response, None), (type(None), None)]


def test_send_all_goes_on_after_partial_sends() -> None:
    left, right = socket.socketpair()
    left.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    data = np.arange(300_000, dtype=">f4")
    received: list[bytes] = []

    def read() -> None:
        while got := right.recv(65536):
            received.append(got)

    reader = threading.Thread(target=read)
    reader.start()
    send_all(left, [b"head", memoryview(data).cast("B"), b"", b"tail"])
    left.close()
    reader.join(30)
    right.close()
    assert b"".join(received) == b"head" + data.tobytes() + b"tail"


def test_without_the_worker_the_application_hands_over_bytes() -> None:
    environ: dict[str, Any] = {}
    parts = list(TrackedBody([b"a", memoryview(b"bc"), memoryview(np.arange(2, dtype="<i2")).cast("B")],
                             environ, lambda: None))
    assert [type(p) for p in parts] == [bytes, bytes, bytes] and b"".join(parts) == b"abc\0\0\1\0"
    environ = {WRITES_BUFFERS: True}
    body = TrackedBody([b"a", memoryview(b"bc")], environ, lambda: None)
    parts = list(body)
    assert [type(p) for p in parts] == [bytes, memoryview] and body.handed == 3
