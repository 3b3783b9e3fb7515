"""`stream-engine` sub-commands wired to fake engine modules: output, exit codes, no tracebacks."""

from __future__ import annotations

import os
import subprocess
import sys
import types
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import stream_engine.preload
import stream_engine.store
from stream_engine import __version__, cli
from stream_engine.errors import IngestError, StoreUnavailable
from stream_engine.preload.check import PreloadReport, preload_report
from stream_engine.store.base import StreamKey

KEY = StreamKey("CE01ISSM", "SBD17", "06-CTDBPC000", "telemetered", "ctdbp_cdef_dcl_instrument")


class FakeStore:
    def __init__(self) -> None:
        self.closed = False

    def __enter__(self) -> FakeStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.closed = True


@dataclass
class Report:
    path: Path
    key: StreamKey
    records: int
    inserted: int
    replaced: int
    dropped: list[str] = field(default_factory=list)
    notes: tuple[str, ...] = ()
    unchanged: int = 0


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> types.SimpleNamespace:
    """Private settings folders, a fake store and preload; returns what the fakes saw."""
    for name in list(os.environ):
        if name.startswith("STREAM_ENGINE_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("STREAM_ENGINE_LOG_DIR", str(tmp_path / "logs"))
    monkeypatch.setenv("STREAM_ENGINE_DATA_DIR", str(tmp_path / "data"))
    seen = types.SimpleNamespace(store=FakeStore(), preload=object(), calls=[], tmp=tmp_path)
    monkeypatch.setattr(stream_engine.store, "open_store", lambda settings: seen.store)
    monkeypatch.setattr(stream_engine.preload, "default_preload", lambda settings: seen.preload, raising=False)
    return seen


def fake_module(monkeypatch: pytest.MonkeyPatch, name: str, **functions: object) -> None:
    module = types.ModuleType(name)
    for attr, value in functions.items():
        setattr(module, attr, value)
    monkeypatch.setitem(sys.modules, name, module)


def files(tmp_path: Path, *names: str) -> list[str]:
    paths = []
    for name in names:
        path = tmp_path / name
        path.write_bytes(b"x")
        paths.append(str(path))
    return paths


def test_ingest_reports_each_file_and_continues_after_a_failure(env, monkeypatch, capsys) -> None:
    def ingest_file(store, preload, path, overrides, progress):
        env.calls.append((store, preload, path.name, overrides, progress))
        if path.name == "bad.nc":
            raise IngestError(f"{path.name} has no 'stream' attribute; pass --stream")
        return Report(path, KEY, 100, 90, 10, ["ctdbp_seawater_temperature"])

    fake_module(monkeypatch, "stream_engine.ingest", ingest_file=ingest_file)
    good, bad, other = files(env.tmp, "good.nc", "bad.nc", "other.nc")
    code = cli.main(["ingest", good, bad, other, "--subsite", "CE01ISSM"])
    out, err = capsys.readouterr()
    assert code == 1
    assert [c[2] for c in env.calls] == ["good.nc", "bad.nc", "other.nc"]
    assert env.calls[0][:2] == (env.store, env.preload)
    assert env.calls[0][3:] == ({"subsite": "CE01ISSM"}, False)  # no progress bars: not a terminal
    assert f"{good}: {KEY} - 100 records, 90 inserted, 10 replaced, 0 unchanged; dropped: ctdbp_seawater_temperature" in out
    assert "2 of 3 files loaded, 1 failed" in out
    assert err == "error: bad.nc has no 'stream' attribute; pass --stream\n"
    assert env.store.closed


def test_ingest_missing_file_is_an_error_without_a_call(env, monkeypatch, capsys) -> None:
    fake_module(monkeypatch, "stream_engine.ingest", ingest_file=lambda *a, **k: env.calls.append(a))
    code = cli.main(["ingest", str(env.tmp / "absent.nc")])
    _, err = capsys.readouterr()
    assert code == 1
    assert env.calls == []
    assert "error: no such file:" in err and "absent.nc" in err


def test_unexpected_error_points_at_the_log_without_traceback(env, monkeypatch, capsys) -> None:
    def ingest_file(*args, **kwargs):
        raise RuntimeError("disk on fire")

    fake_module(monkeypatch, "stream_engine.ingest", ingest_file=ingest_file)
    code = cli.main(["ingest", *files(env.tmp, "a.nc")])
    _, err = capsys.readouterr()
    log = env.tmp / "logs" / "stream_engine.error.log"
    assert code == 1
    assert "error: unexpected RuntimeError: disk on fire" in err
    assert str(log) in err
    assert "Traceback" not in err
    assert "Traceback (most recent call last)" in log.read_text()


def test_store_unavailable_is_a_clean_error(env, monkeypatch, capsys) -> None:
    def refuse(settings):
        raise StoreUnavailable("cannot reach cassandra at db1:9042; check CASSANDRA_HOSTS")

    monkeypatch.setattr(stream_engine.store, "open_store", refuse)
    fake_module(monkeypatch, "stream_engine.assets", load_event_file=lambda store, path: 1)
    code = cli.main(["assets", "load", *files(env.tmp, "events.json")])
    _, err = capsys.readouterr()
    assert code == 1
    assert err == "error: cannot reach cassandra at db1:9042; check CASSANDRA_HOSTS\n"


def test_config_error_exits_2(env, monkeypatch, capsys) -> None:
    monkeypatch.setenv("STREAM_ENGINE_WORKERS", "none")
    assert cli.main(["demo"]) == 2
    assert capsys.readouterr().err == "error: setting WORKERS = 'none' is invalid: expected a positive integer\n"


@pytest.mark.parametrize("replace", [False, True])
def test_assets_load_reports_the_merge_and_bad_files(env, monkeypatch, capsys, replace) -> None:
    from stream_engine.asset_merge import MergeSummary

    def load_event_file(store, path, replace):
        env.calls.append(replace)
        if path.name == "broken.json":
            raise IngestError("line 3: expected a list of events")
        return MergeSummary(added=[("A-B-01-C", 3)], unchanged=[("A-B-01-C", 1), ("A-B-01-C", 2)])

    fake_module(monkeypatch, "stream_engine.assets", load_event_file=load_event_file)
    ok, broken = files(env.tmp, "ok.json", "broken.json")
    code = cli.main(["assets", "load", ok, broken, *(["--replace"] if replace else [])])
    out, err = capsys.readouterr()
    assert code == 1
    assert env.calls == [replace, replace]
    assert f"{ok}: 3 deployments: 1 added (A-B-01-C #3), 0 replaced, 2 unchanged (A-B-01-C #1, A-B-01-C #2)" in out
    assert err == f"error: {broken}: line 3: expected a list of events\n"  # path added when missing


@pytest.mark.parametrize(("empty", "force", "filled"), [(True, False, True), (False, False, False), (False, True, True)])
def test_demo_fills_only_an_empty_store_unless_forced(env, monkeypatch, capsys, empty, force, filled) -> None:
    def fill_demo(store, preload, progress, force=False):
        env.calls.append((store, preload, progress))
        return [KEY]

    fake_module(monkeypatch, "stream_engine.demo", fill_demo=fill_demo, store_is_empty=lambda store: empty)
    code = cli.main(["demo", *(["--force"] if force else [])])
    out, _ = capsys.readouterr()
    assert code == 0
    if filled:
        assert env.calls == [(env.store, env.preload, False)]
        assert f"  {KEY}\n" in out and "demo data: 1 streams written" in out
    else:
        assert env.calls == []
        assert "already holds data" in out


def _report(problems: list[str], notes: list[str]):
    return PreloadReport(problems, notes, {"parameters": 3781, "products": 312, "streams": 572})


def test_preload_check_separates_problems_from_notes_and_ends_with_what_it_loaded(env, monkeypatch, capsys) -> None:
    problems = ["DICT3: temporal parameter PD999 does not exist", "PD7: unknown value encoding ''"]
    notes = ["BinSizes.csv line 4: stream 'x' listed again with 720 minutes (was 1440); the last row wins"]
    fake_module(monkeypatch, "stream_engine.preload.check",
                preload_report=lambda path: env.calls.append(path) or _report(problems, notes))
    code = cli.main(["preload", "check", str(env.tmp)])
    out, _ = capsys.readouterr()
    assert code == 1
    assert env.calls == [env.tmp]
    assert out.splitlines() == [
        "problems (a parameter or product is unusable or unresolvable):",
        *(f"  {p}" for p in problems),
        "notes (upstream oddities read around):",
        f"  {notes[0]}",
        f"preload {env.tmp}: loaded 3781 parameters, 312 products, 572 streams; 2 problems, 1 note",
    ]


def test_preload_check_with_notes_only_succeeds_and_defaults_to_the_setting(env, monkeypatch, capsys) -> None:
    fake_module(monkeypatch, "stream_engine.preload.check",
                preload_report=lambda path: env.calls.append(path) or _report([], ["a note"]))
    assert cli.main(["preload", "check"]) == 0
    assert env.calls == [cli.GUNICORN_CONFIG.parent / "preload_database"]
    assert capsys.readouterr().out.splitlines()[-1].endswith("572 streams; 0 problems, 1 note")


def test_preload_report_on_the_upstream_dictionary(ooi_dir) -> None:
    report = preload_report(ooi_dir / "preload")
    assert report.loaded == {"parameters": 3781, "products": 312, "streams": 572, "functions": 219,
                             "nominal depths": 926}
    assert "PD906 reference_designator: unknown value encoding ''; no fill value, no dtype" in report.problems
    assert any(n.startswith("PFID153 SALSURF_L2: args") and "read as" in n for n in report.notes)
    assert not any("read as" in p or "the last row wins" in p for p in report.problems)


def test_serve_execs_gunicorn_with_the_config(env, monkeypatch) -> None:
    seen = {}

    def fake_execve(path, argv, environ):
        seen.update(path=path, argv=argv, env=environ)

    monkeypatch.setattr(cli.os, "execve", fake_execve)
    assert cli.main(["serve", "--bind", "127.0.0.1:1234"]) == 0
    assert seen["argv"] == [sys.executable, "-m", "gunicorn", "-c", str(cli.GUNICORN_CONFIG), "--bind", "127.0.0.1:1234"]
    assert seen["env"]["STREAM_ENGINE_BIND"] == "127.0.0.1:1234"


def test_serve_rejects_a_bad_bind(env, capsys) -> None:
    assert cli.main(["serve", "--bind", "localhost"]) == 2
    assert "BIND = 'localhost'" in capsys.readouterr().err


def test_version_and_config(env, capsys) -> None:
    assert cli.main(["version"]) == 0
    assert capsys.readouterr().out == f"stream-engine {__version__}\n"
    assert cli.main(["config", "LOG_DIR", "WORKERS"]) == 0
    assert capsys.readouterr().out == f"{env.tmp / 'logs'}\n2\n"
    assert cli.main(["config", "NOPE"]) == 2
    assert "no setting named 'NOPE'" in capsys.readouterr().err


def test_no_command_prints_help(env, capsys) -> None:
    assert cli.main([]) == 2
    assert "usage: stream-engine" in capsys.readouterr().err


def test_console_script_config_error_has_no_traceback(tmp_path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAM_ENGINE_")}
    env["STREAM_ENGINE_STORE"] = "sqlite"
    result = subprocess.run(
        [sys.executable, "-m", "stream_engine.cli", "demo"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert result.stderr == "error: setting STORE = 'sqlite' is invalid: expected 'embedded' or 'cassandra'\n"
