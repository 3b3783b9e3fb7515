"""Velocity profiles and echo intensity of Teledyne RDI ADCPs (VELPROF, ECHOINT; DCN 1341-00750).

Profiles are 2-D, one row of bins per record: ``(obs, bin)``. Formulas from the Data Product
Specification for Velocity Profile and Echo Intensity and the Teledyne RD Instruments manual
"ADCP Coordinate Transformation" (2008/2010):

* **beam coordinates** (``adcp_beam_*``): beam velocities -> instrument coordinates (4-beam
  Janus solution, beam angle 20 degrees, convex head; a 3-beam solution where exactly one beam
  has fewer than 25 % good pings, none where two or more have) -> Earth coordinates (heading,
  pitch, roll; roll turned by 180 degrees for an upward-looking instrument) -> rotated from
  magnetic to true north by the magnetic declination at the deployment's position and the
  sample time (:mod:`stream_engine.functions.declination`, the WMM edition valid then);
* **Earth coordinates** (``adcp_earth_*``): the instrument already rotated to magnetic Earth
  coordinates; only the declination correction and the mm/s -> m/s scaling remain;
* echo intensity [dB] = counts x the factory scale factor of the beam (``adcp_backscatter``);
* bin depths [m]: the sensor's depth plus (downward-looking) or minus (upward-looking) the
  distance of each bin centre (``adcp_bin_depths_*``).

The instrument marks a bad velocity with -32768; it is missing in every product. Velocities are
in mm/s on input and m/s on output.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from stream_engine.functions.arrays import as_float
from stream_engine.functions.declination import magnetic_declination, rotate_by_declination
from stream_engine.functions.depth import depth_from_pressure_dbar
from stream_engine.functions.registry import algorithm

OWNER = "ion_functions.data.adcp_functions"
#: Bad-velocity sentinel of Teledyne RDI ADCPs.
ADCP_FILL = -32768
#: Beam angle from the vertical [degrees] of the Workhorse family.
BEAM_ANGLE = 20.0
#: Fewest good pings [percent] for a beam to be used in a bin (vendor default).
PERCENT_GOOD_FLOOR = 25.0


def _profile(values: Any) -> np.ndarray:
    """A velocity profile as float64 ``(records, bins)`` with the instrument's sentinel as NaN."""
    out = np.atleast_2d(as_float(values))
    if (out == ADCP_FILL).any():
        out = np.where(out == ADCP_FILL, np.nan, out)
    return out


def _column(value: Any) -> np.ndarray:
    """A per-record value (or one value) as a ``(records or 1, 1)`` column against profiles."""
    return np.atleast_1d(as_float(value)).reshape(-1, 1)


def beam_to_instrument(b1, b2, b3, b4, pg1, pg2, pg3, pg4) -> tuple[np.ndarray, ...]:
    """Beam velocities [mm/s] -> instrument ``x, y, z`` and error velocity [mm/s].

    A beam with fewer than 25 % good pings in a bin is replaced by the value that makes the
    error velocity zero (the 3-beam solution); with two or more such beams the bin is missing.
    """
    b = [_profile(x) for x in (b1, b2, b3, b4)]
    bad = [np.atleast_2d(as_float(pg)) < PERCENT_GOOD_FLOOR for pg in (pg1, pg2, pg3, pg4)]
    replacement = (b[2] + b[3] - b[1], b[2] + b[3] - b[0], b[0] + b[1] - b[3], b[0] + b[1] - b[2])
    beams = [np.where(bad[k], replacement[k], b[k]) for k in range(4)]
    too_few = (bad[0].astype(np.int8) + bad[1] + bad[2] + bad[3]) > 1
    if too_few.any():
        beams = [np.where(too_few, np.nan, beam) for beam in beams]
    theta = np.radians(BEAM_ANGLE)
    a = 1.0 / (2.0 * np.sin(theta))
    b_ = 1.0 / (4.0 * np.cos(theta))
    d = a / np.sqrt(2.0)
    m1, m2, m3, m4 = beams
    x = a * (m1 - m2)
    y = a * (m4 - m3)
    z = b_ * (m1 + m2 + m3 + m4)
    e = d * (m1 + m2 - m3 - m4)
    return x, y, z, e


