"""CSV and TSV exports, one file per deployment, written chunk by chunk.

Columns: ``time`` (NTP seconds), ``time_iso8601`` (UTC, milliseconds), ``deployment``, the
exported parameters in layout order (an array parameter becomes one column per element,
``name[0]``, ``name[1]``, ...), then ``lat`` and ``lon`` (the engine's position variables when it
gives them, else the deployment's location), then the other per-record coordinates (``depth``,
``int_ctd_pressure``...). The header row names each column with its units in
parentheses, e.g. ``sea_water_temperature (deg_C)``. A missing value
(:func:`~stream_engine.preload.fill_values.missing_mask`) is an empty field. Floats are written
with the shortest text that reads back to the same value (float32 as float32). Fields holding the
delimiter, quotes or newlines are quoted (:mod:`csv`, ``QUOTE_MINIMAL``).
"""

from __future__ import annotations

import csv
from typing import TYPE_CHECKING, Any

import numpy as np

from stream_engine.outputs.layout import LAT, LON, ExportPosition, iso_times, time_attributes
from stream_engine.outputs.writer import ChunkWriter, DeploymentFile
from stream_engine.preload.fill_values import missing_mask
from stream_engine.store.base import DEPLOYMENT, TIME

if TYPE_CHECKING:
    from collections.abc import Iterator

ISO_COLUMN = "time_iso8601"


def _heading(name: str, units: str) -> str:
    return f"{name} ({units})" if units else name


def _texts(values: np.ndarray, fill: Any) -> list[str]:
    """One column as text, missing values empty."""
    kind = values.dtype.kind
    if kind == "f" and values.dtype.itemsize == 8:
        texts = [repr(v) for v in values.tolist()]
    elif kind == "f":
        texts = [str(v) for v in values]
    elif kind == "b":
        texts = ["1" if v else "0" for v in values.tolist()]
    else:
        texts = [str(v) for v in values.tolist()]
    if kind != "b":
        missing = missing_mask(values, fill)
        if missing.any():
            for i in np.flatnonzero(missing).tolist():
                texts[i] = ""
    return texts


class _DelimitedFile(DeploymentFile):
    delimiter = ","

    def open(self, chunk: dict[str, np.ndarray]) -> None:
        self.handle = open(self.temporary, "w", newline="", encoding="utf-8")  # noqa: SIM115
        self.csv = csv.writer(self.handle, delimiter=self.delimiter, lineterminator="\n")
        header = [_heading(TIME, time_attributes()["units"]), _heading(ISO_COLUMN, "UTC"), DEPLOYMENT]
        for variable in self.layout.variables:
            values = chunk[variable.name]
            if values.ndim == 1:
                header.append(_heading(variable.name, variable.units))
            else:
                width = int(np.prod(values.shape[1:]))
                header.extend(_heading(f"{variable.name}[{i}]", variable.units) for i in range(width))
        header += [_heading(LAT, "degrees_north"), _heading(LON, "degrees_east")]
        header += [_heading(p.name, p.units) for p in self._extra_positions]
        self.csv.writerow(header)

    def _columns(self, chunk: dict[str, np.ndarray]) -> Iterator[list[str]]:
        n = len(chunk[TIME])
        yield _texts(chunk[TIME], None)
        yield iso_times(chunk[TIME]).tolist()
        yield [str(v) for v in chunk[DEPLOYMENT].tolist()]
        for variable in self.layout.variables:
            values = chunk[variable.name]
            if values.ndim == 1:
                yield _texts(values, variable.fill)
            else:
                flat = values.reshape(n, -1)
                for i in range(flat.shape[1]):
                    yield _texts(np.ascontiguousarray(flat[:, i]), variable.fill)
        found = self.layout.deployment(self.deployment)
        for name in (LAT, LON):
            if name in chunk:
                yield _texts(np.asarray(chunk[name], dtype=np.float64), None)
            else:
                value = None if found is None else getattr(found, name)
                yield [""] * n if value is None else [repr(float(value))] * n
        for position in self._extra_positions:
            yield _texts(np.asarray(chunk[position.name], dtype=np.float64), None)

    @property
    def _extra_positions(self) -> list[ExportPosition]:
        """Per-record coordinates besides ``lat``/``lon`` (``depth``, ``int_ctd_pressure``...)."""
        return [p for p in self.layout.positions if p.name not in (LAT, LON)]

    def append(self, chunk: dict[str, np.ndarray]) -> None:
        self.csv.writerows(zip(*self._columns(chunk), strict=True))

    def finish(self) -> None:
        self.handle.close()

    def abandon(self) -> None:
        handle = getattr(self, "handle", None)
        if handle is not None:
            handle.close()


class _CsvFile(_DelimitedFile):
    suffix = ".csv"


class _TsvFile(_DelimitedFile):
    suffix = ".tsv"
    delimiter = "\t"


class CsvWriter(ChunkWriter):
    """Comma-separated files, one per deployment."""

    file_class = _CsvFile
    format_name = "csv"


class TsvWriter(ChunkWriter):
    """Tab-separated files, one per deployment."""

    file_class = _TsvFile
    format_name = "tsv"
