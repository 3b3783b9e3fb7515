"""The ``stream-engine`` command: serve, ingest, load assets, fill demo data, check preload.

Exit codes: 0 success, 1 failure (a file that could not be loaded, a preload with problems, an
engine error), 2 bad usage or bad configuration. Errors print ``error: <message>`` on stderr with
no traceback; an unexpected one also points at the error log, which holds the traceback.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stream_engine import __version__
from stream_engine.errors import ConfigError, StoreError, StoreUnavailable, StreamEngineError

if TYPE_CHECKING:
    from stream_engine.config import Settings

GUNICORN_CONFIG = Path(__file__).resolve().parent.parent / "gunicorn_config.py"
STREAM_KEY_FIELDS = ("subsite", "node", "sensor", "method", "stream")
# Errors that stop a multi-file command instead of skipping to the next file.
_FATAL_ERRORS = (ConfigError, StoreError, StoreUnavailable)

logger = logging.getLogger("stream_engine.cli")


def _error(message: str) -> None:
    print(f"error: {message}", file=sys.stderr, flush=True)


def _store_location(settings: Settings) -> str:
    if settings.STORE == "embedded":
        return f"embedded store in {settings.path('DATA_DIR')}"
    return f"cassandra keyspace {settings.CASSANDRA_KEYSPACE!r} on {', '.join(settings.CASSANDRA_HOSTS)}"


def _open(settings: Settings) -> Any:
    from stream_engine.store import open_store

    return open_store(settings)


def _preload(settings: Settings) -> Any:
    from stream_engine.preload import default_preload

    return default_preload(settings)


def _progress_bars() -> bool:
    """Progress bars only on a terminal; logs and pipes get the plain summary lines."""
    return sys.stderr.isatty()


def _each_file(paths: Sequence[str], load: Callable[[Path], str]) -> int:
    """Run ``load`` on every file, print its summary or its error; 1 if any failed."""
    failed = 0
    for name in paths:
        path = Path(name)
        if not path.is_file():
            _error(f"no such file: {name!r}; check the path")
            failed += 1
            continue
        try:
            print(load(path), flush=True)
        except _FATAL_ERRORS:
            raise
        except StreamEngineError as exc:
            message = str(exc)
            _error(message if path.name in message else f"{name}: {message}")
            failed += 1
    if len(paths) > 1:
        print(f"{len(paths) - failed} of {len(paths)} files loaded" + (f", {failed} failed" if failed else ""))
    return 1 if failed else 0


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    """Replace this process by gunicorn serving the app in the foreground."""
    bind = args.bind or settings.BIND
    settings.replace(BIND=bind)
    if settings.STORE == "cassandra":
        from stream_engine.cli_cassandra import check_schema

        check_schema(settings)
    if not GUNICORN_CONFIG.is_file():
        raise ConfigError(f"gunicorn configuration not found at {GUNICORN_CONFIG}; run from a source checkout")
    argv = [sys.executable, "-m", "gunicorn", "-c", str(GUNICORN_CONFIG), "--bind", bind]
    env = {**os.environ, "STREAM_ENGINE_BIND": bind}
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, argv, env)
    return 0  # not reached


def cmd_ingest(args: argparse.Namespace, settings: Settings) -> int:
    """Ingest OOI NetCDF files, one summary line per file."""
    from stream_engine.ingest import ingest_file

    overrides = {f: getattr(args, f) for f in STREAM_KEY_FIELDS if getattr(args, f) is not None}
    with _open(settings) as store:
        preload = _preload(settings)

        def load(path: Path) -> str:
            report = ingest_file(store, preload, path, overrides=overrides, progress=_progress_bars())
            line = (
                f"{report.path}: {report.key} - {report.records} records, "
                f"{report.inserted} inserted, {report.replaced} replaced, {report.unchanged} unchanged"
            )
            if report.dropped:
                line += f"; dropped: {', '.join(report.dropped)}"
            for note in report.notes:
                line += f"\n  note: {note}"
            return line

        return _each_file(args.files, load)


def cmd_assets_load(args: argparse.Namespace, settings: Settings) -> int:
    """Load asset-management event JSON files."""
    from stream_engine.assets import load_event_file

    with _open(settings) as store:
        return _each_file(
            args.files, lambda path: f"{path}: {load_event_file(store, path, replace=args.replace).describe()}"
        )


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    """Fill an empty store with generated demo streams."""
    from stream_engine.demo import fill_demo, store_is_empty

    with _open(settings) as store:
        if not args.force and not store_is_empty(store):
            print(f"the {_store_location(settings)} already holds data; demo not loaded (--force adds it anyway)")
            return 0
        keys = fill_demo(store, _preload(settings), progress=_progress_bars(), force=args.force)
    for key in keys:
        print(f"  {key}")
    print(f"demo data: {len(keys)} streams written to the {_store_location(settings)}")
    return 0


def cmd_preload_check(args: argparse.Namespace, settings: Settings) -> int:
    """Load a preload folder, resolve every function map; list problems, then notes, then what
    was loaded. Exit 1 only for problems (things that leave a parameter or product unusable)."""
    from stream_engine.preload.check import preload_report

    path = Path(args.path) if args.path else settings.path("PRELOAD")
    report = preload_report(path)
    if report.problems:
        print("problems (a parameter or product is unusable or unresolvable):")
        for problem in report.problems:
            print(f"  {problem}")
    if report.notes:
        print("notes (upstream oddities read around):")
        for note in report.notes:
            print(f"  {note}")
    print(f"preload {path}: {report.summary()}")
    return 1 if report.problems else 0


def cmd_config(args: argparse.Namespace, settings: Settings) -> int:
    """Print settings: every ``KEY = value``, or the bare values of the keys named."""
    from stream_engine.config import PATH_SETTINGS

    def shown(key: str) -> Any:
        return str(settings.path(key)) if key in PATH_SETTINGS else settings[key]

    if not args.keys:
        for key in sorted(settings):
            print(f"{key} = {shown(key)!r}")
        return 0
    for key in args.keys:
        if key not in settings:
            raise ConfigError(f"no setting named {key!r}; `stream-engine config` lists them")
    for key in args.keys:
        value = shown(key)
        print(",".join(value) if isinstance(value, list | tuple) else value)
    return 0


def cmd_version(args: argparse.Namespace, settings: Settings | None) -> int:
    """Print the version."""
    print(f"stream-engine {__version__}")
    return 0


def cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    """Run an export like ``POST /netcdf`` into a folder, with progress."""
    from stream_engine.outputs.command import export_command

    return export_command(args.request, args.format, Path(args.output), settings)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser; each sub-command sets ``run`` to its function."""
    parser = argparse.ArgumentParser(
        prog="stream-engine",
        description="Stream Engine: on-demand data products for ocean observatory streams.",
    )
    parser.add_argument("--version", action="version", version=f"stream-engine {__version__}")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")

    p = sub.add_parser("serve", help="run the server in the foreground (ctrl-C stops it)")
    p.add_argument("--bind", metavar="HOST:PORT", help="address to listen on (default: setting BIND)")
    p.set_defaults(run=cmd_serve)

    p = sub.add_parser("ingest", help="load OOI-layout NetCDF files into the store")
    p.add_argument("files", nargs="+", metavar="FILE")
    for field in STREAM_KEY_FIELDS:
        p.add_argument(f"--{field}", help=f"{field} of the stream (overrides the file's attribute)")
    p.set_defaults(run=cmd_ingest)

    p = sub.add_parser("assets", help="asset management: deployments, calibrations")
    assets = p.add_subparsers(title="assets commands", metavar="COMMAND")
    p.set_defaults(parser=p)
    q = assets.add_parser("load", help="load asset-management event JSON files (merged by deployment)")
    q.add_argument("files", nargs="+", metavar="FILE")
    q.add_argument("--replace", action="store_true",
                   help="make each file the whole record of the instruments it names (removes "
                        "their deployments the file lacks); default: add and replace deployments only")
    q.set_defaults(run=cmd_assets_load)

    from stream_engine.quality.cli import add_commands

    add_commands(sub)

    p = sub.add_parser("demo", help="fill an empty store with generated demo streams")
    p.add_argument("--force", action="store_true", help="load the demo data even if the store holds data")
    p.set_defaults(run=cmd_demo)

    p = sub.add_parser("preload", help="preload dictionary tools")
    preload = p.add_subparsers(title="preload commands", metavar="COMMAND")
    p.set_defaults(parser=p)
    q = preload.add_parser("check", help="load and resolve a preload folder, list its problems")
    q.add_argument("path", nargs="?", help="preload folder (default: setting PRELOAD)")
    q.set_defaults(run=cmd_preload_check)

    from stream_engine.cli_cassandra import add_cassandra_commands

    add_cassandra_commands(sub)

    p = sub.add_parser("export", help="export a request (original JSON body) as NetCDF4, CSV or TSV files")
    p.add_argument("request", metavar="REQUEST", help="JSON request body file, '-' for standard input")
    p.add_argument("--format", choices=("netcdf", "csv", "tsv", "tab"), help="default: the body's format, else netcdf")
    p.add_argument("--output", default=".", metavar="FOLDER", help="folder for the files (default: .)")
    p.set_defaults(run=cmd_export)

    p = sub.add_parser("config", help="print settings (all, or the values of the KEYs named)")
    p.add_argument("keys", nargs="*", metavar="KEY")
    p.set_defaults(run=cmd_config)

    p = sub.add_parser("version", help="print the version")
    p.set_defaults(run=cmd_version)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    run = getattr(args, "run", None)
    if run is None:
        (getattr(args, "parser", None) or parser).print_help(sys.stderr)
        return 2
    if run is cmd_version:
        return cmd_version(args, None)

    from stream_engine.config import load_settings
    from stream_engine.logs import configure_logging, error_log_path

    try:
        settings = load_settings()
        configure_logging(settings)
    except ConfigError as exc:
        _error(str(exc))
        return 2
    except OSError as exc:
        _error(f"cannot open the log: {exc}; check the setting LOG_DIR")
        return 2
    try:
        return run(args, settings)
    except ConfigError as exc:
        _error(str(exc))
        return 2
    except StreamEngineError as exc:
        _error(str(exc))
        return 1
    except KeyboardInterrupt:
        _error("interrupted")
        return 130
    except Exception as exc:
        logger.exception("unexpected error in `stream-engine %s`", " ".join(argv or sys.argv[1:]))
        _error(
            f"unexpected {type(exc).__name__}: {exc}. This is a bug; the traceback is in "
            f"{error_log_path(settings)}"
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
