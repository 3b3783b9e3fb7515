"""Run an export: resolve, compute slice by slice through one snapshot, write the files.

:func:`run_export` is what the synchronous routes, the asynchronous jobs and
``stream-engine export`` share. Everything it reads goes through ``store.snapshot()``; memory
holds one slice of records (setting ``EXPORT_CHUNK_RECORDS``) at a time, whatever the size of
the export. With ``include_provenance`` a ``<refdes>-<method>-<stream>_provenance.json`` file
accompanies the data files: the products' functions, versions, inputs and calibrations, how
many records each product could not be computed for and why, and the deployments (with their
calibrations) the records fall in.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from stream_engine import assets
from stream_engine.engine.compute import compute
from stream_engine.engine.resolve import resolve
from stream_engine.errors import BadRequest, NotFound
from stream_engine.outputs.csv import CsvWriter, TsvWriter
from stream_engine.outputs.layout import build_layout
from stream_engine.outputs.netcdf import NetcdfWriter
from stream_engine.outputs.slices import plan_slices, total_records

if TYPE_CHECKING:
    from stream_engine.outputs.layout import ExportLayout
    from stream_engine.outputs.query import ExportQuery
    from stream_engine.outputs.writer import ChunkWriter
    from stream_engine.preload.model import Preload
    from stream_engine.store.base import Store

WRITERS: dict[str, type[ChunkWriter]] = {"netcdf": NetcdfWriter, "csv": CsvWriter, "tsv": TsvWriter}
"""Export formats by name."""

Progress = Callable[[int, int], None]
"""``progress(records_done, records_total)``; the total is an upper bound from the index."""


@dataclass(frozen=True, slots=True)
class ExportResult:
    """What an export wrote: data files (one per deployment) and accompanying JSON files."""

    files: tuple[Path, ...]
    records: int


def writer_for(format_name: str) -> type[ChunkWriter]:
    """The writer class of a format name (``netcdf``, ``csv``, ``tsv``)."""
    try:
        return WRITERS[format_name]
    except KeyError:
        raise BadRequest(f"unknown export format {format_name!r}; use one of {sorted(WRITERS)}") from None


def _merge_status(summary: dict[str, Any], provenance: Mapping[str, Any], records: int) -> None:
    for name, product in provenance.get("products", {}).items():
        entry = summary.setdefault(name, {"status": {}, "reasons": [], "errors": []})
        status = product.get("status", "ok")
        entry["status"][status] = entry["status"].get(status, 0) + records
        for key, values in (("reasons", [product.get("reason")]), ("errors", product.get("errors", []))):
            for value in values or []:
                if value and value not in entry[key]:
                    entry[key].append(value)


def _provenance_file(folder: Path, layout: ExportLayout, summary: dict[str, Any], query: ExportQuery,
                     deployments: set[int]) -> Path:
    key = layout.key
    body = {
        "requestUUID": query.request_uuid,
        "stream": key.path,
        "query_parameter_provenance": {
            "start": query.time_range.start, "stop": query.time_range.stop,
            "parameters": list(query.parameters), "require_deployment": query.require_deployment,
        },
        "computed_provenance": {
            v.name: {**dict(v.provenance), **summary.get(v.source, {})}
            for v in layout.variables if v.provenance
        },
        "unavailable": {p.name: reason for p, reason in layout.unavailable},
        "instrument_provenance": [
            {"deployment": d.number, "start": d.start, "stop": d.stop, "lat": d.lat, "lon": d.lon,
             "depth": d.depth,
             "calibrations": {name: [{"start": c.start, "value": c.value} for c in values]
                              for name, values in d.calibrations.items()}}
            for d in layout.deployments if d.number in deployments
        ],
    }
    path = folder / f"{key.refdes}-{key.method}-{key.stream}_provenance.json"
    path.write_bytes(orjson.dumps(body, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY,
                                  default=str))
    return path


def run_export(
    store: Store,
    preload: Preload,
    query: ExportQuery,
    format_name: str,
    folder: Path,
    settings: Mapping[str, Any],
    progress: Progress | None = None,
) -> ExportResult:
    """Export ``query`` as ``format_name`` files into ``folder`` (created if needed).

    Parameters
    ----------
    store, preload
        Where the stream lives and the dictionary; the store is read through one snapshot.
    query
        The stream, parameters, time range and options.
    format_name
        ``netcdf``, ``csv`` or ``tsv``.
    folder
        Output folder.
    settings
        Engine settings (``EXPORT_CHUNK_RECORDS`` and what resolution and computation need).
    progress
        Called after each slice.

    Returns
    -------
    ExportResult

    Raises
    ------
    NotFound
        No record of the stream falls in the time range (nothing is left in ``folder``).
    BadRequest
        Unknown format.
    """
    writer_class = writer_for(format_name)
    folder.mkdir(parents=True, exist_ok=True)
    chunk_records = int(settings["EXPORT_CHUNK_RECORDS"])
    with store.snapshot() as view:
        plan = resolve(view, preload, query.key, list(query.parameters) or None, query.time_range,
                       settings=settings)
        layout = build_layout(preload, plan, assets.deployments(view, query.key.refdes), query.request_uuid)
        slices = plan_slices(view.partitions(query.key), query.time_range, chunk_records)
        total = total_records(slices)
        summary: dict[str, Any] = {}
        deployments: set[int] = set()
        done = 0
        with writer_class(folder, layout) as writer:
            for piece in slices:
                computed = compute(view, preload, plan, time_range=piece.time_range,
                                   index_range=piece.index_range, settings=settings,
                                   require_deployment=query.require_deployment, use_cache=False)
                writer.write(computed.data)
                _merge_status(summary, computed.provenance, len(computed.time))
                deployments.update(int(n) for n in set(computed.deployment.tolist()))
                done += piece.records
                if progress is not None:
                    progress(done, total)
            if writer.records == 0:
                writer.abort()
                raise NotFound(f"no records of {query.key.path} between NTP {query.time_range.start} "
                               f"and {query.time_range.stop}")
            files = writer.close()
            records = writer.records
        if query.include_provenance:
            files.append(_provenance_file(folder, layout, summary, query, deployments))
    return ExportResult(tuple(files), records)
