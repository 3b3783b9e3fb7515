"""WET Labs ECO fluorometers (FLORT, FLORD): chlorophyll-a, CDOM, optical backscatter.

Formulas from the OOI Data Product Specifications CHLAFLO (DCN 1341-00530), FLUBSCT (1341-00540)
and CDOMFLO (1341-00550). Pure-seawater scattering follows Zhang, Hu & He (2009, Optics Express
17(7) 5698-5710) with the refractive index of Quan & Fry (1995), air of Ciddor (1996), isothermal
compressibility of Lepple & Millero (1971), density of UNESCO (1981) and water activity of
Millero & Leung (1976), as the FLUBSCT DPS prescribes.
"""

from __future__ import annotations

import numpy as np

from stream_engine.functions.arrays import as_floats
from stream_engine.functions.registry import algorithm

OWNER = "ion_functions.data.flo_functions"

AVOGADRO = 6.0221417930e23  # mol-1
BOLTZMANN = 1.3806503e-23  # J K-1
WATER_MOLAR_MASS = 0.018  # kg mol-1
DEFAULT_DEPOLARIZATION = 0.039


def _scale_and_offset(counts_output, counts_dark, scale_factor) -> np.ndarray:
    counts_output, counts_dark, scale_factor = as_floats(counts_output, counts_dark, scale_factor)
    return (counts_output - counts_dark) * scale_factor


@algorithm(OWNER, "flo_chla", version="1.0")
def flo_chla(counts_output, counts_dark, scale_factor) -> np.ndarray:
    """CHLAFLO_L1 [ug L-1]: chlorophyll-a fluorescence, (counts - dark counts) * scale."""
    return _scale_and_offset(counts_output, counts_dark, scale_factor)


@algorithm(OWNER, "flo_cdom", version="1.0")
def flo_cdom(counts_output, counts_dark, scale_factor) -> np.ndarray:
    """CDOMFLO_L1 [ppb]: CDOM fluorescence, (counts - dark counts) * scale."""
    return _scale_and_offset(counts_output, counts_dark, scale_factor)


@algorithm(OWNER, "flo_beta", version="1.0")
def flo_beta(counts_output, counts_dark, scale_factor) -> np.ndarray:
    """FLUBSCT_L1 [m-1 sr-1]: volume scattering at the sensor's angle, (counts - dark) * scale."""
    return _scale_and_offset(counts_output, counts_dark, scale_factor)


def _refractive_index(wlngth, degC, psu) -> tuple[np.ndarray, np.ndarray]:
    """Absolute refractive index of seawater and its derivative with salinity."""
    inv_um2 = 1.0 / (wlngth / 1e3) ** 2
    n_air = 1.0 + (5792105.0 / (238.0185 - inv_um2) + 167917.0 / (57.362 - inv_um2)) / 1e8
    n0, n1, n2, n3, n4 = 1.31405, 1.779e-4, -1.05e-6, 1.6e-8, -2.02e-6
    n5, n6, n7, n8, n9 = 15.868, 0.01155, -0.00423, -4382.0, 1.1455e6
    relative = (n0 + (n1 + n2 * degC + n3 * degC**2) * psu + n4 * degC**2
                + (n5 + n6 * psu + n7 * degC) / wlngth + n8 / wlngth**2 + n9 / wlngth**3)
    dnds = (n1 + n2 * degC + n3 * degC**2 + n6 / wlngth) * n_air
    return relative * n_air, dnds


def _isothermal_compressibility(degC, psu) -> np.ndarray:
    """Seawater isothermal compressibility [Pa-1] from the secant bulk modulus."""
    kw = (19652.21 + 148.4206 * degC - 2.327105 * degC**2 + 1.360477e-2 * degC**3
          - 5.155288e-5 * degC**4)
    a0 = 54.6746 - 0.603459 * degC + 1.09987e-2 * degC**2 - 6.167e-5 * degC**3
    b0 = 7.944e-2 + 1.6483e-2 * degC - 5.3009e-4 * degC**2
    ks = kw + a0 * psu + b0 * psu**1.5
    return 1.0 / ks * 1e-5


