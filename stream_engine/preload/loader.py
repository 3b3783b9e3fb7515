"""Read a preload folder in the upstream CSV schema into a :class:`Preload`.

The folder holds ``ParameterDefs.csv`` (``PD<n>``), ``ParameterDictionary.csv`` (``DICT<n>``),
``ParameterFunctions.csv`` (``PFID<n>``), ``BinSizes.csv`` and ``nominal_depths.csv``. Quirks of
the real files that are handled here:

- ``DOC*`` rows (multi-line quoted column documentation) and blank rows are skipped;
- every cell is stripped; parameter id lists may contain spaces (``"PD1138, PD1139"``);
- ``streamdependency`` names source streams by ``DICT<n>`` id (or by name);
- a blank ``temporalparameter`` means ``PD7``; a blank ``netcdf_name`` means the ``name``;
- function ``args`` are Python list literals, sometimes unquoted (``[w]``);
- fill values are derived from the value encoding (:mod:`stream_engine.preload.fill_values`).

Data problems never raise: each is appended to ``Preload.problems`` as one line naming the entry,
and the entry is kept in the most usable form (an unparseable map becomes ``function_map=None``, a
stream keeps the parameters that exist). Only an unreadable folder raises :class:`PreloadError`.
"""

from __future__ import annotations

import ast
import csv
import json
import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from stream_engine.errors import PreloadError
from stream_engine.preload.fill_values import fill_value_for
from stream_engine.preload.function_map import parse_function_map
from stream_engine.preload.model import (
    DEFAULT_BIN_MINUTES,
    Parameter,
    ParameterFunction,
    Preload,
    StreamDefinition,
)

PARAMETERS_FILE = "ParameterDefs.csv"
STREAMS_FILE = "ParameterDictionary.csv"
FUNCTIONS_FILE = "ParameterFunctions.csv"
BIN_SIZES_FILE = "BinSizes.csv"
NOMINAL_DEPTHS_FILE = "nominal_depths.csv"

_REQUIRED = {
    PARAMETERS_FILE: ("id", "name", "parametertype", "valueencoding"),
    STREAMS_FILE: ("id", "name", "parameterids"),
    FUNCTIONS_FILE: ("id", "functiontype", "function", "args"),
    BIN_SIZES_FILE: ("stream", "binsize"),
    NOMINAL_DEPTHS_FILE: ("designator", "depth"),
}
_OPTIONAL_FILES = (BIN_SIZES_FILE, NOMINAL_DEPTHS_FILE)
_BARE_LIST = re.compile(r"\[\s*([A-Za-z_]\w*(\s*,\s*[A-Za-z_]\w*)*)?\s*,?\s*\]")


def load_preload(path: str | Path) -> Preload:
    """Load a preload folder.

    Parameters
    ----------
    path
        Folder holding the five upstream CSV files (bin sizes and nominal depths may be absent).

    Returns
    -------
    Preload
        Everything usable, with ``problems`` listing what was wrong in the data.

    Raises
    ------
    PreloadError
        The folder, a required file or a required column is missing, or a file is not CSV text.
    """
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise PreloadError(
            f"preload folder {str(folder)!r} does not exist; set PRELOAD (or STREAM_ENGINE_PRELOAD)"
            " to a folder holding ParameterDefs.csv, ParameterDictionary.csv and ParameterFunctions.csv"
        )
    problems: list[str] = []
    functions = _read_functions(folder, problems)
    parameters = _read_parameters(folder, functions, problems)
    bins = _read_bin_sizes(folder, problems)
    streams = _read_streams(folder, parameters, bins, problems)
    depths = _read_nominal_depths(folder, problems)
    return Preload(
        parameters=parameters,
        streams=streams,
        functions=functions,
        nominal_depths=depths,
        problems=problems,
        source=str(folder),
    )


# -- reading rows ------------------------------------------------------------------------------


