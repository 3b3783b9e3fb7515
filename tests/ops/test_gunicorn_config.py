"""gunicorn_config.py: each worker bounds its malloc arenas (MALLOC_ARENAS) after the fork."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from stream_engine.config import REPO_ROOT

# gunicorn_config drops stream_engine's modules when loaded: load it in a process of its own,
# with a stand-in for libc that records the mallopt calls
_LOAD = """
import ctypes, json, runpy
calls = []
class Libc:
    def mallopt(self, param, value):
        calls.append([param, value])
        return 1
config = runpy.run_path("gunicorn_config.py")  # (numba, imported there, needs the real CDLL)
ctypes.CDLL = lambda name: Libc()
config["post_fork"](None, None)
print(json.dumps(calls))
"""


@pytest.mark.parametrize(("arenas", "calls"), [("3", [[-8, 3]]), ("0", [])])
def test_post_fork_bounds_malloc_arenas(tmp_path, arenas, calls) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAM_ENGINE_")}
    env.update(STREAM_ENGINE_MALLOC_ARENAS=arenas, STREAM_ENGINE_LOG_DIR=str(tmp_path))
    done = subprocess.run([sys.executable, "-c", _LOAD], cwd=REPO_ROOT, env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == calls  # M_ARENA_MAX is -8
