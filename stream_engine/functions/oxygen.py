"""Dissolved oxygen: Aanderaa optodes (DOSTA) and Sea-Bird SBE 43 / 43F sensors (DOFST).

Formulas from the OOI Data Product Specifications DOCONCS (DCN 1341-00520) and DOCONCF
(1341-00521), the Aanderaa 4831 manual (Stern-Volmer-Uchida equation) and Garcia & Gordon (1992,
Limnol. Oceanogr. 37(6) 1307-1312, "combined fit" oxygen solubility coefficients).

Chains as preload wires them:

- analog DOSTA on a CTD: volts -> ``dosta_phase_volt_to_degree`` and ``dosta_Topt_volt_to_degC``
  -> ``do2_SVU`` (DOCONCS_L1, umol/L) -> ``do2_salinity_correction`` (DOXYGEN_L2, umol/kg);
- autonomous DOSTA: calibrated phase and optode temperature -> ``do2_SVU`` -> salinity correction;
- DOFST: ``do2_dofst_frequency`` / ``do2_dofst_volt`` give DOCONCF_L2 [umol/kg] directly.
"""

from __future__ import annotations

import gsw
import numpy as np

from stream_engine.functions import teos10
from stream_engine.functions.arrays import as_float, as_floats, coefficient_rows
from stream_engine.functions.registry import algorithm

OWNER = "ion_functions.data.do2_functions"

# Garcia & Gordon (1992), Table 1, 5th column (Benson & Krause data, umol/kg "combined fit"):
# salinity coefficients used for the DOSTA salinity correction.
_GG_B = (-6.24097e-3, -6.93498e-3, -6.90358e-3, -4.29155e-3)
_GG_C0 = -3.11680e-7

# Garcia & Gordon (1992), Table 1, 1st column (Benson & Krause, ml/L): oxygen solubility for the
# SBE 43 equation.
_SOL_A = (2.00907, 3.22014, 4.0501, 4.94457, -0.256847, 3.88767)
_SOL_B = (-0.00624523, -0.00737614, -0.010341, -0.00817083)
_SOL_C0 = -0.000000488682
_ML_PER_L_TO_UMOL = 44660.0


def _scaled_temperature(t: np.ndarray) -> np.ndarray:
    return np.log((298.15 - t) / (273.15 + t))


@algorithm(OWNER, "dosta_phase_volt_to_degree", version="1.0")
def dosta_phase_volt_to_degree(phase_volt) -> np.ndarray:
    """DOCONCS-DEG_L0 [degrees]: optode calibrated phase from its 0-5 V analog output, 10 + 12 V."""
    return 10.0 + 12.0 * as_float(phase_volt)


@algorithm(OWNER, "dosta_Topt_volt_to_degC", version="1.0")
def dosta_Topt_volt_to_degC(T_optode_volt) -> np.ndarray:
    """Optode foil temperature [deg_C] from its 0-5 V analog output, -5 + 8 V."""
    return -5.0 + 8.0 * as_float(T_optode_volt)


@algorithm(OWNER, "do2_SVU", version="1.0")
def do2_SVU(calphase, temp, csv, conc_coef=(0.0, 1.0)) -> np.ndarray:
    """DOCONCS_L1 [umol/L]: Stern-Volmer-Uchida oxygen from optode phase and foil temperature.

    Parameters
    ----------
    calphase
        Calibrated phase [degrees] (DOCONCS-DEG_L0).
    temp
        Optode foil temperature [deg_C].
    csv
        The seven Stern-Volmer-Uchida foil coefficients, ``(7,)`` or tiled ``(n, 7)``.
    conc_coef
        Secondary (two-point) calibration ``(offset, slope)``, ``(2,)`` or ``(n, 2)``; the
        default (0, 1) leaves the result unchanged.
    """
    calphase, temp = as_floats(calphase, temp)
    c = coefficient_rows(csv, 7, "csv")
    cc = coefficient_rows(conc_coef, 2, "conc_coef")
    ksv = c[:, 0] + c[:, 1] * temp + c[:, 2] * temp**2
    p0 = c[:, 3] + c[:, 4] * temp
    pc = c[:, 5] + c[:, 6] * calphase
    oxygen = (p0 / pc - 1.0) / ksv
    return cc[:, 0] + cc[:, 1] * oxygen


