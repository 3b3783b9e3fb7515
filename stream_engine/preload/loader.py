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
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stream_engine.errors import PreloadError
from stream_engine.preload.csv_rows import (
    FUNCTIONS_FILE,
    PARAMETERS_FILE,
    parse_ident,
    read_rows,
    report_bad_id,
)
from stream_engine.preload.fill_values import fill_value_for, float_sentinels
from stream_engine.preload.function_map import parse_function_map
from stream_engine.preload.model import (
    Parameter,
    ParameterFunction,
    Preload,
)
from stream_engine.preload.stream_tables import read_bin_sizes, read_nominal_depths, read_streams

if TYPE_CHECKING:
    from stream_engine.preload.model import Source

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
    bins = read_bin_sizes(folder, problems)
    streams = read_streams(folder, parameters, bins, problems)
    depths = read_nominal_depths(folder, problems)
    return Preload(
        parameters=parameters,
        streams=streams,
        functions=functions,
        nominal_depths=depths,
        problems=problems,
        source=str(folder),
    )


# -- functions ---------------------------------------------------------------------------------


def _read_functions(folder: Path, problems: list[str]) -> dict[int, ParameterFunction]:
    functions: dict[int, ParameterFunction] = {}
    for line, row in read_rows(folder, FUNCTIONS_FILE, problems):
        fid = parse_ident(row["id"], "PFID")
        if fid is None:
            report_bad_id(FUNCTIONS_FILE, line, row, "PFID", problems)
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
    for line, row in read_rows(folder, PARAMETERS_FILE, problems):
        pid = parse_ident(row["id"], "PD")
        if pid is None:
            report_bad_id(PARAMETERS_FILE, line, row, "PD", problems)
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
        function_id = parse_ident(function_cell, "PFID")
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
        sentinels=float_sentinels(encoding, row.get("fillvalue", "")),
    )


def _parameter_map(
    label: str,
    text: str,
    function_id: int | None,
    functions: dict[int, ParameterFunction],
    problems: list[str],
) -> dict[str, Source] | None:
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
