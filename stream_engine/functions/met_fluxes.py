"""METBK bulk flux products (COARE 3.5 with warm layer, :mod:`stream_engine.functions.coare`).

Two time bases, as the DPS and ion-functions define them:

* ``*_minute``: on the records of the METBK stream (about one a minute). Missing on the records
  of local solar days whose first record is after 06:00 (the warm-layer rule);
* the others (``met_heatflx``, ``met_latnflx``, ...): on the hourly time base of
  :mod:`stream_engine.functions.hourly`, from hourly means of every input; they are the products of
  the virtual stream ``metbk_hourly``.

Every function takes the same arguments (the preload ``args`` of PFID155-168 and PFID211-214).
Sign convention: fluxes are positive upward (from the sea to the air), except net shortwave.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable

import numpy as np

from stream_engine.functions.arrays import as_float
from stream_engine.functions.coare import (
    C2K,
    CPA,
    BulkInputs,
    BulkResult,
    air_density,
    bulk,
    gravity,
    latent_heat,
    net_longwave_up,
    net_shortwave_down,
    psit_26,
    psiu_26,
    rain_heat_flux,
)
from stream_engine.functions.hourly import hourly_means
from stream_engine.functions.met import met_spechum, rain_rate
from stream_engine.functions.registry import algorithm

OWNER = "ion_functions.data.met_functions"

#: Order of the per-record inputs in :class:`BulkInputs` (``rain_rate`` is computed from ``cumu_prcp``).
_FIELDS = ("cumu_prcp", "timestamp", "lon", "ztmpwat", "tC_sea", "wnd", "zwindsp", "tC_air", "ztmpair",
           "relhum", "zhumair", "pr_air", "Rshort_down", "Rlong_down", "lat", "zinvpbl")


_FIELD_NAMES = ("rain_rate", *_FIELDS[1:])


def _switch(value) -> float:
    """A jwarm/jcool switch: its first value, any nonzero meaning on."""
    first = np.asarray(value, dtype=np.float64).reshape(-1)[0]
    return 0.0 if first == 0 else 1.0


def bulk_inputs(values: dict, hourly: bool) -> BulkInputs:
    """The bulk algorithm's inputs from the named arguments, on the minute or hourly time base."""
    t = np.atleast_1d(as_float(values["timestamp"]))
    arrays = [np.array(np.broadcast_to(as_float(values[f]), t.shape), dtype=np.float64) for f in _FIELDS]
    if hourly:
        means, hours = hourly_means(t, *arrays)
        arrays = list(means)
        arrays[1] = hours
    arrays[0] = rain_rate(arrays[0], arrays[1])
    return BulkInputs(*arrays, jcool=_switch(values["jcool"]), jwarm=_switch(values["jwarm"]))


def _heatflx(x: BulkInputs, r: BulkResult) -> np.ndarray:
    sea = x.tC_sea + r.dsea
    rhoa = air_density(x.tC_air, x.pr_air, x.relhum)
    latent = -rhoa * latent_heat(sea) * r.usr * r.qsr
    sensible = -rhoa * CPA * r.usr * r.tsr
    longwave = net_longwave_up(sea - r.dter, x.Rlong_down)
    rain = rain_heat_flux(x.rain_rate, sea, x.tC_air, x.relhum, x.pr_air)
    return latent + sensible - net_shortwave_down(x.Rshort_down) + longwave + rain


def _latnflx(x: BulkInputs, r: BulkResult) -> np.ndarray:
    return -air_density(x.tC_air, x.pr_air, x.relhum) * latent_heat(x.tC_sea + r.dsea) * r.usr * r.qsr


def _sensflx(x: BulkInputs, r: BulkResult) -> np.ndarray:
    return -air_density(x.tC_air, x.pr_air, x.relhum) * CPA * r.usr * r.tsr


def _netlirr(x: BulkInputs, r: BulkResult) -> np.ndarray:
    return net_longwave_up(x.tC_sea + r.dsea - r.dter, x.Rlong_down)


def _buoyancy_flux(x: BulkInputs, r: BulkResult, humidity_factor: float) -> np.ndarray:
    scale = r.tsr + humidity_factor * (x.tC_air + C2K) * r.qsr
    return -air_density(x.tC_air, x.pr_air, x.relhum) * CPA * r.usr * scale


def _frshflx(x: BulkInputs, r: BulkResult) -> np.ndarray:
    evaporation = -air_density(x.tC_air, x.pr_air, x.relhum) * r.usr * r.qsr / 1000.0 * 1000.0 * 3600.0
    return evaporation - x.rain_rate


def _mommflx(x: BulkInputs, r: BulkResult) -> np.ndarray:
    return air_density(x.tC_air, x.pr_air, x.relhum) * r.usr * r.usr * x.wnd / r.ut


def _rainflx(x: BulkInputs, r: BulkResult) -> np.ndarray:
    return rain_heat_flux(x.rain_rate, x.tC_sea + r.dsea, x.tC_air, x.relhum, x.pr_air)


def _sphum2m(x: BulkInputs, r: BulkResult) -> np.ndarray:
    z = 2.0
    q = met_spechum(x.tC_air, x.pr_air, x.relhum)
    return q + r.qsr * 1000.0 / 0.4 * (np.log(z / x.zhumair) - psit_26(z / r.L) + psit_26(x.zhumair / r.L))