def _rows(folder: Path, name: str, problems: list[str]) -> Iterator[tuple[int, dict[str, str]]]:
    """(first line number, stripped cells) of every data row; DOC and blank rows are left out."""
    path = folder / name
    if not path.is_file():
        if name in _OPTIONAL_FILES:
            problems.append(f"{name}: file missing from {str(folder)!r}; using defaults")
            return
        raise PreloadError(
            f"preload file {str(path)!r} is missing; the folder is not a preload dictionary"
        )
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh)
            header = [h.strip().lower() for h in next(reader, [])]
            missing = [c for c in _REQUIRED[name] if c not in header]
            if missing:
                raise PreloadError(
                    f"{path}: header lacks column(s) {', '.join(missing)}; is this an upstream preload CSV?"
                )
            width = len(header)
            start = reader.line_num + 1
            for cells in reader:
                line, start = start, reader.line_num + 1
                if not any(c.strip() for c in cells):
                    continue
                if len(cells) < width:
                    cells = cells + [""] * (width - len(cells))
                row = {h: c.strip() for h, c in zip(header, cells, strict=False)}
                if row.get("scenario", "").upper().startswith("DOC"):
                    continue
                yield line, row
    except (UnicodeDecodeError, csv.Error) as exc:
        raise PreloadError(f"{path} is not readable CSV text: {exc}") from None


def _ident(text: str, prefix: str) -> int | None:
    m = re.fullmatch(prefix + r"\s*(\d+)", text.strip())
    return int(m.group(1)) if m else None


def _bad_id(name: str, line: int, row: dict[str, str], prefix: str, problems: list[str]) -> None:
    problems.append(f"{name} line {line}: id {row.get('id', '')!r} is not {prefix}<n>; row skipped")


# -- functions ---------------------------------------------------------------------------------


def _read_functions(folder: Path, problems: list[str]) -> dict[int, ParameterFunction]:
    functions: dict[int, ParameterFunction] = {}
    for line, row in _rows(folder, FUNCTIONS_FILE, problems):
        fid = _ident(row["id"], "PFID")
        if fid is None:
            _bad_id(FUNCTIONS_FILE, line, row, "PFID", problems)
            continue
        label = f"PFID{fid} {row.get('name') or row['function']}"
        if fid in functions:
            problems.append(
                f"{label}: duplicate function id (line {line}); the first definition is kept"
            )
            continue
        functions[fid] = ParameterFunction(
            id=fid,
            name=row.get("name", ""),
            function_type=row["functiontype"],
            function=row["function"],
            owner=row.get("owner", ""),
            args=_function_args(row["args"], label, problems),
            kwargs=_function_kwargs(row.get("kwargs", ""), label, problems),
            description=row.get("description", ""),
        )
        if not row["function"]:
            problems.append(f"{label}: no function name or expression")
    return functions


def _function_args(text: str, label: str, problems: list[str]) -> tuple[str, ...]:
    if not text:
        return ()
    try:
        value = ast.literal_eval(text)
        if isinstance(value, list | tuple) and all(isinstance(a, str) for a in value):
            names = tuple(n.strip() for a in value for n in a.split(",") if n.strip())
            if len(names) != len(value):
                problems.append(f"{label}: args {text!r} is malformed; read as {list(names)!r}")
            return names
    except (ValueError, SyntaxError):
        if _BARE_LIST.fullmatch(text):
            names = tuple(a.strip() for a in text.strip()[1:-1].split(",") if a.strip())
            problems.append(
                f"{label}: args {text!r} is not a Python list of strings; read as {list(names)!r}"
            )
            return names
    problems.append(f"{label}: args {text!r} is not a list of argument names; no args")
    return ()


def _function_kwargs(text: str, label: str, problems: list[str]) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            value = None
    if isinstance(value, dict):
        return value
    problems.append(f"{label}: kwargs {text!r} is not a dictionary; ignored")
    return {}


# -- parameters --------------------------------------------------------------------------------


def _read_parameters(
    folder: Path, functions: dict[int, ParameterFunction], problems: list[str]
) -> dict[int, Parameter]:
    parameters: dict[int, Parameter] = {}
    for line, row in _rows(folder, PARAMETERS_FILE, problems):
        pid = _ident(row["id"], "PD")
        if pid is None:
            _bad_id(PARAMETERS_FILE, line, row, "PD", problems)
            continue
        if pid in parameters:
            problems.append(
                f"PD{pid} {row['name']}: duplicate parameter id (line {line}); the first definition is kept"
            )
            continue
        parameters[pid] = _parameter(pid, row, functions, problems)
    return parameters


