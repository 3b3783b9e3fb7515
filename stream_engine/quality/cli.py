"""``stream-engine annotations|qartod|qc load FILE... / list [STREAM]``: data-quality records."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stream_engine.errors import IngestError
from stream_engine.quality import annotations, legacy_qc, qartod
from stream_engine.quality.records_file import read_records
from stream_engine.store.base import StreamKey

if TYPE_CHECKING:
    from stream_engine.config import Settings
    from stream_engine.store.base import Store

Loader = Callable[["Store", Iterable[Mapping[str, Any]]], list[int]]
Lister = Callable[["Store", StreamKey | None], list[str]]


def _annotation_lines(store: Store, key: StreamKey | None) -> list[str]:
    if key is None:
        found = [annotations.parse_annotation(r) for r in store.quality_records(annotations.KIND)]
    else:
        found = annotations.annotations_for(store, key)
    lines = []
    for a in found:
        where = "-".join(v or "*" for v in (a.subsite, a.node, a.sensor)) + f" {a.method or '*'} {a.stream or '*'}"
        span = f"{annotations.ntp_iso(a.begin)} .. {'open' if a.end is None else annotations.ntp_iso(a.end)}"
        what = ("EXCLUDED " if a.exclusion else "") + (f"[{a.qc_flag}] " if a.qc_flag else "")
        params = f" parameters {list(a.parameters)}" if a.parameters else ""
        lines.append(f"{a.id}: {where} {span} {what}{a.text}{params}")
    return lines


def _qartod_lines(store: Store, key: StreamKey | None) -> list[str]:
    if key is None:
        found = [qartod.parse_qartod(r) for r in store.quality_records(qartod.KIND)]
    else:
        found = [r for tests in qartod.qartod_for(store, key).values() for r in tests]
    lines = []
    for r in found:
        where = "-".join(v or "*" for v in (r.subsite, r.node, r.sensor)) + f" {r.stream or '*'}"
        lines.append(f"{r.id}: {where} {r.parameter}: {', '.join(r.tests)}")
    return lines


def _qc_lines(store: Store, key: StreamKey | None) -> list[str]:
    found = [legacy_qc.parse_qc(r) for r in store.quality_records(legacy_qc.KIND)]
    if key is not None:
        found = [a for a in found if a.applies_to(key)]
    return [f"{a.id}: {'-'.join(v or '*' for v in (a.subsite, a.node, a.sensor))} {a.parameter}: "
            f"{a.function}({a.argument}={a.value})" for a in found]


#: command -> (what its records are called, loader, lister).
KINDS: dict[str, tuple[str, Loader, Lister]] = {
    "annotations": ("annotations", annotations.load_annotations, _annotation_lines),
    "qartod": ("QARTOD test records", qartod.load_qartod, _qartod_lines),
    "qc": ("QC parameter records", legacy_qc.load_qc, _qc_lines),
}


def _load(args: argparse.Namespace, settings: Settings) -> int:
    from stream_engine.cli import _each_file, _open

    label, loader, _ = KINDS[args.kind]

    def load(path: Path) -> str:
        try:
            ids = loader(store, read_records(path))
        except ValueError as exc:
            raise IngestError(f"{path}: {exc}; nothing from this file was stored") from exc
        return f"{path}: {len(ids)} {label} stored (ids {', '.join(map(str, ids[:10]))}{'...' if len(ids) > 10 else ''})"

    with _open(settings) as store:
        return _each_file(args.files, load)


def _list(args: argparse.Namespace, settings: Settings) -> int:
    from stream_engine.cli import _open

    label, _, lister = KINDS[args.kind]
    try:
        key = StreamKey.from_path(args.stream) if args.stream else None
    except (TypeError, ValueError) as exc:
        raise IngestError(str(exc)) from exc
    with _open(settings) as store:
        lines = lister(store, key)
    for line in lines:
        print(line)
    print(f"{len(lines)} {label}" + (f" apply to {key}" if key else " stored"))
    return 0


def add_commands(sub: Any) -> None:
    """Add the ``load`` and ``list`` commands of every kind to the ``stream-engine`` parser."""
    for command, (label, _, _) in KINDS.items():
        p = sub.add_parser(command, help=f"data quality: {label} (OOI JSON records)")
        p.set_defaults(parser=p)
        commands = p.add_subparsers(title=f"{command} commands", metavar="COMMAND")
        q = commands.add_parser("load", help=f"store the {label} of JSON files (a list of records each)")
        q.add_argument("files", nargs="+", metavar="FILE")
        q.set_defaults(run=_load, kind=command)
        q = commands.add_parser("list", help=f"list the stored {label} (those of one stream if given)")
        q.add_argument("stream", nargs="?", metavar="SUBSITE/NODE/SENSOR/METHOD/STREAM")
        q.set_defaults(run=_list, kind=command)
