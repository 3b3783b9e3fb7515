"""manage-streamng against a real daemonized server on a loopback port with private files."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from live_server import free_port

from stream_engine.config import REPO_ROOT

MANAGE = REPO_ROOT / "manage-streamng"
pytestmark = pytest.mark.skipif(
    not (REPO_ROOT / ".venv" / "bin" / "stream-engine").exists(),
    reason="manage-streamng needs the repository's .venv (./run-tests creates it)",
)


@pytest.fixture
def manage(tmp_path: Path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAM_ENGINE_")}
    env.update(
        STREAM_ENGINE_BIND=f"127.0.0.1:{port}",
        STREAM_ENGINE_PID_FILE=str(tmp_path / "run" / "se.pid"),
        STREAM_ENGINE_LOG_DIR=str(tmp_path / "logs"),
        STREAM_ENGINE_DATA_DIR=str(tmp_path / "data"),
        STREAM_ENGINE_WORKERS="1",
        STREAM_ENGINE_THREADS="2",
    )

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(MANAGE), *args], env=env, capture_output=True, text=True, timeout=90)

    run.url = f"http://127.0.0.1:{port}/"
    run.pid_file = tmp_path / "run" / "se.pid"
    run.log_dir = tmp_path / "logs"
    yield run
    if run.pid_file.exists():  # a failed test must not leave its server behind
        pid = int(run.pid_file.read_text().strip())
        os.kill(pid, signal.SIGTERM)


def _workers(status_output: str) -> set[int]:
    line = next(line for line in status_output.splitlines() if line.startswith("workers:"))
    return {int(p) for p in line.split(":", 1)[1].split()}


def _version(url: str) -> dict:
    with urllib.request.urlopen(url + "version", timeout=5) as response:
        return json.loads(response.read())


def test_start_status_refuse_reload_stop(manage) -> None:
    result = manage("status")
    assert result.returncode == 3, result.stdout + result.stderr
    assert "not running" in result.stdout

    result = manage("start")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"at {manage.url} (DAP datasets at {manage.url}dap/)" in result.stdout
    pid = int(manage.pid_file.read_text().strip())
    assert _version(manage.url)["name"] == "stream-engine"

    result = manage("status")
    assert result.returncode == 0
    assert f"Stream Engine running (pid {pid}) at {manage.url}" in result.stdout
    old_workers = _workers(result.stdout)
    assert len(old_workers) == 1

    result = manage("start")
    assert result.returncode == 1
    assert f"already running (pid {pid})" in result.stderr
    assert int(manage.pid_file.read_text().strip()) == pid

    result = manage("reload")
    assert result.returncode == 0, result.stderr
    new_workers: set[int] = set()
    for _ in range(150):  # the old worker exits once the new one has booted
        new_workers = _workers(manage("status").stdout)
        if new_workers and not new_workers & old_workers:
            break
        time.sleep(0.2)
    assert len(new_workers) == 1 and not new_workers & old_workers
    assert _version(manage.url)["name"] == "stream-engine"
    assert int(manage.pid_file.read_text().strip()) == pid

    result = manage("stop")
    assert result.returncode == 0, result.stderr
    assert "stopped" in result.stdout
    assert not manage.pid_file.exists()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)

    result = manage("status")
    assert result.returncode == 3
    access = (manage.log_dir / "stream_engine.access.log").read_text()
    assert re.search(r'"GET /version HTTP/1\.1" 200 ', access)


def test_stale_pid_file_is_cleaned(manage) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    manage.pid_file.parent.mkdir(parents=True)
    manage.pid_file.write_text(f"{dead.pid}\n")
    result = manage("status")
    assert result.returncode == 3
    assert "stale pid file" in result.stderr
    assert not manage.pid_file.exists()


def test_reload_and_stop_when_not_running(manage) -> None:
    assert manage("reload").returncode == 3
    result = manage("stop")
    assert result.returncode == 0
    assert "not running" in result.stdout


def test_start_fails_fast_naming_the_setting_when_a_silent_listener_holds_the_port(manage) -> None:
    import socket

    host, port = manage.url.removeprefix("http://").rstrip("/").split(":")
    with socket.socket() as silent:  # accepts connections (backlog) and never answers
        silent.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        silent.bind((host, int(port)))
        silent.listen(5)
        started = time.monotonic()
        result = manage("start")
        took = time.monotonic() - started
    assert result.returncode != 0
    assert "STREAM_ENGINE_BIND" in result.stderr and f"{host}:{port}" in result.stderr
    assert took < 30, f"start took {took:.0f} s"
    assert not manage.pid_file.exists(), "no pid file is left behind"


def test_stop_never_signals_a_process_it_did_not_start(manage) -> None:
    # another gunicorn on this machine (its command line says gunicorn, as the old check wanted)
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "gunicorn",
                              "-c", "/elsewhere/gunicorn_config.py"])
    try:
        manage.pid_file.parent.mkdir(parents=True, exist_ok=True)
        manage.pid_file.write_text(f"{other.pid}\n")
        result = manage("stop")
        assert result.returncode == 0 and "not running" in result.stdout
        assert other.poll() is None, "stop signalled a process it did not start"
        assert not manage.pid_file.exists()
        manage.pid_file.write_text(f"{other.pid}\n")
        assert manage("status").returncode == 3
        assert other.poll() is None
    finally:
        other.kill()
        other.wait()
        manage.pid_file.unlink(missing_ok=True)
