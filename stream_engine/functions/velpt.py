"""Point current meters (VELPT, Nortek Aquadopp / Vector): velocities in m/s, true east/north.

DPS VELPTMN (1341-00790) and VELPTTU (1341-00780): the instrument reports velocity in mm/s in
magnetic east/north/up; the L1 eastward/northward products are rotated through the magnetic
declination at the deployment's position and the sample time
(:mod:`stream_engine.functions.declination`: the World Magnetic Model edition valid then) and
scaled to m/s; the upward product is only scaled.
"""

from __future__ import annotations

import numpy as np

from stream_engine.functions.arrays import as_floats
from stream_engine.functions.declination import magnetic_declination, rotate_by_declination
from stream_engine.functions.registry import algorithm

OWNER = "ion_functions.data.vel_functions"
MM_PER_M = 1000.0


def _true_velocity(u, v, lat, lon, timestamp, z) -> tuple[np.ndarray, np.ndarray]:
    u, v, lat, lon, timestamp, z = as_floats(u, v, lat, lon, timestamp, z)
    declination = magnetic_declination(lat, lon, timestamp, -np.abs(z))
    east, north = rotate_by_declination(u, v, declination)
    return np.atleast_1d(east / MM_PER_M), np.atleast_1d(north / MM_PER_M)


@algorithm(OWNER, "velpt_mag_corr_east", version="1.0")
def velpt_mag_corr_east(u, v, lat, lon, timestamp, *, z=0.0) -> np.ndarray:
    """VELPTMN-VLE_L1 [m s-1]: eastward velocity from magnetic-frame ``u``, ``v`` [mm s-1];
    ``z`` is the instrument depth [m]."""
    return _true_velocity(u, v, lat, lon, timestamp, z)[0]


@algorithm(OWNER, "velpt_mag_corr_north", version="1.0")
def velpt_mag_corr_north(u, v, lat, lon, timestamp, *, z=0.0) -> np.ndarray:
    """VELPTMN-VLN_L1 [m s-1]: northward velocity corrected for magnetic declination."""
    return _true_velocity(u, v, lat, lon, timestamp, z)[1]


@algorithm(OWNER, "velpt_up_vel", version="1.0")
def velpt_up_vel(w) -> np.ndarray:
    """VELPTMN-VLU_L1 [m s-1]: upward velocity from ``w`` [mm s-1]."""
    w = np.atleast_1d(np.asarray(w))
    return w / MM_PER_M
