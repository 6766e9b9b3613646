"""Programming a network for inference: the noise-free pipeline reproduces the float model (dense, conv, the MLP,
both layouts), a zero weight stays zero under drift, and drift compensation restores the outputs it promises to
(exactly, with the read noise off); bad arguments raise naming them."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from crossbar.inference import PCMNoise, at_time, compensated, program, program_layer
from crossbar.inference.layer import InferenceDense
from crossbar.nn import float_conv2d, float_dense
from crossbar.periphery import ideal_periphery
from crossbar.training import mlp

YEAR = 3.15e7
# Compiled once per structure: eager reads dispatch (and compile) every small op on its own.
program_jit = jax.jit(program, static_argnames=("pair", "weight_scaling"))
at_time_jit = jax.jit(at_time, static_argnames=("compensation",))
EXACT = PCMNoise(prog_noise_scale=0.0, read_noise_scale=0.0, drift_scale=0.0)


@pytest.fixture(scope="module")
def model():
    """A conv layer (3x3, 2 -> 3 channels on 5x5 inputs) and a dense layer with a bias line, in one pytree."""
    k1, k2 = jax.random.split(jax.random.key(0))
    params = {"conv": float_conv2d(jax.random.normal(k1, (3, 3, 2, 3)) * 0.3, (5, 5, 2)),
              "fc": float_dense(jax.random.normal(k2, (28, 4)) * 0.2, bias_line=True)}

    def apply(p, x, key):
        h = jax.nn.relu(p["conv"](x, jax.random.fold_in(key, 0)))
        return p["fc"](h.reshape(h.shape[0], -1), jax.random.fold_in(key, 1))

    x = jax.random.uniform(jax.random.key(1), (6, 5, 5, 2))
    return params, jax.jit(apply), x


@pytest.mark.slow
@pytest.mark.parametrize("pair, scaling", [("differential", "layer"), ("reference", "column")])
def test_noise_free_programming_reproduces_the_float_model(model, pair, scaling):
    params, apply, x = model
    programmed = program_jit(params, EXACT, jax.random.key(2), periphery=ideal_periphery(), pair=pair,
                             weight_scaling=scaling)
    read = at_time_jit(programmed, YEAR, jax.random.key(3))
    assert isinstance(read["fc"], InferenceDense) and isinstance(read["conv"].dense, InferenceDense)
    expected = apply(params, x, jax.random.key(4))
    np.testing.assert_allclose(apply(read, x, jax.random.key(4)), expected, rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_the_mlp_runs_on_programmed_layers():
    cfg = mlp.MLPConfig(sizes=(5, 4, 3))
    layers = tuple(float_dense(w, bias_line=True) for w in
                   (jax.random.normal(jax.random.key(5), (6, 4)), jax.random.normal(jax.random.key(6), (5, 3))))
    read = at_time_jit(program_jit(layers, EXACT, jax.random.key(7), periphery=ideal_periphery()), 0.0,
                       jax.random.key(8))
    x = jax.random.uniform(jax.random.key(9), (7, 5))
    forward = jax.jit(lambda layers, x: mlp.forward(cfg, None, layers, x, jax.random.key(0))[0])
    expected, got = forward(layers, x), forward(read, x)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


def _layer_readout(layer):
    """Mean |y| (gain included) over the one-hot inputs, per column: with an ideal periphery, row i of the
    effective weights is the output of input e_i."""
    return np.mean(np.abs(np.asarray(layer.weights, np.float64)), axis=0)


@pytest.fixture(scope="module")
def drifting():
    """A layer with zero weights, programmed exactly (read noise off, conductance-dependent drift on), and its
    reads right after programming and one year later (no compensation, global, per column)."""
    w = jax.random.normal(jax.random.key(11), (16, 6)) * jnp.linspace(0.2, 1.0, 6)[None, :]
    w = w.at[::3].set(0.0)
    noise = PCMNoise(prog_noise_scale=0.0, read_noise_scale=0.0)

    @jax.jit  # one compilation (eager, every small op compiles on its own)
    def reads(w, key):
        layer = program_layer(float_dense(w), noise, jax.random.key(12), periphery=ideal_periphery())
        later = layer.at(YEAR, key)  # one snapshot, compensated three ways
        return layer.at(0.0, None), {kind: compensated(later, layer.baseline, kind, key)
                                     for kind in ("none", "global", "column")}

    return (w, *reads(w, jax.random.key(13)))


def test_a_zero_weight_stays_zero_under_drift(drifting):
    w, _, later = drifting
    w, w_year = np.asarray(w), np.asarray(later["none"].weights)
    np.testing.assert_array_equal(w_year[w == 0], 0.0)
    assert np.all(np.abs(w_year[w != 0]) < 0.8 * np.abs(w[w != 0]))  # a year of PCM drift is large


def test_global_compensation_restores_the_mean_output_exactly_without_read_noise(drifting):
    _, fresh, later = drifting
    before = _layer_readout(fresh).mean()
    assert _layer_readout(later["none"]).mean() < 0.8 * before
    np.testing.assert_allclose(_layer_readout(later["global"]).mean(), before, rtol=1e-5)


def test_per_column_compensation_restores_every_column_exactly_without_read_noise(drifting):
    _, fresh, later = drifting
    np.testing.assert_allclose(_layer_readout(later["column"]), _layer_readout(fresh), rtol=1e-5)


@pytest.mark.slow
def test_uniform_drift_is_undone_by_global_compensation_for_every_input():
    """Oracle: with one drift exponent for all devices, drift is a global factor; compensation removes it."""
    noise = PCMNoise(nu_mean_range=(0.06, 0.06), nu_std_range=(0.0, 0.0), read_noise_scale=0.0)
    w = jax.random.normal(jax.random.key(15), (9, 5))
    layer = program_layer(float_dense(w, bias_line=True), noise, jax.random.key(16), periphery=ideal_periphery())
    x = jax.random.normal(jax.random.key(17), (4, 8))
    fresh = layer.at(0.0, None)(x, jax.random.key(0))
    later = at_time([layer], YEAR, jax.random.key(18), compensation="global")[0](x, jax.random.key(0))
    uncompensated = at_time([layer], YEAR, jax.random.key(18))[0](x, jax.random.key(0))
    np.testing.assert_allclose(uncompensated, fresh * ((YEAR + 20) / 20) ** -0.06, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(later, fresh, rtol=1e-4, atol=1e-6)


def test_bad_arguments_raise_naming_them():
    params = [float_dense(jnp.ones((3, 2)))]
    key = jax.random.key(0)
    with pytest.raises(ValueError, match="pair"):
        program(params, EXACT, key, pair="single")
    with pytest.raises(ValueError, match="weight_scaling"):
        program(params, EXACT, key, weight_scaling="row")
    with pytest.raises(ValueError, match="g_max"):
        program(params, PCMNoise(g_max=0.0), key)
    with pytest.raises(ValueError, match="params"):
        program({"b": jnp.zeros(3)}, EXACT, key)
    with pytest.raises(TypeError, match="layer"):
        program_layer(jnp.zeros((2, 2)), EXACT, key)
    with pytest.raises(ValueError, match="compensation"):
        at_time(params, 1.0, key, compensation="local")


@pytest.mark.slow
def test_programming_by_write_verify_is_within_tolerance_and_compensation_undoes_uniform_drift():
    """Oracles: written by pulses onto noise-free constant-step devices, each weight is within the write-verify
    tolerance (times the layer's gain); a power-law drift with one exponent scales both devices of a pair, so the
    weights by ((T / t0)^-nu), which global compensation undoes."""
    from crossbar import array
    from crossbar.inference import program_by_pulses
    from devices import ConstantStep, PowerLawDrift

    device = ConstantStep(drift=PowerLawDrift(nu=0.05, nu_low_g=0.0, nu_d2d=0.0))
    w = jax.random.normal(jax.random.key(20), (6, 4))

    def array_of(rows, cols):
        return array.make_crossbar(device, rows, cols, w_max=1.0, periphery=ideal_periphery())

    programmed = program_by_pulses([float_dense(w)], array_of, jax.random.key(21), tolerance=0.01)
    layer = programmed[0]
    gain = float(layer.gain[0])
    np.testing.assert_allclose(gain, float(jnp.max(jnp.abs(w))), rtol=1e-6)
    fresh = np.asarray(at_time(programmed, 0.0, jax.random.key(22))[0].weights)
    assert np.max(np.abs(fresh - np.asarray(w))) <= 0.01 * gain + 1e-6
    later = np.asarray(at_time(programmed, YEAR, jax.random.key(23))[0].weights)
    np.testing.assert_allclose(later, fresh * (YEAR / 20.0) ** -0.05, rtol=1e-4, atol=1e-6)
    restored = np.asarray(at_time(programmed, YEAR, jax.random.key(23), compensation="global")[0].weights)
    np.testing.assert_allclose(restored, fresh, rtol=1e-4, atol=1e-6)
