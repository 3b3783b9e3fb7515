"""TEOS-10 on arrays, bit-identical to ``gsw``, from the compiled kernels of
:mod:`stream_engine.functions.teos10_kernels`.

``sp_from_c``, ``ct_from_t``, ``rho``, ``sa_from_sp`` and the fused ``insitu_density`` return
exactly (bit for bit, NaN where gsw gives NaN) what ``gsw.SP_from_C``, ``gsw.CT_from_t``,
``gsw.rho``, ``gsw.SA_from_SP`` and their composition return; ``tests/functions/test_teos10.py``
checks millions of random in-range samples and the OOI sample positions against gsw, which stays
the reference and the fallback.

Absolute Salinity per position, not per record. ``gsw_saar`` interpolates the atlas bilinearly
in longitude and latitude and linearly in pressure between the atlas's 45 standard levels, so at
one position the Absolute Salinity Anomaly Ratio is a piecewise linear function of pressure:
:func:`saar_table` asks ``gsw.SAAR`` once per position for its values at the standard levels
(kept per process, so once per deployment location), and the kernels interpolate them per record
with gsw's own level search and weights. Pressures below the deepest valid level of the position
come out as gsw clips them (the table repeats that level's value). Where this does not hold, gsw
computes the values: the Baltic (``gsw.SA_from_SP`` uses its own formula there), a missing
position, and positions that change from record to record (more than :data:`MAX_POSITIONS`
distinct runs in one call: moving platforms).

Compilation: the kernels are compiled once and cached on disk; :func:`warm_up` loads (or
compiles) every one of them, and runs when a web worker starts and at install, so no request
ever waits for the compiler.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import gsw
import numpy as np

from stream_engine.functions import teos10_kernels as kernels
from stream_engine.functions.arrays import as_float

#: More distinct consecutive positions than this in one call: the platform moves, gsw computes.
MAX_POSITIONS = 64
#: Positions whose SAAR table is kept per process.
MAX_TABLES = 4096


@dataclass(frozen=True, slots=True)
class SaarTable:
    """One position's SAAR at the standard levels (``upper``) and to the next level (``step``)."""

    upper: np.ndarray
    step: np.ndarray


_tables: dict[tuple[float, float], SaarTable | None] = {}
_tables_lock = threading.Lock()


def saar_table(lon: float, lat: float) -> SaarTable | None:
    """The SAAR table of a position, or ``None`` where gsw must compute (Baltic, no position).

    ``upper[k]`` is ``gsw.SAAR`` at standard level ``k`` (NaN where the atlas has no value);
    ``step[k]`` is ``upper[k + 1] - upper[k]``, 0 where level ``k + 1`` has no value (``gsw_saar``
    then keeps the upper level's value).
    """
    key = (float(lon), float(lat))
    with _tables_lock:
        if key in _tables:
            return _tables[key]
    table: SaarTable | None = None
    if np.isfinite(key[0]) and np.isfinite(key[1]):
        baltic = gsw.SA_from_SP_Baltic(np.array([35.0]), key[0], key[1])
        if not np.isfinite(baltic).any():
            upper = np.ascontiguousarray(gsw.SAAR(kernels.SAAR_LEVELS, key[0], key[1]), dtype=np.float64)
            following = upper[1:]
            step = np.where(np.isnan(following), 0.0, following - upper[:-1])
            step = np.append(step, 0.0)
            upper.flags.writeable = False
            step.flags.writeable = False
            table = SaarTable(upper, step)
    with _tables_lock:
        if len(_tables) >= MAX_TABLES:
            _tables.clear()
        _tables[key] = table
    return table


