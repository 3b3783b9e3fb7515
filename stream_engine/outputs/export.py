"""Run an export: one query run on one snapshot, written chunk by chunk into files.

:func:`run_export` is what the synchronous routes, the asynchronous jobs and
``stream-engine export`` share. It opens the query with
:func:`~stream_engine.engine.query_run.open_query` (one snapshot for everything; chunks of at
most ``QUERY_CHUNK_RECORDS`` records, so memory does not grow with the export) and hands each
chunk to the format's writer. With ``include_provenance`` a
``<refdes>-<method>-<stream>_provenance.json`` file accompanies the data files, holding what
``POST /particles`` returns as provenance: the query, the computed provenance of every product
(function, version, inputs, calibrations, what could not be computed and why) and the
deployment events with their calibrations.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from stream_engine import assets
from stream_engine.engine.query_provenance import instrument_provenance
from stream_engine.engine.query_run import open_query
from stream_engine.errors import BadRequest
from stream_engine.outputs.csv import CsvWriter, TsvWriter
from stream_engine.outputs.json_files import JsonWriter
from stream_engine.outputs.layout import build_layout
from stream_engine.outputs.netcdf import NetcdfWriter

if TYPE_CHECKING:
    from stream_engine.engine.query import Query
    from stream_engine.outputs.writer import ChunkWriter
    from stream_engine.preload.model import Preload
    from stream_engine.store.base import Store

WRITERS: dict[str, type[ChunkWriter]] = {"netcdf": NetcdfWriter, "csv": CsvWriter, "tsv": TsvWriter,
                                         "json": JsonWriter}
"""Export formats by name."""

Progress = Callable[[int, int], None]
"""``progress(records_done, records_total)`` (records of the primary stream in the range)."""


@dataclass(frozen=True, slots=True)
class ExportResult:
    """What an export wrote: data files (one per deployment) and accompanying JSON files."""

    files: tuple[Path, ...]
    records: int


def writer_for(format_name: str) -> type[ChunkWriter]:
    """The writer class of a format name (``netcdf``, ``csv``, ``tsv``, ``json``)."""
    try:
        return WRITERS[format_name]
    except KeyError:
        raise BadRequest(f"unknown export format {format_name!r}; use one of {sorted(WRITERS)}") from None


def run_export(
    store: Store,
    preload: Preload,
    query: Query,
    format_name: str,
    folder: Path,
    settings: Mapping[str, Any],
    progress: Progress | None = None,
) -> ExportResult:
    """Export ``query`` as ``format_name`` files into ``folder`` (created if needed).

    Parameters
    ----------
    store, preload
        Where the streams live and the dictionary; the store is read through one snapshot.
    query
        From :func:`~stream_engine.engine.query.parse_query`.
    format_name
        ``netcdf``, ``csv`` or ``tsv``.
    folder
        Output folder.
    settings
        Engine settings (what :func:`~stream_engine.engine.query_run.open_query` reads).
    progress
        Called after each chunk.

    Returns
    -------
    ExportResult

    Raises
    ------
    NoDataInRange
        No record of the stream falls in the range (nothing is written).
    BadRequest
        Unknown format.
    """
    writer_class = writer_for(format_name)
    with open_query(store, preload, query, settings) as run:
        folder.mkdir(parents=True, exist_ok=True)
        plans = [run.plan, *run.secondary_plans]
        layout = build_layout(preload, plans, run.variables,
                              assets.deployments(run.view, query.primary.key.refdes),
                              query.request_uuid or "")
        total = run.stop_index - run.first_index
        with writer_class(folder, layout) as writer:
            for chunk in run.chunks():
                writer.write(chunk.data)
                if progress is not None:
                    progress(min(writer.records, total), total)
            files = writer.close()
        if query.include_provenance:
            key = query.primary.key
            path = folder / f"{key.refdes}-{key.method}-{key.stream}_provenance.json"
            body = {"requestUUID": query.request_uuid, "query_parameter_provenance": query.describe(),
                    "computed_provenance": run.provenance.computed_provenance(),
                    "instrument_provenance": instrument_provenance(run.view, query)}
            path.write_bytes(orjson.dumps(body, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY,
                                          default=str))
            files.append(path)
        return ExportResult(tuple(files), writer.records)
