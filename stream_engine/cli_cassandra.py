"""``stream-engine cassandra ...``: the Cassandra backend's commands, and the schema check that
``stream-engine serve`` and ``manage-streamng start`` run before serving a keyspace."""

from __future__ import annotations

import argparse
import os
import socket
import sys
import time
import uuid
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
    """Write the OOI rows that lag the chunks now (idempotent), or with ``--status`` say what lags."""
    from stream_engine.store.cassandra import from_settings
    from stream_engine.store.cassandra_deriver import LeaseKeeper, LeaseLost, RowLease
    from stream_engine.store.cassandra_rows import derive_rows, pending_bins

    known = {name for name, d in _preload(settings).streams.items() if not d.is_virtual}
    for name in args.streams:
        if name not in known:
            raise ConfigError(f"stream {name!r} is not a stored stream of the preload dictionary")
    wanted = set(args.streams)
    ks = f"keyspace {settings.CASSANDRA_KEYSPACE!r}"
    with from_settings(settings) as store:
        keys = [c.key for c in store.streams() if not wanted or c.key.stream in wanted]
        if args.status:
            pending = pending_bins(store, keys if wanted else None)
            per_key: dict[Any, list[int]] = {}
            for p in pending:
                entry = per_key.setdefault(p.key, [0, 0])
                entry[0] += 1
                entry[1] += p.state.partition.count
            for key, (bins, records) in per_key.items():
                print(f"{key}: {bins} bins, {records} records with OOI rows pending")
            held = RowLease(store, "", 1).read()
            deriver = (f"the row deriver is {held['holder']} (lease for {held['expires_in']} s more)" if held
                       else "no process is deriving rows now")
            print(f"{ks}: CASSANDRA_ROWS = {settings.CASSANDRA_ROWS!r}; {len(pending)} bins, "
                  f"{sum(p.state.partition.count for p in pending)} records with OOI rows pending; {deriver}")
            return 0
        lease = RowLease(store, f"derive-rows@{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}",
                         settings.CASSANDRA_ROWS_LEASE_SECONDS)
        refused = _claim(store, lease, keys, args.wait, settings.CASSANDRA_ROWS_POLL_SECONDS, ks)
        if refused is not None:
            return refused
        total = 0
        try:
            with LeaseKeeper(lease) as keeper:
                for key in keys:
                    derived = derive_rows(store, key, before_bin=keeper.check)
                    keeper.rows_written += derived
                    total += derived
                    if derived:
                        print(f"{key}: OOI rows written for {derived} records")
        except LeaseLost as exc:
            print(f"{ks}: stopped after OOI rows for {total} records: {exc}", file=sys.stderr)
            return 1
        left = pending_bins(store, keys)
    print(f"{ks}: {len(keys)} streams checked, OOI rows written for {total} records"
          + (f"; {len(left)} bins rewritten meanwhile are still pending" if left else ""))
    return 0


def _claim(store: Any, lease: Any, keys: list[Any], wait: float, poll: float, ks: str) -> int | None:
    """Take the row deriver's lease for ``derive-rows``, waiting up to ``wait`` seconds while a
    server holds it: ``None`` once taken, else the command's exit status (having said why): 0 when
    the holder wrote everything pending meanwhile, 1 when the wait ran out."""
    from stream_engine.store.cassandra_rows import pending_bins

    deadline = time.monotonic() + max(float(wait), 0.0)
    told = False
    while not lease.claim():
        held = lease.read() or {}
        pending = pending_bins(store, keys)
        holder = held.get("holder", "another process")
        if not pending:
            print(f"{ks}: no OOI rows pending; {holder} holds the row deriver's lease and wrote them")
            return 0
        left = deadline - time.monotonic()
        if left <= 0:
            records = sum(p.state.partition.count for p in pending)
            waited = f"after waiting {float(wait):g} s, " if wait else ""
            print(f"{ks}: {waited}the OOI rows are being written by the row deriver of {holder} (its lease "
                  f"runs {held.get('expires_in', '?')} s more; it renews it while it runs); {len(pending)} bins, "
                  f"{records} records pending. Nothing was written here. Follow it with `stream-engine cassandra "
                  "derive-rows --status`, or run this with --wait SECONDS to wait until they are written (or "
                  "the lease is free, then write them here).", file=sys.stderr)
            return 1
        if not told:
            print(f"{ks}: {holder} derives the OOI rows; waiting up to {left:.0f} s for it to write "
                  f"{len(pending)} pending bins or to let its lease go", file=sys.stderr)
            told = True
        time.sleep(min(max(poll, 0.1), left))
    return None


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
    q = cassandra.add_parser("derive-rows", help="write now the OOI rows that lag the column chunks "
                                                 "(CASSANDRA_ROWS 'background' or 'off')")
    q.add_argument("streams", nargs="*", metavar="STREAM", help="streams (default: every stream with data)")
    q.add_argument("--status", action="store_true", help="write nothing: list the bins and records whose "
                                                         "rows are pending, and which server derives them")
    q.add_argument("--wait", type=float, default=0.0, metavar="SECONDS",
                   help="while a server's row deriver holds the lease, wait up to SECONDS for it to write what "
                        "is pending (exit 0) or to let the lease go (then write here); default: exit 1 at once")
    q.set_defaults(run=cmd_derive_rows)
