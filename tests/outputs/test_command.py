"""``stream-engine export``: the same files as the routes, plain progress lines off a terminal."""

from __future__ import annotations

import json
import os
import subprocess

from conftest import stream_body
from live_server import stream_engine_command

from stream_engine.demo import CTD

MAY_1 = 3765657600.0


def _run(args, demo_dir, tmp_path, stdin=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAM_ENGINE_")}
    env.update(STREAM_ENGINE_DATA_DIR=str(demo_dir), STREAM_ENGINE_LOG_DIR=str(tmp_path / "logs"))
    return subprocess.run([*stream_engine_command(), "export", *args], env=env, input=stdin,
                          capture_output=True, text=True, timeout=300)


def test_export_command(demo_dir, tmp_path):
    request = tmp_path / "request.json"
    request.write_text(json.dumps(stream_body(CTD, [13], start=MAY_1, stop=MAY_1 + 20 * 86400)))
    out = tmp_path / "out"
    done = _run([str(request), "--format", "csv", "--output", str(out)], demo_dir, tmp_path)
    assert done.returncode == 0, done.stderr
    assert "exported" in done.stderr and "of" in done.stderr and "\r" not in done.stderr
    files = sorted(out.iterdir())
    assert [p.name[:14] for p in files] == ["deployment0001", "deployment0002"]
    lines = [line for f in files for line in f.read_text().splitlines()[1:]]
    assert f"{len(lines)} records in 2 files" in done.stdout
    assert len(lines) == 20 * 1440 - 5 * 1440  # 2019-05-15..05-19 lie between the deployments


def test_export_command_errors(demo_dir, tmp_path):
    body = json.dumps(stream_body(CTD, start=3000000000.0, stop=3000000100.0))
    done = _run(["-", "--output", str(tmp_path / "none")], demo_dir, tmp_path, stdin=body)
    assert done.returncode == 1 and done.stderr.startswith("error: ") and "no records" in done.stderr
    assert not (tmp_path / "none").exists()
    done = _run([str(tmp_path / "missing.json"), "--output", str(tmp_path)], demo_dir, tmp_path)
    assert done.returncode == 1 and "cannot read the request" in done.stderr
