"""``stream-engine cassandra ...``: the Cassandra backend's commands, and the schema check that
``stream-engine serve`` and ``manage-streamng start`` run before serving a keyspace."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from stream_engine.errors import ConfigError, StoreUnavailable

if TYPE_CHECKING:
    from stream_engine.config import Settings

__all__ = ["add_cassandra_commands", "check_schema"]


def _preload(settings: Settings) -> Any:
    from stream_engine.preload import default_preload

    return default_preload(settings)


def cmd_schema(args: argparse.Namespace, settings: Settings) -> int:
    """Print the keyspace's CQL, create what is missing (``--apply``) or compare (``--check``)."""
    from stream_engine.store.cassandra import from_settings
    from stream_engine.store.cassandra_admin import apply_schema, schema_problems, schema_statements

    with from_settings(settings) as store:
        if args.check:
            problems = schema_problems(store, _preload(settings))
            for problem in problems:
                print(problem)
            print(f"keyspace {store.keyspace!r}: " + (f"{len(problems)} differences from the dictionary"
                                                      if problems else "matches the dictionary"))
            return 1 if problems else 0
        if not args.apply:
            print(";\n\n".join(schema_statements(store, _preload(settings))) + ";")
            return 0
        run = apply_schema(store, _preload(settings))
        print(f"keyspace {store.keyspace!r} on {store.conn.describe()}: {len(run)} statements run"
              + ("" if run else " (nothing was missing)"))
        return 0


def check_schema(settings: Settings) -> None:
    """Refuse to serve a keyspace whose layout differs from the dictionary (``ConfigError`` naming
    the differences); an unreachable cluster only warns (the server answers 503 until it is back).
    """
    from stream_engine.store.cassandra import from_settings
    from stream_engine.store.cassandra_admin import schema_problems

    with from_settings(settings) as store:
        try:
            problems = schema_problems(store, _preload(settings))
        except StoreUnavailable as exc:
            print(f"warning: {exc}; serving anyway (requests answer 503 until it is back)", file=sys.stderr)
            return
    if problems:
        raise ConfigError(
            f"the Cassandra keyspace {settings.CASSANDRA_KEYSPACE!r} does not match the preload "
            f"dictionary: {'; '.join(problems[:10])}" + (f"; and {len(problems) - 10} more" if len(problems) > 10 else "")
            + ". Run `stream-engine cassandra schema --apply` to create what is missing."
        )


def cmd_preflight(args: argparse.Namespace, settings: Settings) -> int:
    """The check ``stream-engine serve`` runs before serving (``manage-streamng start`` runs it)."""
    if settings.STORE == "cassandra":
        check_schema(settings)
    return 0


def cmd_reindex(args: argparse.Namespace, settings: Settings) -> int:
    """Build the partition index and stream columns of a keyspace written by OOI's tools."""
    from stream_engine.store.cassandra import from_settings
    from stream_engine.store.cassandra_reindex import reindex

    with from_settings(settings) as store:
        try:
            reports = reindex(store, _preload(settings), args.streams, progress=print)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
    for report in reports:
        print(report.summary())
    print(f"keyspace {settings.CASSANDRA_KEYSPACE!r}: {len(reports)} stream tables indexed")
    return 0


def cmd_derive_rows(args: argparse.Namespace, settings: Settings) -> int:
    """Write the OOI rows of bins ingested with ``CASSANDRA_WRITE_ROWS`` off (idempotent)."""
    from stream_engine.store.cassandra import from_settings

    wanted = set(args.streams)
    total = checked = 0
    with from_settings(settings) as store:
        for coverage in store.streams():
            if wanted and coverage.key.stream not in wanted:
                continue
            checked += 1
            derived = store.derive_rows(coverage.key)
            total += derived
            if derived:
                print(f"{coverage.key}: OOI rows written for {derived} records")
    print(f"keyspace {settings.CASSANDRA_KEYSPACE!r}: {checked} streams checked, "
          f"OOI rows written for {total} records")
    return 0


def add_cassandra_commands(sub: Any) -> None:
    """Add ``cassandra schema|preflight|reindex|derive-rows`` to the ``stream-engine`` subcommands ``sub``."""
    p = sub.add_parser("cassandra", help="Cassandra backend tools")
    cassandra = p.add_subparsers(title="cassandra commands", metavar="COMMAND")
    p.set_defaults(parser=p)
    q = cassandra.add_parser("schema", help="print the keyspace's CQL (--apply creates what is missing)")
    mode = q.add_mutually_exclusive_group()
    mode.add_argument("--apply", action="store_true", help="create the keyspace and missing tables")
    mode.add_argument("--check", action="store_true", help="list differences from the dictionary (exit 1 if any)")
    q.set_defaults(run=cmd_schema)
    q = cassandra.add_parser("preflight", help="the schema check `serve` runs first (exit 2 naming the "
                                               "differences; nothing to check for the embedded store)")
    q.set_defaults(run=cmd_preflight)
    q = cassandra.add_parser("reindex", help="build the partition index and stream columns of a keyspace "
                                             "written by OOI's tools (array blobs read as msgpack)")
    q.add_argument("streams", nargs="*", metavar="STREAM", help="stream tables (default: every dictionary stream)")
    q.set_defaults(run=cmd_reindex)
    q = cassandra.add_parser("derive-rows", help="write the OOI rows of records ingested with "
                                                 "CASSANDRA_WRITE_ROWS off (chunks only)")
    q.add_argument("streams", nargs="*", metavar="STREAM", help="streams (default: every stream with data)")
    q.set_defaults(run=cmd_derive_rows)
