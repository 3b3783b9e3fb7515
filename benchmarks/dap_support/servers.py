"""Server processes for the benchmark: start on a free loopback port, wait, measure memory, stop.

Memory is read from ``/proc/<pid>/status`` (``VmRSS``, ``VmHWM``, and ``RssAnon``, the private
part of the resident set: ``VmRSS`` also counts file pages a process maps, such as a database
file read through ``mmap``) for the server's master and every descendant (gunicorn workers),
found through ``/proc/<pid>/stat`` parent ids.
"""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

HOST = "127.0.0.1"


def free_port() -> int:
    """A TCP port on the loopback interface that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def status_kb(pid: int, field_name: str) -> int:
    """A ``/proc/<pid>/status`` field in kB (``VmRSS``, ``VmHWM``...); 0 when the process is gone."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith(field_name + ":"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        pass
    return 0


def _parent_ids() -> dict[int, int]:
    parents = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                stat = fh.read()
        except OSError:
            continue
        # the command name (field 2) may hold spaces and parentheses: split after its last ')'
        parents[int(entry)] = int(stat[stat.rindex(")") + 2 :].split()[1])
    return parents


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its living descendants."""
    parents = _parent_ids()
    tree, frontier = [pid], [pid]
    while frontier:
        frontier = [child for child, parent in parents.items() if parent in frontier]
        tree.extend(frontier)
    return tree


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds used so far by ``pid`` and its living descendants."""
    total = 0
    for member in process_tree(pid):
        try:
            with open(f"/proc/{member}/stat") as fh:
                stat = fh.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / os.sysconf("SC_CLK_TCK")


@dataclass
class MemorySample:
    """Peak memory of a process tree over a sampling window, in MiB."""

    peak_tree_rss: float = 0.0
    peak_tree_anon: float = 0.0
    start_tree_rss: float = 0.0
    worker_hwm: dict[int, float] = field(default_factory=dict)
    samples: int = 0

    @property
    def peak_worker_hwm(self) -> float:
        """Largest peak resident set (``VmHWM``) of any worker (descendant) process."""
        return max(self.worker_hwm.values(), default=0.0)


class MemorySampler:
    """Samples the summed ``VmRSS`` of a process tree every ``interval`` seconds in a thread."""

    def __init__(self, pid: int, interval: float = 0.02) -> None:
        self.pid = pid
        self.interval = interval
        self.result = MemorySample()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._tree = process_tree(pid)

    def tree_rss_mib(self, field_name: str = "VmRSS") -> float:
        return sum(status_kb(p, field_name) for p in self._tree) / 1024.0

    def _run(self) -> None:
        ticks = 0
        while not self._stop.is_set():
            if ticks % 50 == 0:
                self._tree = process_tree(self.pid)
            rss = self.tree_rss_mib()
            self.result.peak_tree_rss = max(self.result.peak_tree_rss, rss)
            anon = self.tree_rss_mib("RssAnon")
            self.result.peak_tree_anon = max(self.result.peak_tree_anon, anon)
            self.result.samples += 1
            ticks += 1
            self._stop.wait(self.interval)

    def __enter__(self) -> MemorySampler:
        self.result.start_tree_rss = self.tree_rss_mib()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        for pid in process_tree(self.pid)[1:]:
            self.result.worker_hwm[pid] = status_kb(pid, "VmHWM") / 1024.0


class ServerProcess:
    """A server started in its own session, logging to ``log``; stop() ends it and its workers."""

    def __init__(self, name: str, argv: list[str], port: int, ready_path: str, log: Path,
                 env: dict[str, str] | None = None, cwd: Path | None = None) -> None:
        self.name = name
        self.argv = argv
        self.port = port
        self.ready_path = ready_path
        self.log = log
        self.env = env
        self.cwd = cwd
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, timeout: float = 60.0) -> ServerProcess:
        """Start and wait until ``ready_path`` answers (any HTTP status)."""
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                self.argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=self.env, cwd=self.cwd, start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode} at start; "
                                   f"see {self.log}:\n{self.log_tail()}")
            try:
                conn = http.client.HTTPConnection(HOST, self.port, timeout=5)
                conn.request("GET", self.ready_path)
                conn.getresponse().read()
                conn.close()
                time.sleep(0.5)  # let the other workers finish booting too
                return self
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"{self.name} did not answer within {timeout:.0f} s; see {self.log}")

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, grace: float = 10.0) -> None:
        """TERM the master (gunicorn stops its workers), then KILL the session if it lingers."""
        if self.proc is None or self.proc.poll() is not None:
            return
        pgid = self.proc.pid  # start_new_session: the master leads its own process group
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(grace)
        except subprocess.TimeoutExpired:
            os.killpg(pgid, signal.SIGKILL)
            self.proc.wait(5)
        try:
            os.killpg(pgid, signal.SIGKILL)  # a worker that outlived its master
        except ProcessLookupError:
            pass

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
