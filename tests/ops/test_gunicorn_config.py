"""gunicorn_config.py: each worker sets its glibc malloc policy (MALLOC_ARENAS,
MALLOC_MMAP_THRESHOLD, MALLOC_TRIM_THRESHOLD) after the fork; elsewhere it is a no-op, said once."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from stream_engine.config import REPO_ROOT, load_settings
from stream_engine.web.malloc_policy import apply_malloc_policy, glibc

# gunicorn_config drops stream_engine's modules when loaded: load it in a process of its own,
# with a stand-in for the C library (CDLL(None)) that records the mallopt calls; numba, imported
# by the config, loads libraries by name and gets the real ones
_LOAD = """
import ctypes, json, runpy, sys
calls, logged = [], []
class Libc:
    def mallopt(self, param, value):
        calls.append([param, value])
        return 1
class Glibc(Libc):
    def gnu_get_libc_version(self):
        return b"2.36"
class Log:
    def info(self, message, *args):
        logged.append(message % args)
    warning = error = info
class Server:
    log = Log()
    class cfg:
        bind = []
fake = Glibc if sys.argv[1] == "glibc" else Libc
real = ctypes.CDLL
ctypes.CDLL = lambda name, *args, **kwargs: fake() if name is None else real(name, *args, **kwargs)
config = runpy.run_path("gunicorn_config.py")
server = Server()
config["on_starting"](server)
config["post_fork"](server, None)
config["post_fork"](server, None)
print(json.dumps({"calls": calls, "logged": logged}))
"""


def _load_config(tmp_path, libc: str, **settings: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAM_ENGINE_")}
    env.update({f"STREAM_ENGINE_{k}": v for k, v in settings.items()}, STREAM_ENGINE_LOG_DIR=str(tmp_path))
    done = subprocess.run([sys.executable, "-c", _LOAD, libc], cwd=REPO_ROOT, env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


MIB = 1024 * 1024


@pytest.mark.parametrize(("settings", "calls"), [
    ({}, [[-8, 2], [-1, 64 * MIB], [-3, 8 * MIB]]),  # the defaults
    ({"MALLOC_ARENAS": "3", "MALLOC_MMAP_THRESHOLD": "0", "MALLOC_TRIM_THRESHOLD": "0"}, [[-8, 3]]),
    ({"MALLOC_ARENAS": "0", "MALLOC_MMAP_THRESHOLD": str(32 * MIB), "MALLOC_TRIM_THRESHOLD": str(256 * MIB)},
     [[-1, 256 * MIB], [-3, 32 * MIB]]),
    ({"MALLOC_ARENAS": "0", "MALLOC_MMAP_THRESHOLD": "0", "MALLOC_TRIM_THRESHOLD": "0"}, []),
])
def test_post_fork_sets_the_malloc_policy(tmp_path, settings, calls) -> None:
    got = _load_config(tmp_path, "glibc", **settings)
    # M_ARENA_MAX is -8, M_TRIM_THRESHOLD -1, M_MMAP_THRESHOLD -3; each worker sets them once
    assert got["calls"] == calls + calls
    assert not any("glibc" in message for message in got["logged"])


def test_other_c_libraries_are_left_alone_and_told_once(tmp_path) -> None:
    got = _load_config(tmp_path, "musl")  # a mallopt (musl's does nothing), no gnu_get_libc_version
    assert got["calls"] == []
    assert [m for m in got["logged"] if "glibc" in m] == [
        "the C library is not glibc: MALLOC_ARENAS, MALLOC_MMAP_THRESHOLD and MALLOC_TRIM_THRESHOLD have no effect"]


def test_refused_options_are_named() -> None:
    class Refusing:
        def mallopt(self, param: int, value: int) -> int:
            return 0 if param == -3 else 1

    assert apply_malloc_policy(2, 64 * MIB, 128 * MIB, libc=Refusing()) == [
        "could not set MALLOC_MMAP_THRESHOLD to 67108864 (mallopt failed)"]


# In a fresh process: allocate a block half the default mmap threshold, touch it, free it, and
# print how much of it stays resident (RssAnon, KiB)
_FREE_BLOCK = """
import ctypes, sys
from stream_engine.config import load_settings
from stream_engine.web.malloc_policy import apply_malloc_policy
settings = load_settings(environ={})
block = settings.MALLOC_MMAP_THRESHOLD // 2
if sys.argv[1] == "policy":
    assert apply_malloc_policy(0, settings.MALLOC_MMAP_THRESHOLD, settings.MALLOC_TRIM_THRESHOLD) == []
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
def anon():
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("RssAnon:"))
before = anon()
pointer = libc.malloc(block)
ctypes.memset(pointer, 1, block)
libc.free(pointer)
print(anon() - before, block // 1024)
"""


@pytest.mark.skipif(glibc() is None or not os.path.exists("/proc/self/status"), reason="needs glibc and /proc")
def test_the_default_policy_keeps_a_freed_block_for_the_next_request() -> None:
    def kept(mode: str) -> tuple[int, int]:
        done = subprocess.run([sys.executable, "-c", _FREE_BLOCK, mode], cwd=REPO_ROOT, capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        resident, block = map(int, done.stdout.split())
        return resident, block

    resident, block = kept("glibc")  # a fresh process maps it apart and unmaps it when freed
    assert resident < block // 4
    resident, block = kept("policy")  # heap memory, kept below the trim threshold
    assert resident > block * 3 // 4
    assert load_settings(environ={}).MALLOC_MMAP_THRESHOLD > 0