def _columns(*values: Any, positions: bool = True,
             float32: bool = False) -> tuple[tuple[int, ...], list[np.ndarray]]:
    """The broadcast shape and each value as a contiguous flat float64 array of that size;
    with ``positions=False`` the last two values (a position given once) only count for the
    shape and are not returned. With ``float32``, values that are all float32 arrays (the
    engine's L1 and L2 products) stay float32 (the loops convert each value exactly, so no
    converted copy is made); any other mix becomes float64."""
    kept = values if positions else values[:-2]
    shape = np.broadcast_shapes(*(np.shape(v) for v in values))
    if not (float32 and all(type(v) is np.ndarray and v.dtype == np.float32 for v in kept)):
        kept = tuple(as_float(v) for v in kept)
    return shape, [np.ascontiguousarray(np.broadcast_to(a, shape)).reshape(-1) for a in kept]


def _runs(lon: np.ndarray, lat: np.ndarray) -> list[tuple[int, int]] | None:
    """(start, stop) of each run of one position, or ``None`` past :data:`MAX_POSITIONS` runs."""
    n = len(lon)
    if n == 0:
        return []
    changes = np.flatnonzero((lon[1:] != lon[:-1]) | (lat[1:] != lat[:-1])) + 1
    if len(changes) >= MAX_POSITIONS:
        return None
    bounds = [0, *changes.tolist(), n]
    return list(zip(bounds[:-1], bounds[1:], strict=True))


def sp_from_c(c: Any, t: Any, p: Any, *, c_scale: float = 1.0) -> np.ndarray:
    """``gsw.SP_from_C``: practical salinity from conductivity [mS cm-1], t [deg C], p [dbar].

    ``c_scale``: the conductivity is ``c * c_scale``, multiplied in float64 (10 for S m-1),
    exactly as ``gsw.SP_from_C(np.multiply(c, c_scale, dtype=float64), t, p)``.
    """
    shape, (c, t, p) = _columns(c, t, p, float32=True)
    out = np.empty(c.shape, dtype=np.float64)
    kernels.sp_from_c_loop(c, float(c_scale), t, p, out)
    return out.reshape(shape)


def ct_from_t(sa: Any, t: Any, p: Any) -> np.ndarray:
    """``gsw.CT_from_t``: Conservative Temperature from Absolute Salinity, in-situ t and p."""
    shape, (sa, t, p) = _columns(sa, t, p)
    out = np.empty(sa.shape, dtype=np.float64)
    kernels.ct_from_t_loop(sa, t, p, out)
    return out.reshape(shape)


def rho(sa: Any, ct: Any, p: Any) -> np.ndarray:
    """``gsw.rho``: in-situ density from Absolute Salinity, Conservative Temperature and p."""
    shape, (sa, ct, p) = _columns(sa, ct, p)
    out = np.empty(sa.shape, dtype=np.float64)
    kernels.rho_loop(sa, ct, p, out)
    return out.reshape(shape)


def sa_from_sp(sp: Any, p: Any, lon: Any, lat: Any) -> np.ndarray:
    """``gsw.SA_from_SP``: Absolute Salinity from practical salinity, p and position."""
    if _one_position(lon, lat):
        shape, (sp, p) = _columns(sp, p, lon, lat, positions=False, float32=True)
        return _absolute_salinity_at(sp, p, float(lon), float(lat)).reshape(shape)
    shape, (sp, p, lon, lat) = _columns(sp, p, lon, lat)
    return _absolute_salinity(sp, p, lon, lat).reshape(shape)


def _one_position(lon: Any, lat: Any) -> bool:
    """Whether the position is one value for every record (a fixed platform's deployment)."""
    return np.ndim(lon) == 0 and np.ndim(lat) == 0 and not isinstance(lon, np.ma.MaskedArray | str) \
        and not isinstance(lat, np.ma.MaskedArray | str)


def _absolute_salinity_at(sp: np.ndarray, p: np.ndarray, lon: float, lat: float) -> np.ndarray:
    """:func:`_absolute_salinity` where every record is at one position (no per-record columns
    of the position to build and scan)."""
    out = np.empty(sp.shape, dtype=np.float64)
    table = saar_table(lon, lat)
    if table is None:
        out[:] = gsw.SA_from_SP(sp, p, lon, lat)
    else:
        kernels.sa_from_sp_loop(sp, p, kernels.SAAR_LEVELS, kernels.SAAR_LEVEL_INDEX, table.upper, table.step, out)
    return out


