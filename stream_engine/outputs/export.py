"""Run an export: one query run on one snapshot, written chunk by chunk into files.

:func:`run_export` is what the synchronous routes, the asynchronous jobs and
``stream-engine export`` share. It opens the query with
:func:`~stream_engine.engine.query_run.open_query` (one snapshot for everything; chunks of at
most ``QUERY_CHUNK_RECORDS`` records, so memory does not grow with the export) and hands each
chunk to the format's writer, which writes (compresses) on a thread of its own while the next
chunk is computed (:class:`~stream_engine.outputs.writer.BackgroundWriter`). With ``include_provenance`` a
``<refdes>-<method>-<stream>_provenance.json`` file accompanies the data files, holding what
``POST /particles`` returns as provenance: the query, the computed provenance of every product
(function, version, inputs, calibrations, what could not be computed and why) and the
deployment events with their calibrations. With ``include_annotations`` a
``<refdes>-<method>-<stream>_annotations.json`` file holds ``{"annotations": [...]}``: the
annotation records of every stream of the query that meet its range (those whose exclusions
removed records from the files too). As the original, it is written even when the range holds no
data (the annotations may say why), before :class:`~stream_engine.errors.NoDataInRange` is raised.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stream_engine import assets
from stream_engine.engine.query_provenance import instrument_provenance
from stream_engine.engine.query_run import open_query
from stream_engine.errors import BadRequest, NoDataInRange
from stream_engine.outputs.companions import (
    ANNOTATIONS,
    PROVENANCE,
    annotations_document,
    companion_name,
    write_json,
)
from stream_engine.outputs.csv import CsvWriter, TsvWriter
from stream_engine.outputs.flags import flag_columns
from stream_engine.outputs.json_files import JsonWriter
from stream_engine.outputs.layout import build_layout
from stream_engine.outputs.netcdf import NetcdfWriter
from stream_engine.outputs.writer import BackgroundWriter
from stream_engine.quality.annotations import annotations_for
from stream_engine.quality.exclusion import run_annotations

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
    span: str = "",
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
    span
        Added to the names of the provenance and annotation files
        (``..._annotations_<span>.json``): a sub-job's time span, so sub-jobs sharing a folder
        do not overwrite each other's.

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
    key = query.primary.key
    try:
        run = open_query(store, preload, query, settings)
    except NoDataInRange:
        if query.include_annotations:
            folder.mkdir(parents=True, exist_ok=True)
            write_json(folder / companion_name(key, ANNOTATIONS, span),
                       annotations_document(_stored_annotations(store, query)))
        raise
    with run:
        folder.mkdir(parents=True, exist_ok=True)
        plans = [run.plan, *run.secondary_plans]
        layout = build_layout(preload, plans, run.variables,
                              assets.deployments(run.view, query.primary.key.refdes),
                              query.request_uuid or "", flag_columns(run.quality, run.variables))
        total, done = run.stop_index - run.first_index, 0
        with writer_class(folder, layout) as writer:
            with BackgroundWriter(writer) as background:
                for chunk in run.chunks():
                    background.write(chunk.data)
                    done += len(chunk)
                    if progress is not None:
                        progress(min(done, total), total)
            files = writer.close()
        if query.include_provenance:
            body = {"requestUUID": query.request_uuid, "query_parameter_provenance": query.describe(),
                    "computed_provenance": run.provenance.computed_provenance(),
                    "instrument_provenance": instrument_provenance(run.view, query)}
            files.append(write_json(folder / companion_name(key, PROVENANCE, span), body))
        if query.include_annotations:
            files.append(write_json(folder / companion_name(key, ANNOTATIONS, span),
                                    annotations_document(run_annotations(run))))
        return ExportResult(tuple(files), writer.records)


def _stored_annotations(store: Store, query: Query) -> list[dict[str, Any]]:
    """The annotation records of the query's streams meeting its range, read on one snapshot."""
    time_range = query.time_range
    with store.snapshot() as view:
        return [dict(a.record) for sq in query.streams
                for a in annotations_for(view, sq.key, time_range.start, time_range.stop)]
