"""Evidence from the Cassandra nodes the tests start, for when a node dies or a test fails.

A node lives in a temporary folder that its fixture deletes at the end, logs included. When the
node died, or a test failed while it ran, :func:`keep_logs` first copies what explains it (the
node's ``logs/``: ``system.log``, ``stdout.log`` with the JVM's last words, ``gc.log``; any JVM
crash report; its ``cassandra.yaml``) to a folder under the system temporary directory, and
pytest's terminal summary names that folder. Data files and heap dumps are never copied.

The hooks here (imported by ``tests/conftest.py``) also notice a node that died under the tests:
the failing test's report says so, and every later Cassandra test fails at once with that reason
instead of each waiting for its own connection errors.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

#: Where kept logs go: one sub-folder per node and session, the newest :data:`KEEP_AT_MOST` kept.
KEPT_ROOT = Path(tempfile.gettempdir()) / "stream-engine-cassandra-logs"
KEEP_AT_MOST = 10
#: A log file longer than this is kept as its last this-many bytes (the end is what explains a death).
FILE_BYTES_AT_MOST = 4 * 1024 * 1024
#: Lines of a node's own output that say why it stopped (JVM exit on OutOfMemoryError, crashes...);
#: narrow enough that the logged JVM arguments (-XX:+ExitOnOutOfMemoryError, hs_err_pid%p) are not.
LAST_WORDS = re.compile(r"java\.lang\.OutOfMemoryError|Terminating due to|A fatal error has been detected|"
                        r"hs_err_pid\d+\.log|SIGSEGV|SIGBUS|^(ERROR|FATAL)\b|Exception in thread|"
                        r"Map failed|unable to create native thread")


def pid_file(folder: Path) -> Path:
    """The pid file ``tools/cassandra/start.sh`` writes in a node's folder."""
    return folder / "cassandra.pid"


def node_running(folder: Path) -> bool:
    """Whether the CassandraDaemon started in ``folder`` still runs (by its pid file).

    The pid must belong to that folder's daemon (its ``-Dcassandra.config`` names the folder):
    after a death the number may already be another process's.
    """
    try:
        pid = int(pid_file(folder).read_text().strip())
    except (OSError, ValueError):
        return False
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except FileNotFoundError:
        return False
    except OSError:  # no /proc (not Linux): the pid alone has to do
        try:
            os.kill(pid, 0)
        except OSError:
            return False
        return True
    return f"-Dcassandra.config=file://{folder}/conf/cassandra.yaml" in command and "CassandraDaemon" in command


def _tail_lines(path: Path, limit_bytes: int = 256 * 1024) -> list[str]:
    try:
        with path.open("rb") as handle:
            handle.seek(max(0, path.stat().st_size - limit_bytes))
            return handle.read().decode(errors="replace").splitlines()
    except OSError:
        return []


def last_words(folder: Path, at_most: int = 12) -> list[str]:
    """The lines of a node's ``stdout.log`` and ``system.log`` ends that say why it stopped."""
    logs = folder / "logs"
    found = [line[:400] for name in ("stdout.log", "system.log") for line in _tail_lines(logs / name)
             if LAST_WORDS.search(line)]
    crashes = sorted(p.name for p in logs.glob("hs_err*.log")) + sorted(p.name for p in folder.glob("hs_err*.log"))
    found += [f"JVM crash report: {name}" for name in crashes]
    return found[-at_most:]


def _copy_tail(source: Path, target: Path) -> None:
    size = source.stat().st_size
    if size <= FILE_BYTES_AT_MOST:
        shutil.copyfile(source, target)
        return
    with source.open("rb") as src, target.open("wb") as dst:
        src.seek(size - FILE_BYTES_AT_MOST)
        dst.write(f"[... first {size - FILE_BYTES_AT_MOST} bytes left out ...]\n".encode())
        shutil.copyfileobj(src, dst)


def _kept_files(folder: Path) -> Iterator[Path]:
    logs = folder / "logs"
    if logs.is_dir():
        yield from (p for p in sorted(logs.iterdir()) if p.is_file() and p.suffix != ".hprof")
    yield from sorted(folder.glob("hs_err*.log"))  # a crash report written outside logs/
    if (folder / "conf" / "cassandra.yaml").is_file():
        yield folder / "conf" / "cassandra.yaml"


def keep_logs(folder: Path, reason: str) -> Path:
    """Copy the logs of the node in ``folder`` to a new folder under :data:`KEPT_ROOT`; its path.

    ``reason`` (why they are kept) is written beside them in ``REASON.txt``, with the node's last
    words. Older kept folders beyond the newest :data:`KEEP_AT_MOST` are deleted.
    """
    KEPT_ROOT.mkdir(parents=True, exist_ok=True)
    target = KEPT_ROOT / f"{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}-{folder.parent.name}-{folder.name}"
    target.mkdir()
    for source in _kept_files(folder):
        _copy_tail(source, target / source.name)
    (target / "REASON.txt").write_text("\n".join([reason, "", *last_words(folder)]) + "\n")
    kept = sorted((p for p in KEPT_ROOT.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime)
    for old in kept[:-KEEP_AT_MOST]:
        shutil.rmtree(old, ignore_errors=True)
    return target


@dataclass
class Postmortem:
    """What this session knows about its own node's health, and which logs it kept."""

    folder: Path | None = None  # the session node's folder (None: no node started by this session)
    died_during: str | None = None  # the test during (or before) which the node was found dead
    kept: list[str] = field(default_factory=list)  # "why: where" lines for the terminal summary

    def death(self) -> str:
        """The message for a dead session node, with its last words."""
        assert self.folder is not None
        words = last_words(self.folder)
        return (f"the session's Cassandra node (folder {self.folder}) is no longer running; found dead during "
                f"{self.died_during}. Its logs are kept (path in the terminal summary). Its last words:\n  "
                + ("\n  ".join(words) if words else "(none in stdout.log/system.log: killed from outside?)"))


POSTMORTEM = pytest.StashKey[Postmortem]()


def postmortem(config: pytest.Config) -> Postmortem:
    """This session's :class:`Postmortem` (created on first use)."""
    return config.stash.setdefault(POSTMORTEM, Postmortem())


def keep_node_logs(config: pytest.Config, folder: Path, *, died: bool, failed: bool) -> None:
    """After a node's stop: keep its logs if it had ``died`` before, or tests ``failed`` meanwhile."""
    if not (died or failed):
        return
    reason = "the node died before the tests stopped it" if died else "tests failed while the node ran"
    kept = keep_logs(folder, reason)
    postmortem(config).kept.append(f"{folder.name} ({reason}): {kept}")


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """A Cassandra test after the session's node died fails at once, saying so."""
    state = postmortem(item.config)
    if state.folder is None or item.get_closest_marker("cassandra") is None:
        return
    if state.died_during is None and not node_running(state.folder):
        state.died_during = f"the setup of {item.nodeid}"
    if state.died_during is not None:
        pytest.fail(state.death(), pytrace=False)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """A failing Cassandra test whose node has died gets a report section saying so."""
    report = yield
    state = postmortem(item.config)
    if (report.failed and state.folder is not None and state.died_during is None
            and item.get_closest_marker("cassandra") is not None and not node_running(state.folder)):
        state.died_during = item.nodeid
        report.sections.append(("Cassandra node died", state.death()))
    return report


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Name the folders where Cassandra node logs were kept."""
    state = postmortem(terminalreporter.config)
    if state.kept:
        terminalreporter.write_sep("-", "Cassandra node logs kept")
        for line in state.kept:
            terminalreporter.write_line(line)
