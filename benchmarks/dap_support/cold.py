"""Cold requests measured on both sides of the socket: wall time, the server's CPU, the client's.

The server and the benchmark's client share the machine's cores, so a request's wall time cannot
go below the CPU both spend on it over the number of cores (its *floor*). The server's CPU is
user + sys of its process tree (``/proc``, clock ticks: 10 ms), the client's the CPU time of the
thread that made the request (:attr:`~dap_support.load.Download.client_cpu`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from dap_support.load import Download, download
from dap_support.servers import ServerProcess, tree_cpu_seconds

#: The cores this process (and the servers it starts) may run on.
CORES = len(os.sched_getaffinity(0))


def get(server: ServerProcess, path: str, keep: bool = False, reader: str = "readinto") -> Download:
    """GET ``path`` (see :func:`~dap_support.load.download`); anything but 200 ends the run."""
    got = download(server.port, path, keep=keep, timeout=1800, reader=reader)
    if got.status != 200:
        raise SystemExit(f"GET {path} answered {got.status}; see {server.log}")
    return got


@dataclass(frozen=True)
class Cold:
    """One cold request: its wall time, and the CPU (user + sys) the server's process tree and
    the client's thread spent over it."""

    seconds: float
    server_cpu: float
    client_cpu: float

    @property
    def floor(self) -> float:
        """The wall time the machine's cores allow for that much CPU: (server + client) / cores."""
        return (self.server_cpu + self.client_cpu) / CORES

    def __str__(self) -> str:
        return (f"{self.seconds:.3f}s (CPU: server {self.server_cpu:.2f}s, client {self.client_cpu:.3f}s; "
                f"{CORES}-core floor {self.floor:.3f}s)")


def cold_get(server: ServerProcess, path: str, reader: str, keep: bool = True) -> tuple[Cold, Download]:
    """``get`` with the server's CPU (``/proc`` clock ticks, 10 ms) and the client's over it."""
    before = tree_cpu_seconds(server.pid)
    got = get(server, path, keep=keep, reader=reader)
    return Cold(got.seconds, tree_cpu_seconds(server.pid) - before, got.client_cpu), got


def in_turn(readers: list[str], round_number: int) -> list[str]:
    """The readers in the order of one round: reversed every other round (A B, B A, ...)."""
    return readers if round_number % 2 == 0 else readers[::-1]
