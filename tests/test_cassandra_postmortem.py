"""What the tests keep of a dead Cassandra node, checked on a node folder laid out by hand (no Java)."""

from __future__ import annotations

import os
from pathlib import Path

import cassandra_postmortem
import pytest
from cassandra_postmortem import keep_logs, last_words, node_running

OOM = "Terminating due to java.lang.OutOfMemoryError: Java heap space"


@pytest.fixture()
def node_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(cassandra_postmortem, "KEPT_ROOT", tmp_path / "kept")
    folder = tmp_path / "stream-engine-cassandra-x" / "node1"
    for sub in ("logs", "conf", "data/ks/table"):
        (folder / sub).mkdir(parents=True)
    (folder / "conf" / "cassandra.yaml").write_text("cluster_name: stream-engine-test\n")
    (folder / "data" / "ks" / "table" / "nb-1-big-Data.db").write_bytes(b"\0" * 1000)
    (folder / "logs" / "stdout.log").write_text(f"WARNING: System::setSecurityManager is deprecated\n{OOM}\n")
    with (folder / "logs" / "system.log").open("w") as log:
        log.write("INFO  [main] first line of a long log\n")
        log.write("INFO  [main] CassandraDaemon.java:619 - JVM Arguments: [-XX:+ExitOnOutOfMemoryError, "
                  "-XX:ErrorFile=/tmp/x/logs/hs_err_pid%p.log]\n")  # not last words
        log.write("INFO  [main] routine\n" * 300_000)  # ~6 MB
        log.write("ERROR [MemtableFlushWriter:1] flush failed\n")
    (folder / "logs" / "java_pid1.hprof").write_bytes(b"\0" * 1000)
    (folder / "hs_err_pid42.log").write_text("# A fatal error has been detected by the Java Runtime Environment\n")
    return folder


def test_last_words_are_the_lines_that_say_why_the_node_stopped(node_folder: Path) -> None:
    assert last_words(node_folder) == [OOM, "ERROR [MemtableFlushWriter:1] flush failed",
                                       "JVM crash report: hs_err_pid42.log"]


def test_kept_logs_are_the_logs_crash_report_and_config_with_long_logs_cut_to_their_end(node_folder: Path) -> None:
    kept = keep_logs(node_folder, "the node died before the tests stopped it")
    assert kept.parent == cassandra_postmortem.KEPT_ROOT
    assert sorted(p.name for p in kept.iterdir()) == [
        "REASON.txt", "cassandra.yaml", "hs_err_pid42.log", "stdout.log", "system.log"]  # no data, no heap dump
    assert (kept / "REASON.txt").read_text().splitlines()[:3] == ["the node died before the tests stopped it", "", OOM]
    system = (kept / "system.log").read_bytes()
    assert len(system) <= cassandra_postmortem.FILE_BYTES_AT_MOST + 100
    assert system.startswith(b"[... first ") and b"first line of a long log" not in system
    assert system.endswith(b"ERROR [MemtableFlushWriter:1] flush failed\n")
    assert (kept / "stdout.log").read_text() == (node_folder / "logs" / "stdout.log").read_text()


def test_only_the_newest_kept_folders_stay(node_folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cassandra_postmortem, "KEEP_AT_MOST", 2)
    root = cassandra_postmortem.KEPT_ROOT
    for i in range(3):
        old = root / f"old{i}"
        old.mkdir(parents=True)
        os.utime(old, (1_000_000 + i, 1_000_000 + i))
    kept = keep_logs(node_folder, "tests failed while the node ran")
    assert sorted(p.name for p in root.iterdir()) == sorted(["old2", kept.name])


def test_a_node_runs_only_while_its_pid_file_names_its_own_daemon(node_folder: Path) -> None:
    assert not node_running(node_folder)  # no pid file
    (node_folder / "cassandra.pid").write_text(f"{os.getpid()}\n")  # a live pid, but not a CassandraDaemon
    assert not node_running(node_folder)
    (node_folder / "cassandra.pid").write_text("not a pid\n")
    assert not node_running(node_folder)
