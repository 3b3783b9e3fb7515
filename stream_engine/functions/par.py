"""Photosynthetically active radiation (OPTPARW_L1, umol photons m-2 s-1) from PARAD sensors.

Formulas from the OOI Data Product Specifications OPTPARW for Satlantic (DCN 1341-00720),
Biospherical QSP-2100/2200 (1341-00721) and WET Labs (1341-00722) instruments. Preload's
``par_satlantic`` (PFID75) and ``par_biospherical`` (PFID76) are the same formulas written as
NumexprFunction expressions; they go through :mod:`stream_engine.functions.numexpr_eval`.
"""

from __future__ import annotations

import numpy as np

from stream_engine.functions.arrays import as_floats
from stream_engine.functions.registry import algorithm

OWNER = "ion_functions.data.opt_functions"

# 1 umol photons m-2 s-1 = 6.02e13 quanta cm-2 s-1 (DPS); computed as upstream does, which is one
# float64 ULP below the literal 6.02e13, so that products match the OOI archive bit for bit.
QUANTA_PER_UMOL_CM2 = 6.02 * 10**13


@algorithm(OWNER, "opt_par_satlantic", version="1.0")
def opt_par_satlantic(counts_output, a0, a1, Im) -> np.ndarray:
    """OPTPARW_L1 from a Satlantic PAR sensor: Im * a1 * (counts - a0).

    ``a0`` is the offset [counts], ``a1`` the scale [umol photons m-2 s-1 per count] and ``Im``
    the immersion coefficient.
    """
    counts_output, a0, a1, Im = as_floats(counts_output, a0, a1, Im)
    return np.atleast_1d(Im * a1 * (counts_output - a0))


@algorithm(OWNER, "opt_par_wetlabs", version="1.0")
def opt_par_wetlabs(counts_output, a0, a1, Im) -> np.ndarray:
    """OPTPARW_L1 from a WET Labs logarithmic PAR sensor: Im * 10 ** ((counts - a0) / a1)."""
    counts_output, a0, a1, Im = as_floats(counts_output, a0, a1, Im)
    return np.atleast_1d(Im * 10.0 ** ((counts_output - a0) / a1))


@algorithm(OWNER, "opt_par_biospherical_mobile", version="1.0")
def opt_par_biospherical_mobile(output, dark_offset, scale_wet) -> np.ndarray:
    """OPTPARW_L1 from a Biospherical QSP-2155 on a glider: (volts - dark volts) / wet scale.

    ``scale_wet`` is in volts per (umol photons m-2 s-1).
    """
    output, dark_offset, scale_wet = as_floats(output, dark_offset, scale_wet)
    return np.atleast_1d((output - dark_offset) / scale_wet)


@algorithm(OWNER, "opt_par_biospherical_wfp", version="1.0")
def opt_par_biospherical_wfp(output, dark_offset, scale_wet) -> np.ndarray:
    """OPTPARW_L1 from a Biospherical QSP-2200 on a profiler.

    ``output`` and ``dark_offset`` are in millivolts; ``scale_wet`` is in volts per
    (quanta cm-2 s-1) and is converted to volts per (umol photons m-2 s-1).
    """
    output, dark_offset, scale_wet = as_floats(output, dark_offset, scale_wet)
    volts = output / 1000.0 - dark_offset / 1000.0
    return np.atleast_1d(volts / (scale_wet * QUANTA_PER_UMOL_CM2))