def instrument_to_earth(x, y, z, heading, pitch, roll, vertical) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Instrument-coordinate velocities -> magnetic east, north, up (same units).

    ``heading``, ``pitch`` and ``roll`` are in centidegrees, one per record; ``vertical`` is 1
    for an upward-looking instrument, 0 for a downward-looking one.
    """
    heading, pitch, roll, vertical = (_column(v) for v in (heading, pitch, roll, vertical))
    h = np.radians(heading / 100.0)
    r_deg = roll / 100.0
    r = np.radians(r_deg + vertical * 180.0)
    p = np.arctan(np.tan(np.radians(pitch / 100.0)) * np.cos(np.radians(r_deg)))
    ch, sh, cp, sp, cr, sr = np.cos(h), np.sin(h), np.cos(p), np.sin(p), np.cos(r), np.sin(r)
    east = (ch * cr + sh * sp * sr) * x + (sh * cp) * y + (ch * sr - sh * sp * cr) * z
    north = (ch * sp * sr - sh * cr) * x + (ch * cp) * y + (-sh * sr - ch * sp * cr) * z
    up = (-cp * sr) * x + sp * y + (cp * cr) * z
    return east, north, up


def _true_components(east, north, lat, lon, dt) -> tuple[np.ndarray, np.ndarray]:
    declination = _column(magnetic_declination(lat, lon, dt))
    return rotate_by_declination(east, north, declination)


def _earth_from_beams(b1, b2, b3, b4, pg1, pg2, pg3, pg4, h, p, r, vf) -> tuple[np.ndarray, ...]:
    x, y, z, _ = beam_to_instrument(b1, b2, b3, b4, pg1, pg2, pg3, pg4)
    return instrument_to_earth(x, y, z, h, p, r, vf)


@algorithm(OWNER, "adcp_beam_eastward", version="1.0")
def adcp_beam_eastward(b1, b2, b3, b4, pg1, pg2, pg3, pg4, h, p, r, vf, lat, lon, dt) -> np.ndarray:
    """VELPROF-VLE_L1 [m/s]: eastward velocity from beam velocities, declination corrected."""
    east, north, _ = _earth_from_beams(b1, b2, b3, b4, pg1, pg2, pg3, pg4, h, p, r, vf)
    return _true_components(east, north, lat, lon, dt)[0] / 1000.0


@algorithm(OWNER, "adcp_beam_northward", version="1.0")
def adcp_beam_northward(b1, b2, b3, b4, pg1, pg2, pg3, pg4, h, p, r, vf, lat, lon, dt) -> np.ndarray:
    """VELPROF-VLN_L1 [m/s]: northward velocity from beam velocities, declination corrected."""
    east, north, _ = _earth_from_beams(b1, b2, b3, b4, pg1, pg2, pg3, pg4, h, p, r, vf)
    return _true_components(east, north, lat, lon, dt)[1] / 1000.0


@algorithm(OWNER, "adcp_beam_vertical", version="1.0")
def adcp_beam_vertical(b1, b2, b3, b4, pg1, pg2, pg3, pg4, h, p, r, vf) -> np.ndarray:
    """VELPROF-VLU_L1 [m/s]: upward velocity from beam velocities."""
    return _earth_from_beams(b1, b2, b3, b4, pg1, pg2, pg3, pg4, h, p, r, vf)[2] / 1000.0


@algorithm(OWNER, "adcp_beam_error", version="1.0")
def adcp_beam_error(b1, b2, b3, b4, pg1, pg2, pg3, pg4) -> np.ndarray:
    """VELPROF-ERR_L1 [m/s]: error velocity from beam velocities (0 where 3-beam solved)."""
    return beam_to_instrument(b1, b2, b3, b4, pg1, pg2, pg3, pg4)[3] / 1000.0


@algorithm(OWNER, "adcp_earth_eastward", version="1.0")
def adcp_earth_eastward(u, v, z, lat, lon, dt) -> np.ndarray:
    """VELPROF-VLE_L1 [m/s]: eastward velocity of an ADCP in Earth coordinates, declination
    corrected (``z``, the instrument's depth, is not used: the declination is taken at the
    surface, as upstream)."""
    return _true_components(_profile(u), _profile(v), lat, lon, dt)[0] / 1000.0


@algorithm(OWNER, "adcp_earth_northward", version="1.0")
def adcp_earth_northward(u, v, z, lat, lon, dt) -> np.ndarray:
    """VELPROF-VLN_L1 [m/s]: northward velocity of an ADCP in Earth coordinates, declination
    corrected (``z`` not used, see :func:`adcp_earth_eastward`)."""
    return _true_components(_profile(u), _profile(v), lat, lon, dt)[1] / 1000.0


@algorithm(OWNER, "adcp_earth_vertical", version="1.0")
def adcp_earth_vertical(w) -> np.ndarray:
    """VELPROF-VLU_L1 [m/s]: upward velocity of an ADCP in Earth coordinates."""
    return _profile(w) / 1000.0


@algorithm(OWNER, "adcp_earth_error", version="1.0")
def adcp_earth_error(e) -> np.ndarray:
    """VELPROF-ERR_L1 [m/s]: error velocity of an ADCP in Earth coordinates."""
    return _profile(e) / 1000.0


@algorithm(OWNER, "adcp_backscatter", version="1.0")
def adcp_backscatter(raw, sfactor) -> np.ndarray:
    """ECHOINT_L1 [dB]: echo intensity counts times the beam's scale factor [dB/count]."""
    counts = np.atleast_2d(as_float(raw))
    return counts * _column(sfactor)


