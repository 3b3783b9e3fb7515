"""The COARE 3.5 bulk air-sea flux algorithm with the cool-skin and warm-layer corrections.

Fairall et al. (1996, 2003), Edson et al. (2013), as specified for the OOI METBK buoys by the
DPS for the bulk flux products (1341-00360/00370/00380/...) and implemented by ion-functions'
``met_functions`` (``coare35vn``, ``warmlayer``): the same constants, six fixed iterations, the
stable-case rule (records with initial ``zeta > 50`` keep the first iteration's values) and the
OOI warm-layer rule.

The warm-layer rule: the warm layer is integrated through each *local solar day* (UTC time plus
``lon * 240`` seconds), starting from zero at the day's first record, and only for days whose
first record is at or before 06:00 local solar time (equatorial sunrise). Records of days that
start later have no warm-layer estimate, so every product needing it is missing there: a window
of data starting in the afternoon gives missing fluxes until the next local midnight.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stream_engine.functions.met import ALBEDO, met_spechum

C2K = 273.15  # degC to kelvin
CPA = 1004.67  # specific heat capacity of dry air [J/kg/K]
CPW = 4000.0  # specific heat capacity of seawater at 20 degC, S 35 [J/kg/K]
RHOW = 1022.0  # density of seawater at 20 degC, S 31 [kg/m3]
RGAS = 287.05  # gas constant of dry air [J/kg/K]
VON = 0.4  # von Karman constant
BETA = 1.2  # gustiness coefficient
WARM_LAYER_START = 21600.0  # 06:00 local solar time: a day's first record must be this early
MAX_WARM_LAYER_DEPTH = 19.0  # [m]
CRITICAL_RICHARDSON = 0.65
ITERATIONS = 6


@dataclass(slots=True)
class BulkInputs:
    """Inputs of the bulk algorithm, one float64 value per record (switches are scalars).

    Units: temperatures deg C, ``wnd`` (relative wind speed) m/s, heights/depths m, ``relhum`` %,
    ``pr_air`` mbar, radiation W/m2, ``rain_rate`` mm/h, ``timestamp`` NTP s, positions degrees.
    """

    rain_rate: np.ndarray
    timestamp: np.ndarray
    lon: np.ndarray
    ztmpwat: np.ndarray
    tC_sea: np.ndarray
    wnd: np.ndarray
    zwindsp: np.ndarray
    tC_air: np.ndarray
    ztmpair: np.ndarray
    relhum: np.ndarray
    zhumair: np.ndarray
    pr_air: np.ndarray
    Rshort_down: np.ndarray
    Rlong_down: np.ndarray
    lat: np.ndarray
    zinvpbl: np.ndarray
    jcool: float
    jwarm: float

    def at(self, i: int) -> BulkInputs:
        """The inputs of record ``i`` alone (arrays of one value)."""
        s = slice(i, i + 1)
        return BulkInputs(*(getattr(self, f)[s] for f in _ARRAY_FIELDS), jcool=self.jcool, jwarm=self.jwarm)


_ARRAY_FIELDS = tuple(f for f in BulkInputs.__dataclass_fields__ if f not in ("jcool", "jwarm"))


@dataclass(slots=True)
class BulkResult:
    """Scaling parameters and corrections (COARE names): friction velocity ``usr``, temperature
    ``tsr`` and humidity ``qsr`` scales, gusty wind ``ut``, cool-skin ``dter``/``dqer``, cool-skin
    thickness ``tkt``, Obukhov length ``L``, roughness lengths, and the warm layer: its warming
    ``dt_wrm``, thickness ``tk_pwp`` and the warming at the sensor depth ``dsea``."""

    usr: np.ndarray
    tsr: np.ndarray
    qsr: np.ndarray
    ut: np.ndarray
    dter: np.ndarray
    dqer: np.ndarray
    tkt: np.ndarray
    L: np.ndarray
    zou: np.ndarray
    zot: np.ndarray
    zoq: np.ndarray
    dt_wrm: np.ndarray
    tk_pwp: np.ndarray
    dsea: np.ndarray


# -- simple relations -------------------------------------------------------------------------

def air_density(tC_air, pr_air, relhum):
    """Density of moist air [kg/m3]."""
    q = met_spechum(tC_air, pr_air, relhum) / 1000.0
    return pr_air * 100.0 / (1.0 + 0.61 * q) / (RGAS * (tC_air + C2K))


def gravity(lat):
    """Gravitational acceleration [m/s2] at latitude ``lat`` (WGS84 normal gravity, IGF 1980)."""
    x = np.sin(np.radians(lat))
    xsq = x * x
    return 9.7803267715 * (1.0 + xsq * (0.0052790414 + xsq * (0.0000232718 + xsq * (0.0000001262
                                                                                   + xsq * 0.0000000007))))


def latent_heat(tC_water):
    """Latent heat of vaporisation of pure water [J/kg]."""
    return (2500.8 - 2.37 * tC_water) * 1000.0


def net_longwave_up(tC_water, longwave_down):
    """Net upward longwave irradiance [W/m2] from a surface at ``tC_water`` (emissivity 0.97)."""
    return 0.97 * (5.67e-8 * (tC_water + C2K) ** 4 - longwave_down)


def net_shortwave_down(shortwave_down):
    return (1.0 - ALBEDO) * shortwave_down


def sea_spechum(tC_sea, pr_air):
    """Specific humidity [g/kg] at the sea surface (saturation reduced 2 % for salinity)."""
    es = 6.1121 * np.exp(17.502 * tC_sea / (tC_sea + 240.97)) * (1.0007 + 3.46e-6 * pr_air)
    es_sea = 0.98 * es
    return 621.97 * es_sea / (pr_air - 0.378 * es_sea)


def water_thermal_expansion(tC_water):
    return 2.1e-5 * (tC_water + 3.2) ** 0.79


def _psi_convective(zet_k, coefficient):
    x = (1.0 - coefficient * zet_k) ** 0.3333
    return (1.5 * np.log((1.0 + x + x ** 2) / 3.0) - np.sqrt(3) * np.arctan((1.0 + 2.0 * x) / np.sqrt(3))
            + 4.0 * np.arctan(1) / np.sqrt(3))


def psit_26(zet):
    """Stability function for temperature and humidity (COARE 3.5)."""
    zet = np.array(zet, dtype=np.float64, ndmin=1)
    dzet = np.minimum(50.0, 0.35 * zet)
    psi = -((1.0 + 0.6667 * np.abs(zet)) ** 1.5 + 0.6667 * (zet - 14.28) * np.exp(-dzet) + 8.525)
    zet[np.isnan(zet)] = 1.0
    k = zet < 0.0
    x = (1.0 - 16.0 * zet[k]) ** 0.5
    psik = 2.0 * np.log((1.0 + x) / 2.0)
    psic = _psi_convective(zet[k], 34.15)
    f = zet[k] ** 2 / (1.0 + zet[k] ** 2)
    psi[k] = (1.0 - f) * psik + f * psic
    return psi


def psiu_26(zet):
    """Stability function for wind speed (COARE 3.5)."""
    zet = np.array(zet, dtype=np.float64, ndmin=1)
    dzet = np.minimum(50.0, 0.35 * zet)
    a, b, c, d = 0.7, 0.75, 5.0, 0.35
    psi = -(a * zet + b * (zet - c / d) * np.exp(-dzet) + b * c / d)
    zet[np.isnan(zet)] = 1.0
    k = zet < 0.0
    x = (1.0 - 16.0 * zet[k]) ** 0.25
    psik = 2.0 * np.log((1.0 + x) / 2.0) + np.log((1.0 + x ** 2) / 2.0) - 2.0 * np.arctan(x) + 2.0 * np.arctan(1)
    psic = _psi_convective(zet[k], 10.15)
    f = zet[k] ** 2 / (1.0 + zet[k] ** 2)
    psi[k] = (1.0 - f) * psik + f * psic
    return psi


def rain_heat_flux(rain_rate, tC_sea, tC_air, relhum, pr_air):
    """Heat flux carried by rain [W/m2, positive up] (Gosnell et al. 1995, wet-bulb rain temperature)."""
    rgas_vapour = RGAS / 0.622
    cp_rain = 4186.0
    rho_rain = 1000.0
    rho_air = air_density(tC_air, pr_air, relhum)
    lv = latent_heat(tC_air)
    q_air = met_spechum(tC_air, pr_air, relhum) / 1000.0
    q_sat = met_spechum(tC_air, pr_air, 100.0) / 1000.0
    vapour_diffusivity = 2.11e-5 * ((tC_air + C2K) / C2K) ** 1.94
    heat_diffusivity = (1.0 + 3.309e-3 * tC_air - 1.44e-6 * tC_air * tC_air) * 0.02411 / (rho_air * CPA)
    psi = lv / CPA * vapour_diffusivity / heat_diffusivity
    clausius = lv * q_sat / (rgas_vapour * (tC_air + C2K) ** 2)
    t_rain = tC_air - psi * (q_sat - q_air) / (1.0 + psi * clausius)
    return rain_rate * rho_rain * cp_rain * (tC_sea - t_rain) / 1000.0 / 3600.0


# -- the iteration ----------------------------------------------------------------------------

def _charnock(u10n):
    u10n = np.array(u10n, dtype=np.float64, ndmin=1)
    umax = 19.0
    charn = 0.0017 * u10n - 0.0050
    u10n[np.isnan(u10n)] = -1.0
    charn[u10n > umax] = 0.0017 * umax - 0.0050
    return charn


def _scaling(dter, dqer, zwindsp, zhumair, ztmpair, zou, zoq, zot, L, ut, dq, dt):
    cd = VON / (np.log(zwindsp / zou) - psiu_26(zwindsp / L))
    cq = VON / (np.log(zhumair / zoq) - psit_26(zhumair / L))
    ct = VON / (np.log(ztmpair / zot) - psit_26(ztmpair / L))
    return ut * cd, -(dq - dqer) * cq, -(dt - dter) * ct


def _initial_obukhov(grav, tK_air, dt, dter, dq, ut, zwindsp, ztmpair, zo10, zot10, zinvpbl):
    ribu = -grav * zwindsp / tK_air * (dt - dter + 0.61 * tK_air * dq) / ut ** 2
    cd = (VON / np.log(zwindsp / zo10)) ** 2
    ct = VON / np.log(ztmpair / zot10)
    cc = VON * ct / cd
    zetu = cc * ribu * (1.0 + 27.0 / 9.0 * ribu / cc)
    nan = np.isnan(zetu)
    zetu[nan] = 0.0
    stable = np.where(zetu > 50)
    zetu[nan] = np.nan
    ribcu = -zwindsp / zinvpbl / 0.004 / BETA ** 3
    ribu[np.isnan(ribu)] = 1.0
    k = ribu < 0
    zetu[k] = cc[k] * ribu[k] / (1.0 + ribu[k] / ribcu[k])
    return zwindsp / zetu, stable


def _obukhov(grav, tK_air, q_air, usr, tsr, qsr):
    tv = tK_air * (1.0 + 0.61 * q_air)
    tvsr = tsr * (1.0 + 0.61 * q_air) + 0.61 * tK_air * qsr
    nan = np.isnan(tvsr) | (tvsr == 0)
    tvsr[nan] = 100.0
    small = np.abs(tvsr) < 1.0e-3
    tvsr[small] = np.abs(tvsr[small])
    tvsr[nan] = np.nan
    return tv * usr * usr / (grav * VON * tvsr)


def _gusty_wind(tsr, tK_air, qsr, grav, tv, usr, zinvpbl, wnd):
    buoyancy = -grav / tv * usr * (tsr + 0.61 * tK_air * qsr)
    ug = 0.2 * np.ones(wnd.shape[0])
    nan = np.isnan(buoyancy)
    buoyancy[nan] = -1.0
    up = buoyancy > 0
    ug[up] = np.maximum(0.2, BETA * (buoyancy[up] * zinvpbl[up]) ** 0.333)
    ug[nan] = np.nan
    return np.sqrt(wnd ** 2 + ug ** 2)


def _cool_skin(usr, qsr, tsr, rnl, rns, rhoa, le, tkt, al, bigc, tC_sea, q_sea, pr_air):
    be, visw, tcw = 0.026, 1.0e-6, 0.6
    hsb = -rhoa * CPA * usr * tsr
    hlb = -rhoa * le * usr * qsr
    qout = rnl + hsb + hlb
    dels = rns * (0.065 + 11.0 * tkt - 6.6e-5 / tkt * (1.0 - np.exp(-tkt / 8.0e-4)))
    qcol = qout - dels
    alq = al * qcol + be * hlb * CPW / le
    xlamx = 6.0 * np.ones(usr.shape[0])
    tkt = np.minimum(0.01, xlamx * visw / (np.sqrt(rhoa / RHOW) * usr))
    alq[np.isnan(alq)] = -1.0
    k = np.where(alq > 0)
    xlamx[k] = 6.0 / (1.0 + (bigc[k] * alq[k] / usr[k] ** 4) ** 0.75) ** 0.333
    tkt[k] = xlamx[k] * visw / (np.sqrt(rhoa[k] / RHOW) * usr[k])
    dter = qcol * tkt / tcw
    dqer = q_sea - sea_spechum(tC_sea - dter, pr_air) / 1000.0
    return dter, dqer, tkt


def coare35(tC_sea, x: BulkInputs) -> tuple[np.ndarray, ...]:
    """COARE 3.5 with cool skin: (usr, tsr, qsr, ut, dter, dqer, tkt, L, zou, zot, zoq).

    ``tC_sea`` is the bulk water temperature to use (the measured one plus any warm-layer
    correction); everything else comes from ``x``.
    """
    wnd, zwindsp, tC_air, ztmpair = x.wnd, x.zwindsp, x.tC_air, x.ztmpair
    zhumair, pr_air, zinvpbl = x.zhumair, x.pr_air, x.zinvpbl
    q_sea = sea_spechum(tC_sea, pr_air) / 1000.0
    q_air = met_spechum(tC_air, pr_air, x.relhum) / 1000.0
    grav = gravity(x.lat)
    le = latent_heat(tC_sea)
    rhoa = air_density(tC_air, pr_air, x.relhum)
    visa = 1.326e-5 * (1.0 + 6.542e-3 * tC_air + 8.301e-6 * tC_air ** 2 - 4.84e-9 * tC_air ** 3)
    lapse = grav / CPA
    al = water_thermal_expansion(tC_sea)
    bigc = 16.0 * grav * CPW * (RHOW * 1.0e-6) ** 3 / (0.6 ** 2 * rhoa ** 2)
    dq = q_sea - q_air
    dt = tC_sea - tC_air - lapse * ztmpair
    tK_air = tC_air + C2K
    tv = tK_air * (1.0 + 0.61 * q_air)
    jcool = x.jcool
    dter = 0.3 * jcool
    wetc = 0.622 * le * q_sea / (RGAS * (tC_sea + C2K) ** 2)
    dqer = dter * wetc
    tkt = 0.001 + np.zeros(wnd.size)
    ut = np.sqrt(wnd ** 2 + 0.5 ** 2)
    u10 = ut * np.log(10.0 / 1.0e-4) / np.log(zwindsp / 1.0e-4)
    u_init = 0.035 * u10
    zo10 = 0.011 * u_init ** 2 / grav + 0.11 * visa / u_init
    cd10 = (VON / np.log(10.0 / zo10)) ** 2
    zot10 = 10.0 / np.exp(VON / (0.00115 / np.sqrt(cd10)))
    L10, stable = _initial_obukhov(grav, tK_air, dt, dter, dq, ut, zwindsp, ztmpair, zo10, zot10, zinvpbl)
    usr, qsr, tsr = _scaling(dter, dqer, zwindsp, zhumair, ztmpair, zo10, zot10, zot10, L10, ut, dq, dt)
    rns = net_shortwave_down(x.Rshort_down)
    rnl = net_longwave_up(tC_sea - dter, x.Rlong_down)
    charn = _charnock(u10)
    kept: tuple[np.ndarray, ...] = ()
    for iteration in range(ITERATIONS):
        L = _obukhov(grav, tK_air, q_air, usr, tsr, qsr)
        zou = charn * usr ** 2 / grav + 0.11 * visa / usr
        zoq = np.minimum(1.6e-4, 5.8e-5 / (zou * usr / visa) ** 0.72)
        zot = zoq
        usr, qsr, tsr = _scaling(dter, dqer, zwindsp, zhumair, ztmpair, zou, zoq, zot, L, ut, dq, dt)
        dter, dqer, tkt = _cool_skin(usr, qsr, tsr, rnl, rns, rhoa, le, tkt, al, bigc, tC_sea, q_sea, pr_air)
        dter = dter * jcool
        dqer = dqer * jcool
        rnl = net_longwave_up(tC_sea - dter, x.Rlong_down)
        ut = _gusty_wind(tsr, tK_air, qsr, grav, tv, usr, zinvpbl, wnd)
        charn = _charnock(usr / VON / ut * wnd * np.log(10.0 / zou))
        if iteration == 0:
            kept = tuple(np.array(a, dtype=np.float64, ndmin=1)[stable]
                         for a in (usr, tsr, qsr, ut, dter, dqer, tkt, L, zou, zot, zoq))
    out = [np.array(a, dtype=np.float64, ndmin=1) for a in (usr, tsr, qsr, ut, dter, dqer, tkt, L, zou, zot, zoq)]
    for a, first in zip(out, kept, strict=True):
        a[stable] = first
    return tuple(out)


# -- warm layer -------------------------------------------------------------------------------

def warm_layer_days(local_time: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Which records the warm layer is integrated for (see the module docstring).

    Returns
    -------
    (integrated indices, new-day flags, missing mask)
    """
    day = np.floor(local_time / 86400.0)
    newday = np.concatenate(([True], np.diff(day) > 0))
    starts = np.flatnonzero(newday)
    early = np.mod(local_time, 86400.0) <= WARM_LAYER_START
    integrated = np.repeat(early[starts], np.diff(np.append(starts, local_time.size)))
    return np.flatnonzero(integrated), newday, ~integrated


