"""A real ``stream-engine serve`` on a free loopback port, for tests that need one.

Importable from any test module (pytest puts ``tests/`` on ``sys.path`` for its conftest).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stream_engine_command() -> list[str]:
    """The ``stream-engine`` console script of this interpreter's environment."""
    script = Path(sys.executable).parent / "stream-engine"
    return [str(script)] if script.exists() else [sys.executable, "-m", "stream_engine.cli"]


def http(
    url: str, headers: Mapping[str, str] | None = None, method: str = "GET", timeout: float = 60.0
) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of a request (HTTP errors returned, not raised)."""
    request = urllib.request.Request(url, headers=dict(headers or {}), method=method)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def ensure_store(data_dir: Path) -> None:
    """Create an empty embedded store in ``data_dir`` if it holds none (the CLI would)."""
    from stream_engine.store.embedded import EmbeddedStore

    with EmbeddedStore(data_dir) as store:
        store.streams()


@dataclass
class LiveServer:
    """A running server: its base URL (no trailing slash), process and log folder."""

    url: str
    process: subprocess.Popen[str]
    log_dir: Path

    def stop(self, sig: int = signal.SIGTERM) -> tuple[int, str]:
        """Signal the server, wait for it to exit; its exit code and output."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            out, _ = self.process.communicate(timeout=40)
        except subprocess.TimeoutExpired:
            self.process.kill()
            out, _ = self.process.communicate()
        return self.process.returncode, out


def start_server(
    data_dir: Path, log_dir: Path, *, threads: int = 4, extra_env: Mapping[str, str] | None = None,
    create_store: bool = True,
) -> LiveServer:
    """``stream-engine serve`` (one worker) over ``data_dir``; waits until ``/version`` answers.

    A server never creates its store; ``create_store`` makes an empty one first if there is none
    (``False`` serves a missing store, which answers 503).

    Raises ``RuntimeError`` with the server's output if it exits or does not answer in 60 s.
    """
    if create_store:
        ensure_store(data_dir)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAM_ENGINE_")}
    env.update(
        STREAM_ENGINE_DATA_DIR=str(data_dir),
        STREAM_ENGINE_LOG_DIR=str(log_dir),
        STREAM_ENGINE_PID_FILE=str(log_dir / "stream_engine.pid"),
        STREAM_ENGINE_WORKERS="1",
        STREAM_ENGINE_THREADS=str(threads),
    )
    env.update(extra_env or {})  # may override the defaults above (WORKERS...)
    process = subprocess.Popen(
        [*stream_engine_command(), "serve", "--bind", f"127.0.0.1:{port}"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    server = LiveServer(f"http://127.0.0.1:{port}", process, log_dir)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{server.stop()[1]}")
        try:
            if http(server.url + "/version", timeout=2)[0] == 200:
                return server
        except OSError:
            pass
        time.sleep(0.2)
    output = server.stop()[1]
    raise RuntimeError(f"server did not answer /version within 60 s:\n{output}")