@algorithm(OWNER, "adcp_bin_depths_meters", version="1.0")
def adcp_bin_depths_meters(dist_first_bin, bin_size, num_bins, sensor_depth, adcp_orientation) -> np.ndarray:
    """Depth [m] of each bin centre from the sensor's depth [m].

    ``dist_first_bin`` and ``bin_size`` are in cm; ``adcp_orientation`` is 1 upward-looking
    (bins above the sensor), 0 downward-looking. The rows have as many bins as the largest
    ``num_bins`` of the records; bins beyond a record's own ``num_bins`` are missing.
    """
    first, size, count, depth, orientation = (
        _column(v) for v in (dist_first_bin, bin_size, num_bins, sensor_depth, adcp_orientation))
    finite = count[np.isfinite(count)]
    width = int(finite.max()) if finite.size else 1
    k = np.arange(width, dtype=np.float64).reshape(1, -1)
    sign = 1.0 - 2.0 * orientation
    out = np.abs(depth) + sign * (first / 100.0 + size / 100.0 * k)
    beyond = ~(k < count)
    if beyond.any():
        out = np.where(beyond, np.nan, out)
    return out


@algorithm(OWNER, "adcp_bin_depths_dapa", version="1.0")
def adcp_bin_depths_dapa(dist_first_bin, bin_size, num_bins, pressure, adcp_orientation, latitude) -> np.ndarray:
    """Bin depths [m] from the sensor's pressure in daPa (TEOS-10 depth)."""
    depth = depth_from_pressure_dbar(as_float(pressure) / 1000.0, latitude)
    return adcp_bin_depths_meters(dist_first_bin, bin_size, num_bins, depth, adcp_orientation)


@algorithm(OWNER, "adcp_bin_depths_bar", version="1.0")
def adcp_bin_depths_bar(dist_first_bin, bin_size, num_bins, pressure, adcp_orientation, latitude) -> np.ndarray:
    """Bin depths [m] from the sensor's pressure in bar (TEOS-10 depth)."""
    depth = depth_from_pressure_dbar(as_float(pressure) * 10.0, latitude)
    return adcp_bin_depths_meters(dist_first_bin, bin_size, num_bins, depth, adcp_orientation)



# The 5-beam VADCP (VELTURB, DCN 1341-00760): its four slanted beams give the same products as
# the 4-beam ADCP; the fifth, vertical beam measures the upward velocity itself.

@algorithm(OWNER, "vadcp_beam_eastward", version="1.0")
def vadcp_beam_eastward(b1, b2, b3, b4, pg1, pg2, pg3, pg4, h, p, r, vf, lat, lon, dt) -> np.ndarray:
    """VELTURB-VLE_L1 [m/s]: eastward velocity of the VADCP, declination corrected."""
    return adcp_beam_eastward(b1, b2, b3, b4, pg1, pg2, pg3, pg4, h, p, r, vf, lat, lon, dt)


@algorithm(OWNER, "vadcp_beam_northward", version="1.0")
def vadcp_beam_northward(b1, b2, b3, b4, pg1, pg2, pg3, pg4, h, p, r, vf, lat, lon, dt) -> np.ndarray:
    """VELTURB-VLN_L1 [m/s]: northward velocity of the VADCP, declination corrected."""
    return adcp_beam_northward(b1, b2, b3, b4, pg1, pg2, pg3, pg4, h, p, r, vf, lat, lon, dt)


@algorithm(OWNER, "vadcp_beam_vertical_est", version="1.0")
def vadcp_beam_vertical_est(b1, b2, b3, b4, pg1, pg2, pg3, pg4, h, p, r, vf) -> np.ndarray:
    """VELTURB-VLU-4BM_L1 [m/s]: upward velocity estimated from the four slanted beams."""
    return adcp_beam_vertical(b1, b2, b3, b4, pg1, pg2, pg3, pg4, h, p, r, vf)


@algorithm(OWNER, "vadcp_beam_vertical_true", version="1.0")
def vadcp_beam_vertical_true(b1, b2, b3, b4, b5, pg1, pg2, pg3, pg4, h, p, r, vf, *, pg5=None) -> np.ndarray:
    """VELTURB-VLU-5BM_L1 [m/s]: upward velocity with the vertical beam 5 as the instrument's z.

    The dictionary maps no percent good for beam 5 (``pg5``); when given, a bin with fewer than
    25 % good pings in beam 5 is missing.
    """
    x, y, _, _ = beam_to_instrument(b1, b2, b3, b4, pg1, pg2, pg3, pg4)
    z = _profile(b5)
    if pg5 is not None:
        z = np.where(np.atleast_2d(as_float(pg5)) < PERCENT_GOOD_FLOOR, np.nan, z)
    return instrument_to_earth(x, y, z, h, p, r, vf)[2] / 1000.0


@algorithm(OWNER, "vadcp_beam_error", version="1.0")
def vadcp_beam_error(b1, b2, b3, b4, pg1, pg2, pg3, pg4) -> np.ndarray:
    """VELTURB-ERR_L1 [m/s]: error velocity of the VADCP's four slanted beams."""
    return adcp_beam_error(b1, b2, b3, b4, pg1, pg2, pg3, pg4)
