"""``stream-engine export``: the export the HTTP routes run, from the command line.

The request is the original body (a JSON file, or ``-`` for standard input); ``--format``
overrides its ``format``. Progress is a bar on a terminal and plain ``exported N of M records``
lines (about every tenth) otherwise; the files written are listed with their sizes at the end.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stream_engine.errors import BadRequest

if TYPE_CHECKING:
    from stream_engine.config import Settings

FORMATS = {"netcdf": "netcdf", "csv": "csv", "tsv": "tsv", "tab": "tsv"}


class _Progress:
    """A tqdm bar on a terminal, plain lines elsewhere."""

    def __init__(self, bar: bool) -> None:
        self.bar: Any = None
        self.bar_wanted = bar
        self.next_line = 0.0

    def __call__(self, done: int, total: int) -> None:
        if self.bar_wanted:
            if self.bar is None:
                from tqdm import tqdm

                self.bar = tqdm(total=total, unit="records", desc="export", file=sys.stderr)
            self.bar.update(done - self.bar.n)
            return
        if total and done / total >= self.next_line:
            print(f"exported {done} of {total} records", file=sys.stderr, flush=True)
            self.next_line = done / total + 0.1

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def export_command(request: str, format_name: str | None, output: Path, settings: Settings) -> int:
    """Run an export into ``output``; the exit status.

    Raises
    ------
    BadRequest
        The request file cannot be read or the format is unknown.
    StreamEngineError
        What the export raises (bad body, no data, store unavailable).
    """
    from stream_engine.engine.query import parse_query
    from stream_engine.engine.virtual import VirtualStreams
    from stream_engine.outputs.export import run_export
    from stream_engine.preload import default_preload
    from stream_engine.store import open_store

    try:
        raw = sys.stdin.buffer.read() if request == "-" else Path(request).read_bytes()
    except OSError as exc:
        raise BadRequest(f"cannot read the request {request}: {exc}") from None
    preload = default_preload(settings)
    query = parse_query(raw, preload, settings)
    name = (format_name or query.format or "netcdf").lower()
    if name not in FORMATS:
        raise BadRequest(f"unknown export format {name!r}; use one of {sorted(FORMATS)}")
    progress = _Progress(sys.stderr.isatty())
    store = VirtualStreams(open_store(settings), preload, settings)
    try:
        result = run_export(store, preload, query, FORMATS[name], output, settings, progress)
    finally:
        progress.close()
        store.close()
    for path in result.files:
        print(f"{path}  {path.stat().st_size} bytes")
    print(f"{result.records} records in {len(result.files)} files")
    return 0
