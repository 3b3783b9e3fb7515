"""Time interpolation: linear, last-seen, gap limit, groups (deployments), edges, 2-D values."""

from __future__ import annotations

import numpy as np
import pytest

from stream_engine.engine.interpolate import bracketing_range, interpolate

SRC_T = np.array([0.0, 10.0, 20.0, 200.0, 210.0])
SRC_V = np.array([1.0, 2.0, 4.0, 10.0, 11.0])


def test_linear_values():
    out = interpolate(np.array([0.0, 5.0, 15.0, 20.0, 205.0]), SRC_T, SRC_V, kind="linear", max_gap=50.0)
    np.testing.assert_array_equal(out, [1.0, 1.5, 3.0, 4.0, 10.5])


def test_gap_limit_gives_nan_inside_wide_gap_only():
    out = interpolate(np.array([19.0, 21.0, 100.0, 199.0, 200.0]), SRC_T, SRC_V, kind="linear", max_gap=50.0)
    assert out[0] == pytest.approx(3.8)
    assert np.isnan(out[1:4]).all()
    assert out[4] == 10.0


def test_edges_clamp_within_gap_only():
    out = interpolate(np.array([-30.0, -60.0, 240.0, 300.0]), SRC_T, SRC_V, kind="linear", max_gap=50.0)
    np.testing.assert_array_equal(out[[0, 2]], [1.0, 11.0])
    assert np.isnan(out[[1, 3]]).all()


def test_nan_sources_are_skipped():
    v = np.array([1.0, np.nan, 3.0])
    out = interpolate(np.array([5.0, 10.0]), np.array([0.0, 10.0, 20.0]), v, kind="linear", max_gap=50.0)
    np.testing.assert_array_equal(out, [1.5, 2.0])


def test_last_seen_for_integers_and_strings():
    t = np.array([-1.0, 0.0, 9.9, 10.0, 150.0, 205.0])
    ints = interpolate(t, SRC_T, np.arange(5, dtype=np.int32), kind="last-seen", max_gap=50.0, fill=-1)
    np.testing.assert_array_equal(ints, [-1, 0, 0, 1, -1, 3])
    assert ints.dtype == np.int32
    words = interpolate(t, SRC_T, np.array(["a", "b", "c", "d", "e"]), kind="last-seen", max_gap=50.0)
    assert words.tolist() == ["", "a", "a", "b", "", "d"]


def test_groups_never_cross_deployments():
    src_t = np.array([0.0, 10.0, 20.0, 30.0])
    src_v = np.array([0.0, 1.0, 100.0, 101.0])
    src_g = np.array([1, 1, 2, 2])
    tgt_t = np.array([5.0, 15.0, 15.0, 25.0])
    tgt_g = np.array([1, 1, 2, 3])
    out = interpolate(tgt_t, src_t, src_v, kind="linear", max_gap=50.0, target_groups=tgt_g, source_groups=src_g)
    assert out[0] == 0.5
    assert out[1] == 1.0  # after the last record of deployment 1: its edge value, not 50.5
    assert out[2] == 100.0  # before the first record of deployment 2
    assert np.isnan(out[3])  # no source records in deployment 3
    plain = interpolate(tgt_t, src_t, src_v, kind="linear", max_gap=50.0)
    assert plain[1] == 50.5


def test_two_dimensional_values_interpolate_row_wise():
    src_v = np.array([[0.0, 10.0], [2.0, 30.0], [4.0, 50.0]])
    out = interpolate(np.array([0.0, 2.5, 5.0, 15.0, 30.0]), np.array([0.0, 5.0, 10.0]), src_v,
                      kind="linear", max_gap=8.0)
    np.testing.assert_allclose(out[:3], [[0.0, 10.0], [1.0, 20.0], [2.0, 30.0]])
    np.testing.assert_array_equal(out[3], [4.0, 50.0])
    assert np.isnan(out[4]).all()


def test_bracketing_range_is_one_record_either_side():
    assert bracketing_range(np.array([12.0, 15.0]), SRC_T) == (10.0, 20.0)
    assert bracketing_range(np.array([10.0, 20.0]), SRC_T) == (10.0, 20.0)
    assert bracketing_range(np.array([1.0]), np.array([])) is None


def test_bad_kind_is_refused():
    with pytest.raises(ValueError, match="'cubic'"):
        interpolate(SRC_T, SRC_T, SRC_V, kind="cubic", max_gap=1.0)


# -- the gap limit, just below and just above it, on every path --------------------------------

LIMIT = 3600.0  # config/default.py MAX_INTERPOLATION_GAP
BELOW, ABOVE = LIMIT - 0.5, LIMIT + 0.5


def _source(gap: float, n_gaps: int) -> np.ndarray:
    """Times with ``n_gaps`` gaps of ``gap`` seconds between pairs of records 10 s apart."""
    starts = np.arange(n_gaps + 1) * (gap + 10.0)
    return np.sort(np.concatenate([starts, starts + 10.0]))


@pytest.mark.parametrize("n_gaps", [1, 40], ids=["few-gaps path", "many-gaps path"])
@pytest.mark.parametrize("width", [None, 3], ids=["1-D", "2-D"])
def test_linear_gap_limit_on_every_path(n_gaps, width) -> None:
    assert n_gaps > 16 or n_gaps == 1  # interpolate._FEW_GAPS separates the two 1-D paths
    for gap, finite in ((BELOW, True), (ABOVE, False)):
        src_t = _source(gap, n_gaps)
        values = np.arange(len(src_t), dtype=np.float64)
        if width:
            values = np.repeat(values[:, None], width, axis=1)
        middles = src_t[1:-1:2] + gap / 2  # the middle of every gap
        out = interpolate(middles, src_t, values, kind="linear", max_gap=LIMIT)
        assert np.isfinite(out).all() == finite and np.isnan(out).all() != finite, (gap, out)
        inside = interpolate(src_t[0] + np.array([1.0, 5.0]), src_t, values, kind="linear", max_gap=LIMIT)
        assert np.isfinite(inside).all()


@pytest.mark.parametrize("width", [None, 3], ids=["1-D", "2-D"])
@pytest.mark.parametrize("kind", ["linear", "last-seen"])
def test_edges_within_and_beyond_the_limit(kind, width) -> None:
    src_t = np.array([0.0, 10.0])
    values = np.array([1.0, 2.0]) if width is None else np.ones((2, width))
    after = interpolate(src_t[-1] + np.array([BELOW, ABOVE]), src_t, values, kind=kind, max_gap=LIMIT)
    assert np.isfinite(after[0]).all() and np.isnan(after[1]).all()
    if kind == "linear":
        before = interpolate(-np.array([BELOW, ABOVE]), src_t, values, kind=kind, max_gap=LIMIT)
        assert np.isfinite(before[0]).all() and np.isnan(before[1]).all()


def test_last_seen_gap_limit_with_many_gaps() -> None:
    src_t = _source(2 * LIMIT, 40)
    targets = src_t[1::2] + np.where(np.arange(len(src_t) // 2) % 2, BELOW, ABOVE)
    out = interpolate(targets, src_t, np.arange(len(src_t), dtype=np.int32), kind="last-seen",
                      max_gap=LIMIT, fill=-1)
    expected = np.where(np.arange(len(targets)) % 2, np.arange(1, len(src_t), 2), -1)
    np.testing.assert_array_equal(out, expected)
