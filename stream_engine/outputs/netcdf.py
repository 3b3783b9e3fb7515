"""NetCDF4 export in the OOI layout, written chunk by chunk.

One file per deployment: dimension ``obs`` (unlimited, so chunks are appended as they are
computed; memory holds one chunk, never a whole file), ``time`` (float64 NTP seconds, CF units),
``deployment``, then the exported parameters, 2-D ``(obs, <dim>)`` for array parameters, strings
as variable-length strings, booleans as ``int8``, unsigned integers widened to signed. Every data variable is compressed (zlib level 1,
byte shuffle) in chunks of about :data:`CHUNK_RECORDS` records. Each variable's HDF5 chunk cache
holds only :data:`CACHED_CHUNKS` chunks, fully written ones leaving first, so a chunk is
compressed once, as soon as it is complete, inside the write that completes it (on the export's
writer thread, while the next records are computed) rather than all at close. Names, attributes and provenance
come from the :class:`~stream_engine.outputs.layout.ExportLayout`; files are written under a
temporary name and renamed to ``deployment%04d_<refdes>-<method>-<stream>_<start>-<end>.nc``
when closed, so a file with its final name is always complete.
"""

from __future__ import annotations

from typing import Any

import netCDF4
import numpy as np

from stream_engine.outputs.layout import (
    LAT,
    LON,
    POSITION_ATTRIBUTES,
    deployment_attributes,
    time_attributes,
)
from stream_engine.outputs.writer import ChunkWriter, DeploymentFile
from stream_engine.store.base import DEPLOYMENT, TIME

OBS = "obs"
CHUNK_RECORDS = 16384
#: HDF5 chunks kept uncompressed per variable: the one being filled and one more.
CACHED_CHUNKS = 2
COMPRESSION: dict[str, Any] = {"compression": "zlib", "complevel": 1, "shuffle": True}


_SIGNED = {1: np.int16, 2: np.int32, 4: np.int64, 8: np.int64}


def _storable(values: np.ndarray) -> np.ndarray:
    """Values as CF-1.8 NetCDF4 can store them: bool -> int8, unsigned -> the next wider signed
    type (CF-1.8 has no unsigned types; values and fill values are kept), strings -> str."""
    if values.dtype.kind == "b":
        return values.astype(np.int8)
    if values.dtype.kind == "u":
        return values.astype(_SIGNED[values.dtype.itemsize])
    if values.dtype.kind in "OUS":
        return np.asarray(values, dtype=object)
    return values


def _netcdf_type(values: np.ndarray) -> Any:
    return str if values.dtype.kind == "O" else values.dtype


class _NetcdfFile(DeploymentFile):
    """The open file of one deployment."""

    suffix = ".nc"

    def open(self, chunk: dict[str, np.ndarray]) -> None:
        self.dataset = netCDF4.Dataset(self.temporary, "w", format="NETCDF4")
        self.dataset.set_auto_mask(False)
        self.dataset.createDimension(OBS, None)
        self._create(TIME, chunk[TIME], time_attributes())
        self._create(DEPLOYMENT, chunk[DEPLOYMENT].astype(np.int32, copy=False), deployment_attributes())
        coordinates = self.layout.coordinates
        for variable in self.layout.variables:
            values = _storable(chunk[variable.name])
            self._create(variable.name, values, variable.attributes(values.dtype, coordinates), variable.parameter)
        for position in self.layout.positions:
            self._create(position.name, np.asarray(chunk[position.name], dtype=np.float64),
                         dict(position.attributes))
        if not self.layout.per_record_position:
            self._scalar_position()

    def _dimensions(self, name: str, values: np.ndarray, parameter: Any) -> tuple[str, ...]:
        dims = [OBS]
        for axis, size in enumerate(values.shape[1:]):
            candidates = []
            if parameter is not None and len(parameter.dimensions) == values.ndim - 1:
                candidates.append(parameter.dimensions[axis])
            candidates.append(f"{name}_dim_{axis}")
            for candidate in candidates:
                existing = self.dataset.dimensions.get(candidate)
                if existing is None:
                    self.dataset.createDimension(candidate, size)
                    dims.append(candidate)
                    break
                if len(existing) == size:
                    dims.append(candidate)
                    break
            else:
                fallback = f"{name}_dim_{axis}_{size}"
                self.dataset.createDimension(fallback, size)
                dims.append(fallback)
        return tuple(dims)

    def _create(self, name: str, values: np.ndarray, attrs: dict[str, Any], parameter: Any = None) -> None:
        attrs = dict(attrs)
        fill = attrs.pop("_FillValue", None)
        dims = self._dimensions(name, values, parameter)
        row = int(np.prod(values.shape[1:], dtype=np.int64)) or 1
        chunks = (max(1, CHUNK_RECORDS // row), *values.shape[1:])
        kind = values.dtype.kind
        options = {} if kind == "O" else {**COMPRESSION, "chunksizes": chunks}
        var = self.dataset.createVariable(name, _netcdf_type(values), dims,
                                          fill_value=fill if kind in "iuf" else None, **options)
        if options:
            chunk_bytes = int(np.prod(chunks, dtype=np.int64)) * values.dtype.itemsize
            var.set_var_chunk_cache(size=CACHED_CHUNKS * chunk_bytes, nelems=31, preemption=1.0)
        if kind == "O":
            attrs.pop("_FillValue", None)
        var.setncatts(attrs)

    def _scalar_position(self) -> None:
        found = self.layout.deployment(self.deployment)
        for name, value in ((LAT, None if found is None else found.lat),
                            (LON, None if found is None else found.lon)):
            if name in self.dataset.variables:
                continue
            var = self.dataset.createVariable(name, np.float64, (), fill_value=np.float64(np.nan))
            var.setncatts(POSITION_ATTRIBUTES[name])
            var.assignValue(np.nan if value is None else float(value))

    def append(self, chunk: dict[str, np.ndarray]) -> None:
        n0 = self.count
        n1 = n0 + len(chunk[TIME])
        variables = self.dataset.variables
        variables[TIME][n0:n1] = chunk[TIME]
        variables[DEPLOYMENT][n0:n1] = chunk[DEPLOYMENT].astype(np.int32, copy=False)
        for variable in self.layout.variables:
            variables[variable.name][n0:n1] = _storable(chunk[variable.name])
        for position in self.layout.positions:
            variables[position.name][n0:n1] = np.asarray(chunk[position.name], dtype=np.float64)

    def finish(self) -> None:
        attrs = self.layout.global_attributes(self.deployment, self.count, self.first, self.last)
        found = self.layout.deployment(self.deployment)
        if found is not None and found.lat is not None and found.lon is not None:
            attrs.setdefault("geospatial_lat_resolution", "0")
            attrs.setdefault("geospatial_lon_resolution", "0")
        self.dataset.setncatts(attrs)
        self.dataset.variables[TIME].setncattr("actual_range", np.array([self.first, self.last]))
        self.dataset.close()

    def abandon(self) -> None:
        dataset = getattr(self, "dataset", None)
        if dataset is not None and dataset.isopen():
            dataset.close()


class NetcdfWriter(ChunkWriter):
    """Writes NetCDF4 files, one per deployment, into ``folder``."""

    file_class = _NetcdfFile
    format_name = "netcdf"


__all__ = ["NetcdfWriter"]
