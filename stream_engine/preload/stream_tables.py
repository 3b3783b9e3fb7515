"""Stream tables of a preload folder: streams (``DICT<n>``), bin sizes and nominal depths."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from stream_engine.preload.csv_rows import (
    BIN_SIZES_FILE,
    NOMINAL_DEPTHS_FILE,
    STREAMS_FILE,
    parse_ident,
    read_rows,
    report_bad_id,
)
from stream_engine.preload.model import DEFAULT_BIN_MINUTES, Parameter, StreamDefinition


def read_bin_sizes(folder: Path, problems: list[str]) -> dict[str, int]:
    bins: dict[str, int] = {}
    for line, row in read_rows(folder, BIN_SIZES_FILE, problems):
        stream, cell = row["stream"], row["binsize"]
        if not stream:
            problems.append(f"{BIN_SIZES_FILE} line {line}: no stream name; row skipped")
            continue
        try:
            minutes = int(float(cell))
            if minutes <= 0 or minutes != float(cell):
                raise ValueError
        except ValueError:
            problems.append(
                f"{BIN_SIZES_FILE} line {line}: stream {stream!r} bin size {cell!r} is not a positive"
                f" whole number of minutes; using the default {DEFAULT_BIN_MINUTES}"
            )
            continue
        if stream in bins and bins[stream] != minutes:
            problems.append(
                f"{BIN_SIZES_FILE} line {line}: stream {stream!r} listed again with {minutes} minutes"
                f" (was {bins[stream]}); the last row wins"
            )
        bins[stream] = minutes
    return bins


def read_streams(
    folder: Path, parameters: dict[int, Parameter], bins: dict[str, int], problems: list[str]
) -> dict[str, StreamDefinition]:
    streams: dict[str, StreamDefinition] = {}
    names_by_id: dict[int, str] = {}
    dependencies: dict[str, list[str]] = {}
    for line, row in read_rows(folder, STREAMS_FILE, problems):
        sid = parse_ident(row["id"], "DICT")
        if sid is None:
            report_bad_id(STREAMS_FILE, line, row, "DICT", problems)
            continue
        name = row["name"]
        label = f"DICT{sid} {name}"
        if not name:
            problems.append(f"DICT{sid}: no stream name; row skipped")
            continue
        if sid in names_by_id or name in streams:
            problems.append(
                f"{label}: duplicate stream id or name (line {line}); the first definition is kept"
            )
            continue
        names_by_id[sid] = name
        dependencies[name] = [
            d.strip() for d in row.get("streamdependency", "").split(",") if d.strip()
        ]
        streams[name] = StreamDefinition(
            id=sid,
            name=name,
            parameter_ids=_stream_parameter_ids(label, row["parameterids"], parameters, problems),
            temporal_parameter=_temporal(label, row.get("temporalparameter", ""), problems),
            stream_type=row.get("streamtype", ""),
            stream_content=row.get("streamcontent", ""),
            bin_minutes=bins.get(name, DEFAULT_BIN_MINUTES),
        )
    for name, deps in dependencies.items():
        if deps:
            sources = _source_streams(
                f"DICT{streams[name].id} {name}", deps, names_by_id, streams, problems
            )
            streams[name] = replace(streams[name], source_streams=sources)
    return streams


def _stream_parameter_ids(
    label: str, text: str, parameters: dict[int, Parameter], problems: list[str]
) -> tuple[int, ...]:
    ids: list[int] = []
    for item in (i.strip() for i in text.split(",")):
        if not item:
            continue
        pid = parse_ident(item, "PD")
        if pid is None:
            problems.append(f"{label}: parameter id {item!r} is not PD<n>; left out")
        elif pid not in parameters:
            problems.append(f"{label}: names parameter PD{pid}, which does not exist; left out")
        elif pid in ids:
            problems.append(f"{label}: names parameter PD{pid} twice; listed once")
        else:
            ids.append(pid)
    if not ids:
        problems.append(f"{label}: has no parameters")
    return tuple(ids)


def _temporal(label: str, text: str, problems: list[str]) -> int | None:
    if not text:
        return 7
    pid = parse_ident(text, "PD")
    if pid is None:
        problems.append(f"{label}: temporal parameter {text!r} is not PD<n>; using PD7")
        return 7
    return pid


def _source_streams(
    label: str,
    deps: list[str],
    names_by_id: dict[int, str],
    streams: dict[str, StreamDefinition],
    problems: list[str],
) -> tuple[str, ...]:
    sources: list[str] = []
    for dep in deps:
        sid = parse_ident(dep, "DICT")
        name = names_by_id.get(sid) if sid is not None else (dep if dep in streams else None)
        if name is None:
            problems.append(f"{label}: stream dependency {dep!r} is not a known stream; left out")
        elif name not in sources:
            sources.append(name)
    return tuple(sources)


def read_nominal_depths(folder: Path, problems: list[str]) -> dict[str, float]:
    depths: dict[str, float] = {}
    for line, row in read_rows(folder, NOMINAL_DEPTHS_FILE, problems):
        designator, cell = row["designator"], row["depth"]
        try:
            depth = float(cell)
        except ValueError:
            problems.append(
                f"{NOMINAL_DEPTHS_FILE} line {line}: {designator!r} depth {cell!r} is not a number; row skipped"
            )
            continue
        if designator in depths and depths[designator] != depth:
            problems.append(
                f"{NOMINAL_DEPTHS_FILE} line {line}: {designator!r} listed again with depth {cell}"
                f" (was {depths[designator]:g}); the last row wins"
            )
        depths[designator] = depth
    return depths
