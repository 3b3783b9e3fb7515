"""Coordinates of every stream's records: the deployment location, or for a mobile platform
values brought in from the platform's other streams.

A fixed instrument's records are where its deployment put it: ``lat``, ``lon`` and (when the
asset events give one) ``depth`` are the location of the deployment in force at each record
(:func:`location_positions`), missing outside every deployment. A moored profiler gets its
deployment's ``lat``/``lon`` too. A mobile platform (glider,
profiler: the node names ``GL``, ``PG``, ``SF``, ``WFP``, ``SP``, ``DP``, ``PC``) moves, so its
records carry coordinates taken from the platform's other instruments, as the original engine's
resolution does (``_get_mobile_externals`` and ``import_extra_externals``):

* ``int_ctd_pressure`` [dbar]: the sea pressure of the platform's CTD (the parameter carrying
  ``PRESWAT_L1``), interpolated onto the stream's times. Not added to the CTD's own streams
  (they carry the pressure themselves) nor to streams whose own ``pressure_depth`` is usable
  (:data:`PRESSURE_DEPTH_STREAMS`, the original's ``PRESSURE_DEPTH_APPLICABLE_STREAM_KEYS``);
* gliders only, from the ``glider_gps_position`` stream of the same glider: ``m_gps_lat`` /
  ``m_gps_lon`` (GPS fixes), ``m_lat`` / ``m_lon`` (the glider's dead reckoning), and ``lat`` /
  ``lon``: the position of every record, from the GPS stream's ``interp_lat`` / ``interp_lon``
  where it stores them (the glider parser's interpolation between fixes), else from its GPS
  fixes interpolated in time. The GPS stream itself gets ``lat`` / ``lon`` the same way from its
  own columns.

Values are interpolated like every external input (:mod:`stream_engine.engine.interpolate`):
linearly in time, skipping records without a value, never across a gap wider than
``MAX_INTERPOLATION_GAP``; so a fix is used only within that many seconds. A coordinate that
cannot be found is listed with the reason (``Plan.positions_unavailable``), never silently
absent. The other streams are searched like any input (:mod:`stream_engine.engine.colocation`),
where a mobile platform's candidates are its own instrument and its own node only.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

import numpy as np

from stream_engine.engine.colocation import is_mobile
from stream_engine.engine.interpolate import LINEAR, interpolate
from stream_engine.engine.plan import PositionInput
from stream_engine.engine.resolve_sources import Unresolvable

if TYPE_CHECKING:
    from stream_engine.engine.resolve_sources import SourceResolver
    from stream_engine.preload.model import Parameter, StreamDefinition
    from stream_engine.store.base import StreamKey

GLIDER_NODE_PREFIXES = ("GL", "PG")
PRESSURE_DPI = "PRESWAT_L1"
INT_PRESSURE = "int_ctd_pressure"
GPS_STREAM = "glider_gps_position"

__all__ = ["is_glider", "is_mobile", "position_values", "resolve_positions"]

#: Streams whose own ``pressure_depth`` is usable, so they get no ``int_ctd_pressure``; a
#: ``(refdes, stream)`` pair names one instrument's stream only.
PRESSURE_DEPTH_STREAMS: frozenset[str | tuple[str, str]] = frozenset({
    "dosta_abcdjm_cspp_instrument", "dosta_abcdjm_cspp_instrument_recovered",
    "cspp_eng_cspp_wc_hmr_eng", "cspp_eng_cspp_wc_hmr_eng_recovered",
    "cspp_eng_cspp_wc_sbe_eng", "cspp_eng_cspp_wc_sbe_eng_recovered",
    "cspp_eng_cspp_wc_wm_eng", "cspp_eng_cspp_wc_wm_eng_recovered",
    "parad_j_cspp_instrument", "parad_j_cspp_instrument_recovered",
    "spkir_abj_cspp_instrument", "spkir_abj_cspp_instrument_recovered",
    "velpt_j_cspp_instrument", "velpt_j_cspp_instrument_recovered",
    "flort_dj_cspp_instrument", "flort_dj_cspp_instrument_recovered",
    ("CE01ISSP-SP001-08-FLORTJ000", "flort_sample"), ("CE02SHSP-SP001-07-FLORTJ000", "flort_sample"),
    ("CE02SHSP-SP002-07-FLORTJ000", "flort_sample"), ("CE06ISSP-SP001-08-FLORTJ000", "flort_sample"),
    ("CE07SHSP-SP001-07-FLORTJ000", "flort_sample"), ("CP01CNSP-SP001-09-FLORTJ000", "flort_sample"),
    ("CP03ISSP-SP001-09-FLORTJ000", "flort_sample"),
})

#: GPS stream columns served under the same name by every other stream of the glider.
GPS_COLUMNS = ("m_gps_lat", "m_gps_lon", "m_lat", "m_lon")
#: ``lat``/``lon`` sources in the GPS stream, in order of preference.
POSITION_SOURCES = {"lat": ("interp_lat", "m_gps_lat"), "lon": ("interp_lon", "m_gps_lon")}

#: The location calibration each fixed-platform coordinate comes from.
LOCATION_OF = {"lat": "CC_lat", "lon": "CC_lon", "depth": "CC_depth"}

#: Attributes of the coordinate variables: long name, units, CF standard name, CF axis.
POSITION_ATTRIBUTES: dict[str, tuple[str, str, str, str]] = {
    "depth": ("Depth", "m", "depth", "Z"),
    "lat": ("Latitude", "degrees_north", "latitude", "Y"),
    "lon": ("Longitude", "degrees_east", "longitude", "X"),
    INT_PRESSURE: ("Interpolated CTD Pressure", "dbar", "sea_water_pressure", "Z"),
    "m_gps_lat": ("Measured GPS Latitude", "degrees_north", "latitude", ""),
    "m_gps_lon": ("Measured GPS Longitude", "degrees_east", "longitude", ""),
    "m_lat": ("Dead-Reckoned Latitude", "degrees_north", "latitude", ""),
    "m_lon": ("Dead-Reckoned Longitude", "degrees_east", "longitude", ""),
}


def is_glider(key: StreamKey) -> bool:
    return key.node.upper().startswith(GLIDER_NODE_PREFIXES)


def uses_pressure_depth(key: StreamKey) -> bool:
    """Whether the stream's own ``pressure_depth`` is usable (no interpolated CTD pressure)."""
    return key.stream in PRESSURE_DEPTH_STREAMS or (key.refdes, key.stream) in PRESSURE_DEPTH_STREAMS