def _stablty(x: BulkInputs, r: BulkResult) -> np.ndarray:
    return x.zwindsp / r.L


def _tempa2m(x: BulkInputs, r: BulkResult) -> np.ndarray:
    z = 2.0
    lapse = gravity(x.lat) / CPA
    return (x.tC_air + r.tsr / 0.4 * (np.log(z / x.ztmpair) - psit_26(z / r.L) + psit_26(x.ztmpair / r.L))
            + lapse * (x.ztmpair - z))


def _tempskn(x: BulkInputs, r: BulkResult) -> np.ndarray:
    return x.tC_sea + r.dsea - r.dter


def _wind10m(x: BulkInputs, r: BulkResult) -> np.ndarray:
    z = 10.0
    return x.wnd + r.usr / 0.4 / r.ut * x.wnd * (np.log(z / x.zwindsp) - psiu_26(z / r.L) + psiu_26(x.zwindsp / r.L))


_RECENT: OrderedDict[bytes, BulkResult] = OrderedDict()
_RECENT_LOCK = threading.Lock()
_RECENT_SIZE = 4


def _bulk_once(x: BulkInputs) -> BulkResult:
    """:func:`bulk` of ``x``, remembered for the last few distinct inputs of this process.

    The flux products of a stream share one bulk computation (its warm layer is a sequential
    loop); a request for several of them on the same records computes it once. The key is a
    digest of every input's bytes, so only identical inputs share a result.
    """
    digest = hashlib.blake2b(digest_size=20)
    for name in _FIELD_NAMES:
        digest.update(np.ascontiguousarray(getattr(x, name)).tobytes())
    digest.update(np.array([x.jcool, x.jwarm]).tobytes())
    key = digest.digest()
    with _RECENT_LOCK:
        found = _RECENT.get(key)
        if found is not None:
            _RECENT.move_to_end(key)
            return found
    result = bulk(x)
    with _RECENT_LOCK:
        _RECENT[key] = result
        while len(_RECENT) > _RECENT_SIZE:
            _RECENT.popitem(last=False)
    return result


def forget_bulk_results() -> None:
    """Empty the memory of :func:`_bulk_once` (benchmarks time cold computations)."""
    with _RECENT_LOCK:
        _RECENT.clear()


def _register(name: str, product: Callable[[BulkInputs, BulkResult], np.ndarray], hourly: bool,
              description: str) -> None:
    def compute(tC_sea, wnd, tC_air, relhum, timestamp, lon, ztmpwat, zwindsp, ztmpair, zhumair,
                lat=45.0, pr_air=1013.0, Rshort_down=150.0, Rlong_down=370.0, cumu_prcp=0.0,
                zinvpbl=600.0, jwarm=1, jcool=1) -> np.ndarray:
        x = bulk_inputs(locals(), hourly)
        return np.atleast_1d(product(x, _bulk_once(x)))

    compute.__name__ = compute.__qualname__ = name
    compute.__doc__ = description
    algorithm(OWNER, name, version="1.0", description=description)(compute)


_PRODUCTS = (
    ("heatflx", _heatflx, "HEATFLX_L2 [W m-2]: total net upward heat flux"),
    ("latnflx", _latnflx, "LATNFLX_L2 [W m-2]: upward latent heat flux"),
    ("netlirr", _netlirr, "NETLIRR_L2 [W m-2]: net upward longwave irradiance"),
    ("sensflx", _sensflx, "SENSFLX_L2 [W m-2]: upward sensible heat flux"),
)
_HOURLY_ONLY = (
    ("buoyfls", lambda x, r: _buoyancy_flux(x, r, 0.51), "BUOYFLS [W m-2]: sonic buoyancy flux"),
    ("buoyflx", lambda x, r: _buoyancy_flux(x, r, 0.61), "BUOYFLX [W m-2]: buoyancy flux"),
    ("frshflx", _frshflx, "FRSHFLX_L2 [mm h-1]: upward freshwater flux (evaporation - rain)"),
    ("mommflx", _mommflx, "MOMMFLX_L2 [N m-2]: momentum flux (wind stress)"),
    ("rainflx", _rainflx, "RAINFLX_L2 [W m-2]: net upward rain heat flux"),
    ("sphum2m", _sphum2m, "SPHUM2M_L2 [g kg-1]: specific humidity at 2 m"),
    ("stablty", _stablty, "STABLTY-AUX: Monin-Obukhov stability parameter z/L"),
    ("tempa2m", _tempa2m, "TEMPA2M_L2 [deg C]: air temperature at 2 m"),
    ("tempskn", _tempskn, "TEMPSKN-AUX [deg C]: sea skin temperature"),
    ("wind10m", _wind10m, "WIND10M_L2 [m s-1]: wind speed at 10 m"),
)

for _name, _product, _description in _PRODUCTS:
    _register(f"met_{_name}_minute", _product, False, f"{_description}, on the minute time base")
for _name, _product, _description in (*_PRODUCTS, *_HOURLY_ONLY):
    _register(f"met_{_name}", _product, True, f"{_description}, on the hourly time base")
