"""Large exports as time-slice sub-jobs run in parallel processes, then aggregated.

:func:`time_slices` cuts a query's range at partition boundaries into slices of about
``records`` records, from the partition index alone. :func:`run_split_export` exports each slice
in its own process (each opens its own store and dictionary, reads through its own snapshot)
into its own sub-folder, then moves the data files together and merges them per deployment
(:func:`~stream_engine.outputs.aggregate.aggregate_folder`), so the result is the same files one
export gives. With provenance, ``<refdes>-<method>-<stream>_provenance.json`` holds each
slice's provenance document under ``slices``; with annotations,
``<refdes>-<method>-<stream>_annotations.json`` every slice's annotation records, each once.
"""

from __future__ import annotations

import dataclasses
import math
import shutil
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stream_engine.errors import NoDataInRange
from stream_engine.outputs.aggregate import aggregate_folder
from stream_engine.outputs.companions import is_companion, merge_companions
from stream_engine.outputs.export import ExportResult

if TYPE_CHECKING:
    from stream_engine.engine.query import Query
    from stream_engine.store.base import Store

SliceDone = Callable[[int, int, int], bool]
"""``slice_done(slices_done, slices_total, records_so_far)``; returning ``False`` cancels."""


def time_slices(store: Store, query: Query, records: int) -> list[tuple[float, float]]:
    """``(start, stop)`` pairs (``stop`` inclusive, as in a query) covering the query's range in
    slices of about ``records`` records, cut where a partition starts."""
    time_range = query.time_range
    parts = [p for p in store.partitions(query.primary.key)
             if p.count and time_range.overlaps(p.first, p.last)]
    cuts: list[float] = []
    held = 0
    for part in parts:
        if held >= records and part.first > query.start:
            cuts.append(part.first)
            held = 0
        held += part.count
    edges = [query.start, *cuts]
    return [(a, math.nextafter(b, -math.inf)) for a, b in zip(edges, cuts, strict=False)] + [
        (edges[-1], query.stop)]


def _export_slice(values: dict[str, Any], query: Query, format_name: str, folder: str) -> int:
    """One slice, in a worker process: the records written (0 when the slice holds none)."""
    from stream_engine.config import Settings
    from stream_engine.outputs.export import run_export
    from stream_engine.preload import default_preload
    from stream_engine.store import open_store

    settings = Settings(values)
    store = open_store(settings)
    try:
        return run_export(store, default_preload(settings), query, format_name, Path(folder), settings).records
    except NoDataInRange:
        return 0
    finally:
        store.close()


def run_split_export(
    settings: Mapping[str, Any],
    query: Query,
    format_name: str,
    folder: Path,
    slices: list[tuple[float, float]],
    processes: int,
    slice_done: SliceDone | None = None,
) -> ExportResult | None:
    """Export each slice in a pool of ``processes`` processes and merge the files in ``folder``.

    Returns
    -------
    ExportResult or None
        ``None`` when ``slice_done`` cancelled the run (``folder`` is then removed).

    Raises
    ------
    NoDataInRange
        No slice held a record.
    """
    parts = [folder / f"part-{i:04d}" for i in range(len(slices))]
    records = done = 0
    with ProcessPoolExecutor(max_workers=max(1, processes)) as pool:
        pending: set[Future[int]] = {
            pool.submit(_export_slice, dict(settings), dataclasses.replace(query, start=a, stop=b), format_name, str(p))
            for (a, b), p in zip(slices, parts, strict=True)
        }
        while pending:
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                records += future.result()
                done += 1
            if slice_done is not None and not slice_done(done, len(slices), records):
                for future in pending:
                    future.cancel()
                pool.shutdown(wait=True, cancel_futures=True)
                shutil.rmtree(folder, ignore_errors=True)
                return None
    if records == 0:
        shutil.rmtree(folder, ignore_errors=True)
        raise NoDataInRange(f"no records of {query.primary.key} in the requested range")
    companions: list[Path] = []
    for part in parts:
        if not part.is_dir():
            continue
        for path in sorted(part.iterdir()):
            if is_companion(path):
                companions.append(path)
            else:
                path.replace(folder / path.name)
    merged = merge_companions(companions, folder, query.request_uuid)
    for part in parts:
        if part.is_dir():
            part.rmdir()
    aggregate_folder(folder, write_status=False)
    files = sorted(p for p in folder.iterdir() if p.is_file() and p not in merged)
    return ExportResult(tuple([*files, *merged]), records)