def _parameter(
    pid: int, row: dict[str, str], functions: dict[int, ParameterFunction], problems: list[str]
) -> Parameter:
    name = row["name"]
    label = f"PD{pid} {name}"
    if not name:
        problems.append(f"PD{pid}: no name")
    encoding = row["valueencoding"]
    try:
        fill = fill_value_for(encoding, row.get("fillvalue", ""))
    except ValueError:
        problems.append(f"{label}: unknown value encoding {encoding!r}; no fill value, no dtype")
        fill = None
    function_id = None
    function_cell = row.get("parameterfunctionid", "")
    if function_cell:
        function_id = _ident(function_cell, "PFID")
        if function_id is None:
            problems.append(f"{label}: parameter function id {function_cell!r} is not PFID<n>")
        elif function_id not in functions:
            problems.append(f"{label}: parameter function PFID{function_id} does not exist")
    function_map = _parameter_map(
        label, row.get("parameterfunctionmap", ""), function_id, functions, problems
    )
    return Parameter(
        id=pid,
        name=name,
        netcdf_name=row.get("netcdf_name", "") or name,
        parameter_type=row["parametertype"],
        value_encoding=encoding,
        units=row.get("unitofmeasure", ""),
        fill_value=fill,
        display_name=row.get("displayname", ""),
        long_name=row.get("longname", ""),
        standard_name=row.get("standardname", ""),
        description=row.get("description", ""),
        data_product_identifier=row.get("dataproductidentifier", ""),
        data_level=row.get("datalevel", ""),
        dimensions=_dimensions(label, row.get("dimensions", ""), problems),
        function_id=function_id,
        function_map=function_map,
        code_set=row.get("codeset", ""),
    )


def _parameter_map(
    label: str,
    text: str,
    function_id: int | None,
    functions: dict[int, ParameterFunction],
    problems: list[str],
) -> dict | None:
    if not text:
        if function_id is not None:
            problems.append(f"{label}: has function PFID{function_id} but no function map")
        return None
    try:
        function_map = parse_function_map(text)
    except ValueError as exc:
        problems.append(f"{label}: function map does not parse: {exc}")
        return None
    if function_id is None:
        problems.append(f"{label}: has a function map but no parameter function id")
    elif function_id in functions:
        function = functions[function_id]
        extra = [arg for arg in function_map if arg not in function.args]
        if extra:
            problems.append(
                f"{label}: map argument(s) {', '.join(extra)} not among the args of "
                f"PFID{function_id} {function.function} ({', '.join(function.args) or 'none'})"
            )
    return function_map


def _dimensions(label: str, text: str, problems: list[str]) -> tuple[str, ...]:
    if not text:
        return ()
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if isinstance(value, list) and all(isinstance(d, str) for d in value):
        return tuple(value)
    problems.append(f"{label}: dimensions {text!r} is not a JSON list of names; ignored")
    return ()


# -- streams, bins, depths ---------------------------------------------------------------------


def _read_bin_sizes(folder: Path, problems: list[str]) -> dict[str, int]:
    bins: dict[str, int] = {}
    for line, row in _rows(folder, BIN_SIZES_FILE, problems):
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


def _read_streams(
    folder: Path, parameters: dict[int, Parameter], bins: dict[str, int], problems: list[str]
) -> dict[str, StreamDefinition]:
    streams: dict[str, StreamDefinition] = {}
    names_by_id: dict[int, str] = {}
    dependencies: dict[str, list[str]] = {}
    for line, row in _rows(folder, STREAMS_FILE, problems):
        sid = _ident(row["id"], "DICT")
        if sid is None:
            _bad_id(STREAMS_FILE, line, row, "DICT", problems)
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
        pid = _ident(item, "PD")
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
    pid = _ident(text, "PD")
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
        sid = _ident(dep, "DICT")
        name = names_by_id.get(sid) if sid is not None else (dep if dep in streams else None)
        if name is None:
            problems.append(f"{label}: stream dependency {dep!r} is not a known stream; left out")
        elif name not in sources:
            sources.append(name)
    return tuple(sources)


def _read_nominal_depths(folder: Path, problems: list[str]) -> dict[str, float]:
    depths: dict[str, float] = {}
    for line, row in _rows(folder, NOMINAL_DEPTHS_FILE, problems):
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
