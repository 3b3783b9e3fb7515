"""Merging the outputs of time-slice sub-jobs into complete files (the original ``/aggregate``).

Sub-jobs of one export write their files into one folder, each named
``deployment%04d_<refdes>-<method>-<stream>_<start>-<end>.<ext>`` and each with a
``<start>-<stop>-status.txt`` (or ``-failure.json``). :func:`aggregate_folder` groups the data
files by everything before ``_<start>-<end>`` (one deployment of one stream), concatenates each
group in time order into one file named for the whole span, block by block (memory holds one
block of records), writes ``status.json`` (each sub-job's status or failure) and ``status.txt``
(``complete``). NetCDF files are concatenated along ``obs``; CSV/TSV files keep one header.
The sub-jobs' provenance and annotation files (``..._annotations_<start>-<stop>.json``) are
merged into one of each per stream (:func:`~stream_engine.outputs.companions.merge_companions`).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from stream_engine.outputs.companions import merge_companions, sub_job_companions

BLOCK_RECORDS = 65536
_DATA_NAME = re.compile(r"^(?P<group>deployment\d{4}_.+)_(?P<start>\d{8}T[\d.]+)-(?P<end>\d{8}T[\d.]+)\.(?P<ext>nc|csv|tsv)$")
_STATUS = re.compile(r"^(?P<job>.+)-(?P<kind>status\.txt|failure\.json)$")


def _groups(folder: Path) -> dict[tuple[str, str], list[Path]]:
    groups: dict[tuple[str, str], list[Path]] = {}
    for path in sorted(folder.iterdir()):
        found = _DATA_NAME.match(path.name)
        if found and path.is_file():
            groups.setdefault((found["group"], found["ext"]), []).append(path)
    return groups


def _span(paths: Iterable[Path]) -> tuple[str, str]:
    starts, ends = [], []
    for path in paths:
        found = _DATA_NAME.match(path.name)
        assert found is not None
        starts.append(found["start"])
        ends.append(found["end"])
    return min(starts), max(ends)


def _merge_netcdf(parts: list[Path], target: Path) -> None:
    import netCDF4

    sources = [netCDF4.Dataset(p) for p in parts]
    try:
        for source in sources:
            source.set_auto_mask(False)
        sources.sort(key=lambda d: float(d.variables["time"][0]) if len(d.dimensions["obs"]) else np.inf)
        first = sources[0]
        with netCDF4.Dataset(target, "w", format="NETCDF4") as out:
            out.set_auto_mask(False)
            for name, dim in first.dimensions.items():
                out.createDimension(name, None if dim.isunlimited() else len(dim))
            for name, var in first.variables.items():
                attrs = {k: var.getncattr(k) for k in var.ncattrs() if k != "_FillValue"}
                fill = var.getncattr("_FillValue") if "_FillValue" in var.ncattrs() else None
                filters = var.filters() or {}
                options: dict[str, Any] = {}
                if filters.get("zlib"):
                    options = {"compression": "zlib", "complevel": filters.get("complevel", 1),
                               "shuffle": bool(filters.get("shuffle")), "chunksizes": var.chunking()}
                created = out.createVariable(name, var.datatype, var.dimensions, fill_value=fill, **options)
                created.setncatts(attrs)
                if not var.dimensions or "obs" not in var.dimensions:
                    created[...] = var[...]
            offset = 0
            for source in sources:
                n = len(source.dimensions["obs"])
                for start in range(0, n, BLOCK_RECORDS):
                    stop = min(n, start + BLOCK_RECORDS)
                    for name, var in out.variables.items():
                        if var.dimensions and var.dimensions[0] == "obs":
                            var[offset + start:offset + stop] = source.variables[name][start:stop]
                offset += n
            times = out.variables["time"]
            attrs = {k: first.getncattr(k) for k in first.ncattrs()}
            attrs["record_count"] = offset
            attrs["time_coverage_end"] = sources[-1].getncattr("time_coverage_end")
            out.setncatts(attrs)
            if offset:
                times.setncattr("actual_range", np.array([times[0], times[offset - 1]]))
    finally:
        for source in sources:
            source.close()


def _merge_text(parts: list[Path], target: Path) -> None:
    with open(target, "wb") as out:
        for index, part in enumerate(sorted(parts)):
            with open(part, "rb") as source:
                header = source.readline()
                if index == 0:
                    out.write(header)
                while block := source.read(1 << 20):
                    out.write(block)


def aggregate_folder(folder: Path, write_status: bool = True) -> dict[str, Any]:
    """Merge the sub-job outputs in ``folder`` in place; the ``status.json`` body.

    ``write_status=False`` (the jobs' own sub-jobs) writes neither ``status.json`` nor
    ``status.txt``.

    Returns
    -------
    dict
        ``{"status": {<sub-job>: "complete" | <failure JSON>}, "files": [names]}``.
    """
    statuses: dict[str, Any] = {}
    for path in sorted(folder.iterdir()):
        found = _STATUS.match(path.name)
        if found is None or path.name in ("status.txt",):
            continue
        if found["kind"] == "failure.json":
            try:
                statuses[found["job"]] = json.loads(path.read_text())
            except (OSError, ValueError):
                statuses[found["job"]] = {"message": "unreadable failure file"}
        else:
            statuses.setdefault(found["job"], path.read_text().strip() or "complete")
    for (group, ext), parts in _groups(folder).items():
        if len(parts) < 2:
            continue
        start, end = _span(parts)
        target = folder / f"{group}_{start}-{end}.{ext}"
        temporary = folder / f".{target.name}.part"
        (_merge_netcdf if ext == "nc" else _merge_text)(parts, temporary)
        for part in parts:
            part.unlink()
        os.replace(temporary, target)
    merge_companions(sub_job_companions(folder), folder)
    files = sorted(p.name for p in folder.iterdir() if p.is_file() and _DATA_NAME.match(p.name))
    body = {"status": statuses, "files": files}
    if write_status:
        (folder / "status.json").write_text(json.dumps(body, indent=2))
        (folder / "status.txt").write_text("complete")
    return body


def folder_stats(folder: Path) -> dict[str, Any]:
    """``{"size": bytes of the files in folder, "time": mtime of status.txt in ms (or None)}``."""
    size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    status = folder / "status.txt"
    return {"size": size, "time": int(status.stat().st_mtime * 1000) if status.exists() else None}
