"""Fixtures for the web layer: settings with a private log folder, a real server on loopback."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from stream_engine.config import Settings, load_settings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(
        environ={
            "STREAM_ENGINE_LOG_DIR": str(tmp_path / "logs"),
            "STREAM_ENGINE_DATA_DIR": str(tmp_path / "data"),
        }
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stream_engine_command() -> list[str]:
    script = Path(sys.executable).parent / "stream-engine"
    return [str(script)] if script.exists() else [sys.executable, "-m", "stream_engine.cli"]


def get(url: str, timeout: float = 5.0) -> tuple[int, dict[str, str], bytes]:
    """GET ``url``: status, headers, body (HTTP errors included, not raised)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


@pytest.fixture
def http_get():
    """The :func:`get` helper: ``http_get(url) -> (status, headers, body)``."""
    return get


@dataclass
class LiveServer:
    url: str
    process: subprocess.Popen[str]
    log_dir: Path

    def stop(self, sig: int = signal.SIGINT) -> tuple[int, str]:
        """Signal the server, wait for it to exit; its exit code and stdout."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            out, _ = self.process.communicate(timeout=40)
        except subprocess.TimeoutExpired:
            self.process.kill()
            out, _ = self.process.communicate()
        return self.process.returncode, out


def wait_for_version(url: str, process: subprocess.Popen[str], deadline_s: float = 60.0) -> dict:
    """Poll ``url``/version until it answers 200; fail if the server exits first."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if process.poll() is not None:
            out, _ = process.communicate()
            pytest.fail(f"server exited with {process.returncode}:\n{out}")
        try:
            status, _, body = get(url + "version", timeout=2)
            if status == 200:
                return json.loads(body)
        except OSError:
            pass
        time.sleep(0.2)
    pytest.fail(f"server at {url} did not answer /version within {deadline_s}s")


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[LiveServer]:
    """``stream-engine serve`` on a free loopback port, with private data and log folders."""
    port = free_port()
    log_dir = tmp_path / "logs"
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAM_ENGINE_")}
    env.update(
        STREAM_ENGINE_LOG_DIR=str(log_dir),
        STREAM_ENGINE_DATA_DIR=str(tmp_path / "data"),
        STREAM_ENGINE_WORKERS="1",
        STREAM_ENGINE_THREADS="2",
    )
    process = subprocess.Popen(
        [*stream_engine_command(), "serve", "--bind", f"127.0.0.1:{port}"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    server = LiveServer(f"http://127.0.0.1:{port}/", process, log_dir)
    try:
        wait_for_version(server.url, process)
        yield server
    finally:
        server.stop(signal.SIGTERM)