def _coare35_at(tsea: float, x: BulkInputs, j: int) -> tuple[float, float, float, float, float]:
    """``(usr, tsr, qsr, ut, dter)`` of record ``j`` with sea temperature ``tsea``: the fast
    one-record version, or the array version where that cannot evaluate the record."""
    from stream_engine.functions.coare_point import coare35_point

    try:
        return coare35_point(tsea, float(x.wnd[j]), float(x.zwindsp[j]), float(x.tC_air[j]), float(x.ztmpair[j]),
                             float(x.relhum[j]), float(x.zhumair[j]), float(x.pr_air[j]), float(x.Rshort_down[j]),
                             float(x.Rlong_down[j]), float(x.lat[j]), float(x.zinvpbl[j]), x.jcool)
    except ArithmeticError:
        usr, tsr, qsr, ut, dter, *_ = coare35(np.float64(tsea), x.at(j))
        return _scalar(usr), _scalar(tsr), _scalar(qsr), _scalar(ut), _scalar(dter)


def _scalar(value) -> float:
    return float(np.asarray(value).reshape(-1)[0])


def warm_layer(x: BulkInputs) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Warm-layer warming ``dt_wrm``, thickness ``tk_pwp`` and warming at the sensor ``dsea``."""
    n = x.timestamp.size
    rhoa = air_density(x.tC_air, x.pr_air, x.relhum)
    rns = net_shortwave_down(x.Rshort_down)
    al = water_thermal_expansion(x.tC_sea)
    grav = gravity(x.lat)
    ctd1 = np.sqrt(2.0 * CRITICAL_RICHARDSON * CPW / (al * grav * RHOW))
    ctd2 = np.sqrt(2.0 * al * grav / (CRITICAL_RICHARDSON * RHOW)) / CPW ** 1.5
    dt_wrm = np.zeros(n)
    tk_pwp = np.zeros(n) + MAX_WARM_LAYER_DEPTH
    dsea = np.zeros(n)
    local_time = x.timestamp + x.lon * 240.0
    delta = np.concatenate(([0.0], np.diff(local_time)))
    integrated, newday, missing = warm_layer_days(local_time)
    fxp, jamset, tau_ac, qcol_ac = 0.5, False, 0.0, 0.0
    for i in integrated:
        if newday[i]:
            fxp, jamset, tau_ac, qcol_ac = 0.5, False, 0.0, 0.0
            continue
        j = i - 1
        tsea = x.tC_sea[j] + dsea[j]
        usr, tsr, qsr, ut, dter = _coare35_at(float(tsea), x, j)
        le = latent_heat(tsea)
        tau_old = _scalar(rhoa[j] * usr * usr * x.wnd[j] / ut)
        hs_old = _scalar(-rhoa[j] * CPA * usr * tsr)
        hl_old = _scalar(-rhoa[j] * le * usr * qsr)
        rnl = _scalar(net_longwave_up(x.tC_sea[i] - dter, x.Rlong_down[i]))
        rf_old = _scalar(rain_heat_flux(x.rain_rate[j], tsea, x.tC_air[j], x.relhum[j], x.pr_air[j]))
        qr_out = rnl + hs_old + hl_old + rf_old
        q_pwp = fxp * rns[i] - qr_out
        if q_pwp >= 50.0 or jamset:
            jamset = True
            tau_ac += max(0.002, tau_old) * delta[i]
            if qcol_ac + q_pwp * delta[i] > 0.0:
                depth = tk_pwp[j]
                for _ in range(5):
                    fxp = 1.0 - (0.28 * 0.014 * (1.0 - np.exp(-depth / 0.014))
                                 + 0.27 * 0.357 * (1.0 - np.exp(-depth / 0.357))
                                 + 0.45 * 12.82 * (1.0 - np.exp(-depth / 12.82))) / depth
                    qjoule = (fxp * rns[i] - qr_out) * delta[i]
                    if qcol_ac + qjoule > 0.0:
                        depth = min(MAX_WARM_LAYER_DEPTH, ctd1[i] * tau_ac / np.sqrt(qcol_ac + qjoule))
                tk_pwp[i] = depth
            else:
                fxp = 0.75
                tk_pwp[i] = MAX_WARM_LAYER_DEPTH
                qjoule = (fxp * rns[i] - qr_out) * delta[i]
            qcol_ac += qjoule
            dt_wrm[i] = ctd2[i] * qcol_ac ** 1.5 / tau_ac if qcol_ac > 0.0 else 0.0
        else:
            dt_wrm[i] = dt_wrm[j]
            tk_pwp[i] = tk_pwp[j]
        dsea[i] = dt_wrm[i] if tk_pwp[i] < x.ztmpwat[i] else dt_wrm[i] * x.ztmpwat[i] / tk_pwp[i]
    dt_wrm[missing] = np.nan
    tk_pwp[missing] = np.nan
    dsea[missing] = np.nan
    return dt_wrm, tk_pwp, dsea


def bulk(x: BulkInputs) -> BulkResult:
    """The warm layer (when ``jwarm``), then COARE 3.5 on the warm-layer-corrected sea temperature."""
    if x.jwarm:
        dt_wrm, tk_pwp, dsea = warm_layer(x)
    else:
        n = x.timestamp.size
        dt_wrm, tk_pwp, dsea = np.zeros(n), np.full(n, MAX_WARM_LAYER_DEPTH), np.zeros(n)
    return BulkResult(*coare35(x.tC_sea + dsea, x), dt_wrm, tk_pwp, dsea)
