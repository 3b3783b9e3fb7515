"""Rows of the upstream preload CSV files: file names, required columns, tolerant reading."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from pathlib import Path

from stream_engine.errors import PreloadError

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


# -- reading rows ------------------------------------------------------------------------------


def read_rows(folder: Path, name: str, problems: list[str]) -> Iterator[tuple[int, dict[str, str]]]:
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


def parse_ident(text: str, prefix: str) -> int | None:
    m = re.fullmatch(prefix + r"\s*(\d+)", text.strip())
    return int(m.group(1)) if m else None


def report_bad_id(name: str, line: int, row: dict[str, str], prefix: str, problems: list[str]) -> None:
    problems.append(f"{name} line {line}: id {row.get('id', '')!r} is not {prefix}<n>; row skipped")
