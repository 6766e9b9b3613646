"""Fits that hold on noisy, imperfect measurements: curves of exponential-step devices read with write noise of
75 minimal steps, cycle-to-cycle noise of several steps and 30% device-to-device spread, plus a few devices
that barely move, go through the loader and the fit. The unusable columns are left out with their reasons;
the write noise and the step noise are recovered within 20%; the refitted device and the lookup table follow
the generating device's mean trajectory (200 up then 200 down pulses from the data's start) within 5% of its
excursion at every pulse."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from devices import ExpStep, Variation
from devices.fit.bounds import bound_spreads, settled_levels
from devices.fit.candidates import candidates
from devices.fit.data import load_pulse_data
from devices.fit.denoise import trend
from devices.fit.lookup import lookup_table_from_curves
from devices.fit.mean_fit import stack
from devices.fit.select import fit_models
from devices.fit.state_noise import estimate_noise
from devices.fit.synthetic import mean_trajectory
from devices.traces import pulse_train, up_down_voltages

R = 10e-6  # S, the range
DEVICE = ExpStep(g_min=10e-6, g_max=20e-6, dg=R / 100, beta_up=2.0, beta_down=2.0,
                 variation=Variation(dg_d2d=0.3, c2c=1.0))
DW_MIN = DEVICE.dg * np.exp(-2.0)  # the smallest mean step (at the bound a pulse moves toward)
WRITE_NOISE = 75 * DW_MIN  # S; the step noise is 1 to 7 DW_MIN (c2c of the local step: 2.7 DW_MIN mid-range)
N_STUCK = 4
TRAJECTORY_TOL = 0.05  # of the excursion, at every pulse
NOISE_TOL = 0.20


def simulate(n_devices: int, n_pulses: int, seed: int, compiled: bool) -> np.ndarray:
    """[2 n_pulses + 1, n_devices] readings (S): n_pulses up then down, the last N_STUCK devices barely moving.

    compiled: the engine's `pulse_train` under jit (the slow test), or a numpy loop over the model's own
    `step_sizes` with the same multiplicative step noise and clipping (no compilation: the default run).
    """
    k_init, k_pulse, k_read = jax.random.split(jax.random.key(seed), 3)
    state = DEVICE.init(k_init, (n_devices,))
    slow = jnp.where(jnp.arange(n_devices) >= n_devices - N_STUCK, 0.02, 1.0)
    state = dataclasses.replace(state, scale_up=state.scale_up * slow, scale_down=state.scale_down * slow)
    if compiled:
        voltages = up_down_voltages(n_pulses, n_pulses, 1.5 * DEVICE.switching_threshold)
        g = np.asarray(_pulse_train(DEVICE, state, voltages, k_pulse)[1], float)
    else:
        rng = np.random.default_rng(seed)
        g = [np.asarray(state.g, float)]
        for k in range(2 * n_pulses):
            up, down = (np.asarray(s, float) for s in DEVICE.step_sizes(dataclasses.replace(state, g=g[-1])))
            step = up if k < n_pulses else -down
            noisy = g[-1] + step * (1.0 + DEVICE.variation.c2c * rng.standard_normal(n_devices))
            g.append(np.clip(noisy, np.asarray(state.g_min), np.asarray(state.g_max)))
        g = np.stack(g)
    return g + WRITE_NOISE * np.asarray(jax.random.normal(k_read, g.shape), float)


def write_measurement(folder, n_devices: int, n_pulses: int, seed: int = 0, compiled: bool = True):
    """set.csv / reset.csv of `simulate` (columns d0.. and, last, the near-stuck stuck0..)."""
    g = simulate(n_devices, n_pulses, seed, compiled)
    header = ",".join(f"d{j}" for j in range(n_devices - N_STUCK)) + "," + ",".join(
        f"stuck{j}" for j in range(N_STUCK))
    folder.mkdir(parents=True, exist_ok=True)
    for name, rows in (("set.csv", g[: n_pulses + 1]), ("reset.csv", g[n_pulses:])):
        (folder / name).write_text("\n".join([header] + [",".join(f"{v:.6e}" for v in row) for row in rows]) + "\n")
    return folder


_pulse_train = jax.jit(pulse_train, static_argnums=0)


def load(folder):
    with pytest.warns(UserWarning, match="left out"):
        return load_pulse_data(folder / "set.csv", folder / "reset.csv")


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """The measurement of the default run: 100 devices, 200 pulses each way, simulated without compilation."""
    return load(write_measurement(tmp_path_factory.mktemp("noisy"), 100 + N_STUCK, 200, seed=1, compiled=False))


def test_near_stuck_columns_are_left_out_with_their_reason(small):
    data = small
    quality = data.quality()
    stuck = {f"stuck{j}" for j in range(N_STUCK)}
    for polarity in ("up", "down"):
        dropped = quality[polarity]["dropped"]
        assert stuck <= set(dropped), dropped  # all near-stuck columns, with the reason
        assert all("is flat" in dropped[name] for name in stuck)
        # the others move: a slow one may not get three standard errors from its start, no more
        assert len(dropped) - N_STUCK <= 3, dropped
        assert set(quality[polarity]["used"]) == {f"d{j}" for j in range(100)} - set(dropped)


def test_write_noise_and_step_noise_are_told_apart(small):
    """At the generating law, the state-space likelihood splits white write noise from accumulated step noise
    (moment estimates drown: one step's noise is a few percent of two readings')."""
    data = small
    lo, span = DEVICE.g_min, R
    stacked = stack(data.by_sign(), lo, span)
    raw = trend(stacked.u, stacked.mask)
    exp_step = next(c for c in candidates(lo / span) if c.name == "exp_step")
    theta = np.array([DEVICE.dg / span, 0.0, 2.0, 2.0])  # the generating law in normalised units
    noise = estimate_noise(exp_step, theta, stacked, raw.x)
    assert noise.spread.read_noise == pytest.approx(WRITE_NOISE, rel=NOISE_TOL)
    assert noise.spread.c2c == pytest.approx(DEVICE.variation.c2c, rel=NOISE_TOL)
    assert noise.spread.dg_d2d == pytest.approx(DEVICE.variation.dg_d2d, rel=0.5)


@pytest.mark.slow
def test_refit_and_lookup_table_follow_the_generating_mean_trajectory(tmp_path):
    data = load(write_measurement(tmp_path, 100 + N_STUCK, 200))
    best = fit_models(data, names=["exp_step"], heldout=False).best
    assert best.spread.read_noise == pytest.approx(WRITE_NOISE, rel=NOISE_TOL)
    assert best.spread.c2c == pytest.approx(DEVICE.variation.c2c, rel=NOISE_TOL)
    table, _ = lookup_table_from_curves(data, hidden=best.hidden, c2c=best.spread.c2c,
                                        dg_d2d=best.spread.dg_d2d, scales=best.spread.scales)
    start = DEVICE.g_min  # fresh devices start at their lower bound
    truth = mean_trajectory(DEVICE, start, 200, 200, jax.random.key(10))
    excursion = truth.max() - truth.min()
    for name, device in (("refit", best.device), ("lookup table", table)):
        mean = mean_trajectory(device, start, 200, 200, jax.random.key(11))
        worst = np.max(np.abs(mean - truth)) / excursion
        assert worst < TRAJECTORY_TOL, (name, worst)


def test_bounds_and_their_spread_come_from_the_curves_that_settle():
    """Saturating curves settle at their own bounds (spread as drawn); curves still moving say nothing."""
    rng = np.random.default_rng(0)
    k = np.arange(200)[:, None]
    top = 20e-6 + 1e-6 * rng.standard_normal(40)  # each device's upper bound: std 1 uS = 0.2 of the half range
    settled = 10e-6 + (top - 10e-6) * (1 - np.exp(-k / 20))
    moving = 10e-6 + 2e-8 * k * np.ones((1, 10))  # linear to the end: no bound seen
    hidden = np.concatenate([settled, moving], axis=1)
    spreads = bound_spreads(hidden, np.ones(50), 10e-6, 20e-6)
    assert spreads["g_max"]["n_settled"] == 40 and spreads["g_min"] == {"n_settled": 0, "mean_S": None, "d2d": None}
    assert spreads["g_max"]["mean_S"] == pytest.approx(top.mean(), rel=1e-3)
    assert spreads["g_max"]["d2d"] == pytest.approx(top.std(ddof=1) / 5e-6, rel=1e-3)
    assert np.isnan(settled_levels(moving)).all()
    # The fitted device carries what was resolved: the upper bound's spread, none for the unresolved lower one.
    from devices import SoftBounds
    from devices.fit.select import with_bound_spreads

    device = with_bound_spreads(SoftBounds(g_min=10e-6, g_max=20e-6, dg=1e-8), spreads)
    assert device.variation.bounds_d2d == pytest.approx(spreads["g_max"]["d2d"])
    assert device.variation.bounds_min_d2d == 0.0
    unresolved = {"g_max": {"d2d": None}, "g_min": {"d2d": None}}
    assert with_bound_spreads(SoftBounds(dg=1e-8), unresolved) == SoftBounds(dg=1e-8)
