"""`experiments.transfer_regression`: its options checked and named, resume reading finished configurations back,
and (slow) its physics on a tiny problem with fixed keys: many states and no reference offset let every algorithm
reach a low weight error; a large reference offset leaves SGD far worse than AGAD."""

from __future__ import annotations

import numpy as np
import pytest

from experiments import transfer_regression as tr


def study(tmp_path, *extra):
    return tr.configure(tr.build_parser().parse_args(["--out", str(tmp_path), *extra]))


@pytest.mark.parametrize("option, value, named", [
    ("--offsets", "0,-0.1", "--offsets"),
    ("--offsets", "0,nan", "--offsets"),
    ("--states", "1,20", "--states"),
    ("--states", "20.5", "--states"),
    ("--offset-states", "1", "--offset-states"),
    ("--lrs", "0.1,0", "--lrs"),
    ("--algorithms", "sgd,adam", "--algorithms"),
    ("--steps", "0", "--steps"),
    ("--checkpoints", "7", "--checkpoints"),
    ("--noise", "-1", "--noise"),
    ("--final-window", "0", "--final-window"),
])
def test_bad_options_raise_a_value_error_naming_the_option(tmp_path, option, value, named):
    with pytest.raises(ValueError, match=named):
        study(tmp_path, option, value)


def test_the_defaults_configure_both_sweeps(tmp_path):
    s = study(tmp_path)
    assert s["algorithms"] == ["sgd", "ttv2", "c_ttv2", "agad"]
    assert s["offsets"][0] == 0.0 and s["states"] == [10, 20, 50, 100, 200, 500, 1000, 2000]
    assert s["settings"]["steps"] % s["settings"]["checkpoints"] == 0


def fake_compute(calls):
    """A stand-in trainer: a decaying trajectory per learning rate and seed, counted in `calls`."""
    def compute(settings, algorithm, n_states, offset):
        calls.append((algorithm, n_states, offset))
        lrs, seeds, points = len(settings["lrs"]), settings["seeds"], settings["checkpoints"]
        base = 0.1 + offset + 1.0 / n_states + 0.01 * np.arange(lrs)[:, None, None]
        traj = base * (1 + 0.01 * np.arange(seeds)[None, :, None]) * np.ones((1, 1, points))
        return {"trajectory": traj.tolist(), "steps": list(range(1, points + 1))}

    return compute


def test_resume_reads_finished_configurations_back_instead_of_recomputing(tmp_path):
    s = study(tmp_path, "--states", "10,100", "--offsets", "0,0.5", "--offset-states", "100", "--seeds", "3",
              "--steps", "40", "--checkpoints", "4", "--lrs", "0.01,0.1")
    calls = []
    first = tr.run_study(s, compute=fake_compute(calls), progress=False)
    # 4 algorithms x (2 offsets + 2 states), the offset-0 one at 100 states shared by both sweeps
    assert len(calls) == 4 * 3 and first["computed"] == 12 and first["read_back"] == 0
    runs = sorted((tmp_path / "runs").glob("*.json"))
    stamps = {p: p.stat().st_mtime_ns for p in runs}
    again = tr.run_study(s, compute=fake_compute(calls), progress=False)
    assert len(calls) == 12 and again["computed"] == 0 and again["read_back"] == 12
    assert {p: p.stat().st_mtime_ns for p in runs} == stamps  # not rewritten
    assert again["offset_sweep"] == first["offset_sweep"] and again["states_sweep"] == first["states_sweep"]
    row = first["offset_sweep"][0]  # the best learning rate is the first (its trajectory is lowest)
    assert (row["algorithm"], row["offset"], row["lr"]) == ("sgd", 0.0, 0.01)
    assert row["mean"] == pytest.approx(0.11 * 1.01) and row["se"] == pytest.approx(0.11 * 0.01 / np.sqrt(3))
    for name in ("summary.json", "summary.md", "error_vs_offset.png", "error_vs_states.png"):
        assert (tmp_path / name).stat().st_size > 0
    # Changed settings are not read back: that configuration is computed again.
    changed = study(tmp_path, "--states", "10", "--offsets", "0", "--offset-states", "10", "--seeds", "2",
                    "--steps", "40", "--checkpoints", "4", "--lrs", "0.01,0.1", "--algorithms", "sgd")
    third = tr.run_study(changed, compute=fake_compute(calls), progress=False)
    assert third["computed"] == 1 and len(calls) == 13


def test_final_error_is_the_mean_of_the_trajectorys_tail_and_the_best_lr_is_kept():
    settings = {"final_window": 0.5, "lrs": [0.1, 0.2]}
    traj = [[[1.0, 0.8, 0.4, 0.2], [1.0, 0.8, 0.6, 0.4]], [[1.0, 0.5, 0.1, 0.1], [1.0, 0.5, 0.1, 0.3]]]
    np.testing.assert_allclose(tr.final_errors(settings, traj), [[0.3, 0.5], [0.1, 0.2]])
    row = tr._stats(settings, {"algorithm": "sgd", "n_states": 10, "offset": 0.0, "trajectory": traj,
                               "steps": [1, 2, 3, 4]})
    assert row["lr"] == 0.2 and row["mean"] == pytest.approx(0.15) and row["se"] == pytest.approx(0.05)


# Physics: a 4 x 4 problem, 4 seeds, fixed keys. Each algorithm's program compiles once (seconds): slow.
TINY = {"size": 4, "steps": 3000, "checkpoints": 10, "seeds": 4, "lrs": [0.05, 0.2], "w_star": 0.5, "noise": 0.05,
        "final_window": 0.2, "seed": 0, "device_spread": tr.DEVICE_SPREAD}


def final(algorithm, n_states, offset, settings=TINY):
    """[seeds] final errors at the learning rate of the lowest mean, as the study reports them."""
    errors = tr.final_errors(settings, tr.run_config(settings, algorithm, n_states, offset)["trajectory"])
    return errors[np.argmin(errors.mean(axis=1))]


@pytest.mark.slow
@pytest.mark.parametrize("algorithm", tr.ALGORITHMS)
def test_many_states_and_no_offset_reach_a_low_weight_error(algorithm):
    """1000 states, exact references: every algorithm ends within 20% of W* (from 100% at W = 0)."""
    err = final(algorithm, 1000, 0.0)
    assert err.mean() < 0.2, (algorithm, err)


@pytest.mark.slow
def test_a_large_reference_offset_leaves_sgd_far_worse_than_agad():
    """Offset std 0.3 (w_max units), 200 states, 6 x 6, 6 seeds: SGD's weights are pulled toward the offsets
    (its devices' symmetry points), AGAD's dynamic reference removes A's offset. Paired per seed (the same W*,
    devices and data): SGD is worse in every seed (a sign test at p = 1/64), and over twice as far on average."""
    settings = {**TINY, "size": 6, "seeds": 6}
    sgd, agad = final("sgd", 200, 0.3, settings), final("agad", 200, 0.3, settings)
    assert np.all(sgd > agad) and sgd.mean() > 2 * agad.mean(), (sgd, agad)