def _absolute_salinity(sp: np.ndarray, p: np.ndarray, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """:func:`sa_from_sp` on flat contiguous float64 arrays of one length."""
    out = np.empty(sp.shape, dtype=np.float64)
    runs = _runs(lon, lat)
    if runs is None:
        out[:] = gsw.SA_from_SP(sp, p, lon, lat)
        return out
    for start, stop in runs:
        table = saar_table(lon[start], lat[start])
        part = slice(start, stop)
        if table is None:
            out[part] = gsw.SA_from_SP(sp[part], p[part], lon[start], lat[start])
        else:
            kernels.sa_from_sp_loop(sp[part], p[part], kernels.SAAR_LEVELS, kernels.SAAR_LEVEL_INDEX,
                                    table.upper, table.step, out[part])
    return out


def insitu_density(sp: Any, t: Any, p: Any, lon: Any, lat: Any) -> np.ndarray:
    """In-situ density [kg m-3] from practical salinity, in-situ t [deg C], p [dbar] and position:
    ``gsw.rho(SA, gsw.CT_from_t(SA, t, p), p)`` with ``SA = gsw.SA_from_SP(SP, p, lon, lat)``.

    Two passes (Absolute Salinity, then density from it): each vectorises on its own, a
    single loop with the level lookup inside did not.
    """
    if _one_position(lon, lat):
        shape, (sp, t, p) = _columns(sp, t, p, lon, lat, positions=False, float32=True)
        sa = _absolute_salinity_at(sp, p, float(lon), float(lat))
    else:
        shape, (sp, t, p, lon, lat) = _columns(sp, t, p, lon, lat)
        sa = _absolute_salinity(sp, p, lon, lat)
    out = np.empty(sp.shape, dtype=np.float64)
    kernels.rho_t_loop(sa, t, p, out)
    return out.reshape(shape)


def warm_up() -> None:
    """Load every kernel loop from the on-disk cache, compiling what is not cached yet (seconds),
    then let no loop compile again in this process.

    Each loop is compiled for read-only inputs (a writable array converts to that type, so one
    compiled version serves both, without copying the engine's read-only arrays) and a writable
    output; afterwards a call never compiles: inputs are always flat contiguous float64 arrays,
    or for the loops that take them all-float32 ones (:func:`_columns`), which those versions take.
    """
    def frozen(values: list[float]) -> np.ndarray:
        array = np.array(values, dtype=np.float64)
        array.flags.writeable = False
        return array

    one, two = frozen([35.0, 1.0]), frozen([10.0, 100.0])
    one32, two32 = (np.array(a, dtype=np.float32) for a in (one, two))
    one32.flags.writeable = two32.flags.writeable = False
    out = np.empty(2)
    table = saar_table(-124.0, 44.0)
    assert table is not None
    for c, t_p in ((one, two), (one32, two32)):  # float64, and float32 products as the engine keeps them
        kernels.sp_from_c_loop(c, 10.0, t_p, t_p, out)
        kernels.rho_t_loop(one, t_p, t_p, out)
        kernels.sa_from_sp_loop(c, t_p, kernels.SAAR_LEVELS, kernels.SAAR_LEVEL_INDEX, table.upper, table.step, out)
    kernels.ct_from_t_loop(one, two, two, out)
    kernels.rho_loop(one, two, two, out)
    for loop in LOOPS:
        loop.disable_compile()


#: Every compiled loop this module calls.
LOOPS = (kernels.sp_from_c_loop, kernels.ct_from_t_loop, kernels.rho_loop, kernels.rho_t_loop,
         kernels.sa_from_sp_loop)


__all__ = ["MAX_POSITIONS", "SaarTable", "ct_from_t", "insitu_density", "rho", "sa_from_sp", "saar_table",
           "sp_from_c", "warm_up"]