def _density_unesco(degC, psu) -> np.ndarray:
    """Seawater density at zero pressure [kg m-3], UNESCO (1981)."""
    rho_w = (999.842594 + 6.793952e-2 * degC - 9.09529e-3 * degC**2 + 1.001685e-4 * degC**3
             - 1.120083e-6 * degC**4 + 6.536332e-9 * degC**5)
    a = 8.24493e-1 - 4.0899e-3 * degC + 7.6438e-5 * degC**2 - 8.2467e-7 * degC**3 + 5.3875e-9 * degC**4
    b = -5.72466e-3 + 1.0227e-4 * degC - 1.6546e-6 * degC**2
    return rho_w + a * psu + b * psu**1.5 + 4.8314e-4 * psu**2


def _seawater_scattering(degC, psu, theta, wlngth, delta) -> tuple[np.ndarray, np.ndarray]:
    """Pure seawater volume scattering at ``theta`` [m-1 sr-1] and total scattering [m-1]."""
    nsw, dnds = _refractive_index(wlngth, degC, psu)
    icomp = _isothermal_compressibility(degC, psu)
    rho = _density_unesco(degC, psu)
    dlnawds = ((-5.58651e-4 + 2.40452e-7 * degC - 3.12165e-9 * degC**2 + 2.40808e-11 * degC**3)
               + 1.5 * (1.79613e-5 - 9.9422e-8 * degC + 2.08919e-9 * degC**2
                        - 1.39872e-11 * degC**3) * psu**0.5
               + 2.0 * (-2.31065e-6 - 1.37674e-9 * degC - 1.93316e-11 * degC**2) * psu)
    dfri = (nsw**2 - 1.0) * (1.0 + 2.0 / 3.0 * (nsw**2 + 2.0) * (nsw / 3.0 - 1.0 / 3.0 / nsw) ** 2)
    cabannes = (6.0 + 6.0 * delta) / (6.0 - 7.0 * delta)
    wl4 = (wlngth * 1e-9) ** -4
    beta_density = np.pi**2 / 2.0 * wl4 * BOLTZMANN * (degC + 273.15) * icomp * dfri**2 * cabannes
    concentration = psu * WATER_MOLAR_MASS * dnds**2 / rho / -dlnawds / AVOGADRO
    beta_concentration = 2.0 * np.pi**2 * wl4 * nsw**2 * concentration * cabannes
    beta90 = beta_density + beta_concentration
    bsw = 8.0 * np.pi / 3.0 * beta90 * (2.0 + delta) / (1.0 + delta)
    betasw = beta90 * (1.0 + (1.0 - delta) / (1.0 + delta) * np.cos(np.radians(theta)) ** 2)
    return betasw, bsw


@algorithm(OWNER, "flo_scat_seawater", version="1.0")
def flo_scat_seawater(degC, psu, theta, wlngth, delta=DEFAULT_DEPOLARIZATION) -> np.ndarray:
    """Total scattering coefficient of pure seawater [m-1] (Zhang et al. 2009).

    Parameters
    ----------
    degC, psu
        In-situ temperature [deg_C] and practical salinity from the co-located CTD.
    theta
        Scattering angle of the sensor [degrees] (does not affect the total).
    wlngth
        Wavelength [nm].
    delta
        Depolarization ratio (0.039 by default).
    """
    degC, psu, theta, wlngth, delta = as_floats(degC, psu, theta, wlngth, delta)
    return _seawater_scattering(degC, psu, theta, wlngth, delta)[1]


@algorithm(OWNER, "flo_bback_total", version="1.0")
def flo_bback_total(beta, degC, psu, theta, wlngth, xfactor) -> np.ndarray:
    """FLUBSCT_L2 [m-1]: total (seawater + particle) optical backscatter coefficient.

    Parameters
    ----------
    beta
        FLUBSCT_L1, measured volume scattering [m-1 sr-1].
    degC, psu
        In-situ temperature [deg_C] and practical salinity from the co-located CTD.
    theta
        Centroid scattering angle of the sensor [degrees] (124 for ECO triplets).
    wlngth
        Wavelength [nm].
    xfactor
        Chi factor relating particle scattering at ``theta`` to particle backscatter (1.076).
    """
    beta, degC, psu, theta, wlngth, xfactor = as_floats(beta, degC, psu, theta, wlngth, xfactor)
    betasw, bsw = _seawater_scattering(degC, psu, theta, wlngth, DEFAULT_DEPOLARIZATION)
    particle_backscatter = xfactor * 2.0 * np.pi * (beta - betasw)
    return particle_backscatter + bsw / 2.0
