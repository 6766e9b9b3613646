"""`crossbar.nn.TransferDense`: a transfer algorithm in any JAX model, driven by `analog_sgd`; and the MLP and its
CLI with `--algorithm` (slow: resume equals an uninterrupted run, A, C, H and choppers included)."""

from __future__ import annotations

import json
from dataclasses import replace

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from crossbar import array, nn
from crossbar import transfer as T
from crossbar.periphery import ideal_periphery
from crossbar.update import PulseUpdate
from devices import ConstantStep

XB = array.make_crossbar(ConstantStep(g_min=0.0, g_max=10e-6, dg=10e-6 / 1000), 3, 2, pair="reference", w_max=1.0,
                         periphery=ideal_periphery(), update_scheme=PulseUpdate(scheme="ideal"))
CMP = T.make_compound(XB, transfer_forward=ideal_periphery(), transfer_update=PulseUpdate(scheme="ideal"),
                      reference="nominal")
W0 = jnp.asarray([[0.1, -0.2], [0.3, 0.0], [0.05, 0.2]], jnp.float32)


@pytest.mark.slow
def test_analog_sgd_runs_the_layers_algorithm_on_the_tape():
    """Loss L = mean_b sum(y_b) / 2 over a batch of 2: d = 1/2 per sample; A takes -fast_lr lr x^T d and the
    transfer (every sample, TTv2 with a threshold below A's first row) writes whole pulses into C's first row."""
    alg = T.make_algorithm("ttv2", transfer_every=1, units_in_mbatch=False, thres_scale=0.5, momentum=0.0,
                           fast_lr=1.0)
    layer = nn.transfer_dense(CMP, alg, jax.random.key(0), W0, batch=2)
    x = jnp.asarray([[1.0, 0.0, 0.5], [1.0, 0.0, 0.5]])

    def loss(params, key):
        return jnp.mean(jnp.sum(params["w"](x, key), axis=1)) / 2

    opt = nn.analog_sgd(0.1)
    params = {"w": layer}
    grads = jax.grad(loss, allow_int=True)(params, jax.random.key(1))
    np.testing.assert_allclose(np.asarray(params["w"](x, jax.random.key(2))), np.asarray(x @ W0), atol=1e-6)
    new, _, counters = jax.jit(opt.update)(grads, opt.init(params), params, jax.random.key(3))
    a = np.asarray(array.weights(XB, new["w"].state.a))
    np.testing.assert_allclose(a, -0.1 * np.asarray(x).T @ np.full((2, 2), 0.25), atol=1e-6)
    # two transfers (rows 0 and 1): H = 0.1 A[row] after each sample's read, fires where |H| >= 0.5 dw_min
    dc = np.asarray(new["w"].weights - W0)
    assert int(new["w"].state.reads) == 2
    np.testing.assert_allclose(dc[2], 0.0, atol=1e-7)  # not read yet
    np.testing.assert_allclose(dc[1], 0.0, atol=1e-7)  # A[1] = 0: nothing to transfer
    assert np.all(np.abs(dc[0]) > 0)


@pytest.mark.slow
def test_loss_reduction_sum_gives_the_algorithm_the_mean_convention():
    alg = T.make_algorithm("tiki_taka", transfer_every=1, units_in_mbatch=False)
    mean = nn.transfer_dense(CMP, alg, jax.random.key(0), W0, batch=4)
    summed = nn.transfer_dense(CMP, alg, jax.random.key(0), W0, batch=4, loss_reduction="sum")
    x, d = jax.random.uniform(jax.random.key(1), (4, 3)), jax.random.normal(jax.random.key(2), (4, 2))
    g_mean = replace(mean, tape=replace(mean.tape, x=x, d=d / 4))
    g_sum = replace(summed, tape=replace(summed.tape, x=x, d=d))
    a, _ = mean.apply_update(g_mean, 0.2, jax.random.key(3))
    b, _ = summed.apply_update(g_sum, 0.2 / 4, jax.random.key(3))
    np.testing.assert_allclose(np.asarray(a.weights), np.asarray(b.weights), atol=1e-6)
    np.testing.assert_allclose(np.asarray(array.weights(XB, a.state.a)), np.asarray(array.weights(XB, b.state.a)),
                               atol=1e-6)


def test_bad_layer_arguments_are_named():
    with pytest.raises(ValueError, match="gamma"):
        nn.transfer_dense(CMP, T.make_algorithm("tiki_taka", gamma=0.5), jax.random.key(0))
    with pytest.raises(TypeError, match="algorithm"):
        nn.transfer_dense(CMP, "ttv2", jax.random.key(0))
    with pytest.raises(ValueError, match="loss_reduction"):
        nn.transfer_dense(CMP, T.make_algorithm("ttv2"), jax.random.key(0), loss_reduction="max")


@pytest.mark.slow
def test_train_mlp_with_an_algorithm_resumes_to_the_uninterrupted_result(tmp_path):
    from experiments import train_mlp

    common = ["--device", "reram_sb_aihwkit", "--algorithm", "agad", "--batch-size", "5", "--lr", "0.5",
              "--limit-train", "20", "--sizes", "4", "--no-plot", "--no-progress", "--hyper", "in_chop_prob=0.3"]
    train_mlp.main([*common, "--epochs", "2", "--out", str(tmp_path / "whole")])
    train_mlp.main([*common, "--epochs", "1", "--out", str(tmp_path / "part")])
    train_mlp.main([*common, "--epochs", "2", "--out", str(tmp_path / "part"), "--resume"])
    whole, part = (json.loads((tmp_path / name / "results.json").read_text()) for name in ("whole", "part"))
    assert whole["backends"]["crossbar"]["test_error"] == part["backends"]["crossbar"]["test_error"]
    assert whole["backends"]["crossbar"]["train_loss"] == part["backends"]["crossbar"]["train_loss"]
    assert whole["meta"]["algorithm"] == "agad" and whole["meta"]["hyperparameters"]["in_chop_prob"] == 0.3
    events = whole["backends"]["crossbar"]["events"]["train"]
    assert events  # the transfer reads and pulses are among the counted events
    with pytest.raises(SystemExit):
        train_mlp.main([*common[:2], "--algorithm", "adam", "--out", str(tmp_path / "bad")])
    with pytest.raises(SystemExit):
        train_mlp.main([*common[:4], "--hyper", "thres_scale=1", "--out", str(tmp_path / "bad")])
