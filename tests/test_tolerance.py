"""The tolerance of a parameter (crossbar.sweep.tolerance): crossings, directions, uncertainty, bad input."""

import numpy as np
import pytest

from crossbar.sweep.tolerance import tolerance


def _errors(excess, seeds=1, noise=0.0, base=0.02, seed=0):
    """[n_values, seeds] errors with the given mean excess over a float reference of `base`."""
    rng = np.random.default_rng(seed)
    ref = base + noise * rng.standard_normal(seeds)
    return ref[None, :] + np.asarray(excess)[:, None] + noise * rng.standard_normal((len(excess), seeds)), ref


def test_crossing_is_interpolated_linearly_between_the_last_value_inside_and_the_first_outside():
    errors, ref = _errors([0.0, 0.002, 0.004, 0.006])
    t = tolerance([0, 1, 2, 3], errors, ref, margin=0.003)
    assert t["status"] == "crossed" and t["bracket"] == [1.0, 2.0]
    assert t["tolerance"] == pytest.approx(1.5)
    assert np.isnan(t["std"])  # one seed: no spread to bootstrap
    assert t["excess"] == pytest.approx([0.0, 0.002, 0.004, 0.006])


def test_decreasing_axes_count_from_the_largest_value_and_report_in_the_callers_order():
    errors, ref = _errors([0.01, 0.0, 0.001])  # bits 5, 9, 7: fewer bits is worse
    t = tolerance([5, 9, 7], errors, ref, margin=0.003, worse="decreasing")
    assert t["bracket"] == [7.0, 5.0]
    assert t["tolerance"] == pytest.approx(7 - 2 * (0.003 - 0.001) / (0.01 - 0.001))
    assert t["excess"] == pytest.approx([0.01, 0.0, 0.001])


def test_values_spanning_a_decade_interpolate_on_a_log_scale():
    errors, ref = _errors([0.0, 0.002, 0.004])
    t = tolerance([0.001, 0.01, 0.1], errors, ref, margin=0.003)
    assert t["tolerance"] == pytest.approx(10 ** -1.5)


def test_status_when_no_value_or_every_value_leaves_the_margin():
    errors, ref = _errors([0.0, 0.001, 0.002])
    inside = tolerance([1, 2, 3], errors, ref)
    assert inside["status"] == "not_reached" and inside["bracket"] == [3.0, None] and inside["tolerance"] == 3
    errors, ref = _errors([0.01, 0.02, 0.03])
    outside = tolerance([1, 2, 3], errors, ref)
    assert outside["status"] == "baseline_exceeds" and outside["bracket"] == [None, 1.0]


def test_bootstrap_spread_shrinks_with_more_seeds():
    spreads = []
    for seeds in (4, 64):
        errors, ref = _errors([0.0, 0.002, 0.004, 0.006], seeds=seeds, noise=0.002)
        t = tolerance([0, 1, 2, 3], errors, ref, margin=0.003, n_boot=500)
        assert t["status"] == "crossed" and np.isfinite(t["std"]) and t["std"] > 0
        spreads.append(t["std"])
    # The noise of the paired excess falls as 1/sqrt(seeds): 16x the seeds, about a quarter of the spread.
    assert spreads[1] < 0.6 * spreads[0]


def test_paired_seeds_cancel_a_shared_offset():
    # Each seed's float and crossbar errors share an offset (common random numbers): the tolerance sees none of it.
    ref = np.array([0.01, 0.05, 0.09])
    errors = ref[None, :] + np.array([0.0, 0.002, 0.004])[:, None]
    t = tolerance([0, 1, 2], errors, ref, margin=0.003)
    assert t["tolerance"] == pytest.approx(1.5) and t["std"] == pytest.approx(0.0)


@pytest.mark.parametrize("kwargs, match", [
    (dict(values=[1.0], errors=np.zeros((1, 1)), reference=np.zeros(1)), "values"),
    (dict(values=[1.0, 2.0], errors=np.zeros((2, 3)), reference=np.zeros(2)), "errors"),
    (dict(values=[1.0, 2.0], errors=np.zeros((2, 1)), reference=np.zeros(1), worse="up"), "worse"),
    (dict(values=[1.0, 2.0], errors=np.zeros((2, 1)), reference=np.zeros(1), margin=0.0), "margin"),
])
def test_bad_input_names_the_argument(kwargs, match):
    with pytest.raises(ValueError, match=match):
        tolerance(**kwargs)