def resolve_positions(resolver: SourceResolver) -> tuple[list[PositionInput], list[tuple[str, str]]]:
    """The coordinates the records of ``resolver.key`` carry, and those that cannot be found.

    Registers the external inputs (or own columns) they read with ``resolver``.
    """
    key = resolver.key
    if not is_mobile(key):
        return location_positions(resolver, depth=True), []
    found: list[PositionInput] = []
    missing: list[tuple[str, str]] = []
    preload = resolver.ctx.preload
    own_pressure = any(q.data_product_identifier == PRESSURE_DPI for q in preload.stream_parameters(key.stream))
    if not own_pressure and not uses_pressure_depth(key):
        try:
            arg = resolver.external_argument(
                INT_PRESSURE, f"dpi_{PRESSURE_DPI}",
                lambda d: resolver.with_dpi(d, PRESSURE_DPI),
            )
            found.append(PositionInput(INT_PRESSURE, arg.column or "",
                                       f"{arg.stream.path if arg.stream else ''} {arg.parameter}"))
        except Unresolvable as exc:
            missing.append((INT_PRESSURE, str(exc)))
    if is_glider(key):
        if key.stream == GPS_STREAM:
            _own_gps(resolver, found, missing)
        else:
            _other_gps(resolver, found, missing)
    else:  # a profiler stays on its mooring: its deployment location
        found.extend(location_positions(resolver, depth=False))
    return found, missing


def location_positions(resolver: SourceResolver, *, depth: bool) -> list[PositionInput]:
    """``lat``, ``lon`` (and ``depth`` when asked and some deployment of the instrument has one)
    from the deployment location in force at each record; missing outside deployments. A name
    the stream's own parameters use (a computed ``depth``) is left to that parameter."""
    refdes = resolver.key.refdes
    names = ["lat", "lon"]
    if depth and any(d.depth is not None for d in resolver.ctx.deployments_of(refdes)):
        names.append("depth")
    own = {n for q in resolver.ctx.preload.stream_parameters(resolver.key.stream) for n in (q.name, q.netcdf_name)}
    return [PositionInput(name, LOCATION_OF[name], f"deployment location of {refdes} (asset events)",
                          location=True) for name in names if name not in own]


def _gps_parameter(resolver: SourceResolver, name: str, definition: StreamDefinition) -> list[Parameter]:
    if definition.name != GPS_STREAM:
        return []
    return [q for q in resolver.ctx.preload.stream_parameters(GPS_STREAM) if q.name == name]


def _other_gps(resolver: SourceResolver, found: list[PositionInput], missing: list[tuple[str, str]]) -> None:
    columns: dict[str, str] = {}
    reasons: dict[str, str] = {}
    for name in (*GPS_COLUMNS, "interp_lat", "interp_lon"):
        try:
            arg = resolver.external_argument(name, f"{GPS_STREAM}.{name}", partial(_gps_parameter, resolver, name))
        except Unresolvable as exc:
            reasons[name] = str(exc)
            continue
        columns[name] = arg.column or ""
        source = f"{arg.stream.path if arg.stream else GPS_STREAM} {name}"
        if name in GPS_COLUMNS:
            found.append(PositionInput(name, columns[name], source))
    for name in GPS_COLUMNS:
        if name not in columns:
            missing.append((name, reasons[name]))
    for axis, sources in POSITION_SOURCES.items():
        usable = [s for s in sources if s in columns]
        if not usable:
            missing.append((axis, reasons[sources[-1]]))
            continue
        source = usable[0]
        found.append(PositionInput(axis, columns[source], f"{GPS_STREAM} {source}",
                                   between_fixes=source.startswith("m_gps")))


def _own_gps(resolver: SourceResolver, found: list[PositionInput], missing: list[tuple[str, str]]) -> None:
    stored = resolver.ctx.columns(resolver.key)
    for axis, sources in POSITION_SOURCES.items():
        usable = [s for s in sources if s in stored]
        if not usable:
            missing.append((axis, f"{resolver.key} holds none of {', '.join(sources)}"))
            continue
        source = usable[0]
        found.append(PositionInput(axis, source, f"{resolver.key.path} {source}", own=True,
                                   between_fixes=source.startswith("m_gps")))


def position_values(
    position: PositionInput,
    times: np.ndarray,
    columns: dict[str, np.ndarray],
    inputs: dict[str, np.ndarray],
    max_gap: float,
) -> np.ndarray:
    """float64 values of a coordinate on every record of a computed slice.

    ``columns`` are the slice's stored columns, ``inputs`` its interpolated external inputs.
    An own column of GPS fixes is interpolated in time between the fixes.
    """
    if not position.own:
        return np.asarray(inputs[position.column], dtype=np.float64)
    values = np.asarray(columns[position.column], dtype=np.float64)
    if position.between_fixes:
        return interpolate(times, times, values, kind=LINEAR, max_gap=max_gap)
    return values
