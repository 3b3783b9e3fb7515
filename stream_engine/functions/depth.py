"""Depth below the sea surface from sea pressure (TEOS-10 ``z_from_p``).

Preload computes the depth of most CTDs, and of other instruments carrying a pressure sensor,
with ``ion_functions.data.adcp_functions.depth_from_pressure_dbar`` (PFID217), so it is
registered under that name although it is not an ADCP algorithm.
"""

from __future__ import annotations

import gsw
import numpy as np

from stream_engine.functions.arrays import as_float, as_floats
from stream_engine.functions.registry import algorithm


@algorithm("ion_functions.data.adcp_functions", "depth_from_pressure_dbar", version="1.0")
def depth_from_pressure_dbar(pressure, latitude, pressure_scale_factor=None) -> np.ndarray:
    """Depth [m, positive down] from pressure and latitude, TEOS-10 ``-z_from_p``.

    Parameters
    ----------
    pressure
        Sea pressure, in dbar after scaling.
    latitude
        Latitude [degrees north].
    pressure_scale_factor
        Multiplier converting ``pressure`` to dbar (10 when it is in bar). ``None``
        or 0 means the pressure is already in dbar, as upstream.
    """
    pressure, latitude = as_floats(pressure, latitude)
    if pressure_scale_factor is not None:
        factor = as_float(pressure_scale_factor)
        pressure = pressure * np.where(factor == 0.0, 1.0, factor)
    return -np.asarray(gsw.z_from_p(pressure, latitude), dtype=np.float64)
