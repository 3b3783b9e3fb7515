"""Temperature- and salinity-corrected nitrate against the DPS test values (DCN 1341-00620)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from stream_engine.functions.nitrate import ts_corrected_nitrate

VECTORS = json.loads((Path(__file__).parent / "data" / "nutnr_dps_1341-00620.json").read_text())


def _inputs(tiled: bool):
    n = len(VECTORS["records"])
    cals = [np.asarray(VECTORS[k], dtype=float) for k in ("wl", "eno3", "eswa", "di")]
    if tiled:
        cals = [np.tile(c, (n, 1)) for c in cals]
    cal_temp = np.full(n, VECTORS["cal_temp"]) if tiled else VECTORS["cal_temp"]
    spectra = np.asarray(VECTORS["data_in"], dtype=np.uint16)
    return (cal_temp, *cals, np.asarray(VECTORS["dark_value"]), np.asarray(VECTORS["ctd_t"], dtype=float),
            np.asarray(VECTORS["ctd_sp"]), spectra, np.asarray(VECTORS["frame_type"]))


EXPECTED = np.array([np.nan if v is None else v for v in VECTORS["expected"]])


@pytest.mark.parametrize("tiled", [False, True], ids=["one calibration row", "tiled per record"])
def test_matches_the_dps_test_values(tiled):
    got = ts_corrected_nitrate(*_inputs(tiled))
    assert np.isnan(got[:2]).all()  # dark frames
    np.testing.assert_allclose(got, EXPECTED, rtol=1e-6, atol=1e-6)
    # the window of the fit given explicitly: the DPS 1-cm probe default
    n = len(got)
    np.testing.assert_allclose(ts_corrected_nitrate(*_inputs(tiled), np.full(n, 217.0), np.full(n, 240.0)),
                               EXPECTED, rtol=1e-6, atol=1e-6)


def test_salinity_and_temperature_corrections_matter():
    """Sea water (S 33.33) records: ignoring the salinity gives a different nitrate, and a 4 C
    warmer sample than the calibration changes the sea-salt absorbance."""
    inputs = list(_inputs(False))
    sea = np.asarray(VECTORS["ctd_sp"]) > 0
    inputs[7] = np.zeros_like(inputs[7])
    fresh = ts_corrected_nitrate(*inputs)
    assert (np.abs(fresh[sea] - EXPECTED[sea]) > 1.0).all()
    np.testing.assert_allclose(fresh[~sea], EXPECTED[~sea], atol=1e-6, equal_nan=True)


def test_calibrations_changing_between_records_are_fitted_separately():
    cal_temp, wl, eno3, eswa, di, dark, t, sp, spectra, frames = _inputs(True)
    doubled = eno3.copy()
    doubled[10:] *= 2.0  # a second deployment with other coefficients
    got = ts_corrected_nitrate(cal_temp, wl, doubled, eswa, di, dark, t, sp, spectra, frames)
    np.testing.assert_allclose(got[:10], EXPECTED[:10], atol=1e-6, equal_nan=True)
    np.testing.assert_allclose(got[10:], EXPECTED[10:] / 2.0, atol=1e-6)


def test_missing_ctd_values_and_saturated_spectra_give_missing_nitrate():
    cal_temp, wl, eno3, eswa, di, dark, t, sp, spectra, frames = _inputs(False)
    t = t.copy()
    t[4] = np.nan
    spectra = spectra.astype(float)
    spectra[5] = dark[5]  # nothing above the dark level
    got = ts_corrected_nitrate(cal_temp, wl, eno3, eswa, di, dark, t, sp, spectra, frames)
    assert np.isnan(got[[4, 5]]).all()
    np.testing.assert_allclose(np.delete(got, [4, 5]), np.delete(EXPECTED, [4, 5]), atol=1e-6, equal_nan=True)