@algorithm(OWNER, "do2_salinity_correction", version="1.0")
def do2_salinity_correction(DO, P, T, SP, lat, lon, *, sref=0.0, pref=0.0) -> np.ndarray:
    """DOXYGEN_L2 [umol/kg]: optode oxygen corrected for salinity and pressure, per mass.

    Parameters
    ----------
    DO
        DOCONCS_L1 [umol/L], uncorrected.
    P, T, SP
        Pressure [dbar], temperature [deg_C] and practical salinity from the co-located CTD.
    lat, lon
        Position [degrees].
    sref
        The optode's internal salinity setting (usually 0, sometimes 35).
    pref
        Reference pressure of the potential density used to convert per volume to per mass [dbar].
    """
    DO, P, T, SP, lat, lon, sref, pref = as_floats(DO, P, T, SP, lat, lon, sref, pref)
    sa = teos10.sa_from_sp(SP, P, lon, lat)
    ct = teos10.ct_from_t(sa, T, P)
    potential_density = teos10.rho(sa, ct, pref)
    oxygen = 1000.0 * DO / potential_density
    oxygen = (1.0 + 0.032 * P / 1000.0) * oxygen
    ts = _scaled_temperature(T)
    b0, b1, b2, b3 = _GG_B
    bts = b0 + b1 * ts + b2 * ts**2 + b3 * ts**3
    return np.exp((SP - sref) * bts + _GG_C0 * (SP**2 - sref**2)) * oxygen


def _sbe43_oxygen(raw, offset, Soc, A, B, C, E, P, T, SP, lat, lon) -> np.ndarray:
    """Sea-Bird SBE 43 equation [umol/kg] for a voltage [V] or a frequency [Hz] signal."""
    sa = teos10.sa_from_sp(SP, P, lon, lat)
    potential_density = gsw.pot_rho_t_exact(sa, T, P, 0.0)
    temp_k = T + 273.15
    ts = np.log((298.15 - T) / temp_k)
    a0, a1, a2, a3, a4, a5 = _SOL_A
    b0, b1, b2, b3 = _SOL_B
    solubility = np.exp(
        a0 + a1 * ts + a2 * ts**2 + a3 * ts**3 + a4 * ts**4 + a5 * ts**5
        + SP * (b0 + b1 * ts + b2 * ts**2 + b3 * ts**3)
        + _SOL_C0 * SP**2
    )
    ml_per_l = (Soc * (raw + offset) * solubility * (1.0 + A * T + B * T**2 + C * T**3)
                * np.exp(E * P / temp_k))
    return ml_per_l * _ML_PER_L_TO_UMOL / potential_density


@algorithm(OWNER, "do2_dofst_frequency", version="1.0")
def do2_dofst_frequency(frequency, Foffset, Soc, A, B, C, E, P, T, SP, lat, lon) -> np.ndarray:
    """DOCONCF_L2 [umol/kg] from an SBE 43F frequency [Hz] (DOFST-K on an SBE 52-MP).

    ``Foffset``, ``Soc``, ``A``, ``B``, ``C``, ``E`` are the sensor's calibration coefficients;
    ``P``, ``T``, ``SP``, ``lat``, ``lon`` as for :func:`do2_salinity_correction`.
    """
    args = as_floats(frequency, Foffset, Soc, A, B, C, E, P, T, SP, lat, lon)
    return _sbe43_oxygen(*args)


@algorithm(OWNER, "do2_dofst_volt", version="1.0")
def do2_dofst_volt(voltage_counts, Voffset, Soc, A, B, C, E, P, T, SP, lat, lon) -> np.ndarray:
    """DOCONCF_L2 [umol/kg] from SBE 43 voltage counts (13107 per volt) on an SBE 16plus V2."""
    voltage_counts, *rest = as_floats(voltage_counts, Voffset, Soc, A, B, C, E, P, T, SP, lat, lon)
    return _sbe43_oxygen(voltage_counts / 13107.0, *rest)
