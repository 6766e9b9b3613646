"""Tests of `crossbar.nn.tiled`: tiled equals untiled with ideal periphery (reads, gradients, updates), each tile
has its own periphery (its own ADC bound), and bad tile sizes raise naming `tile`."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from crossbar import array as xa
from crossbar import nn
from crossbar.periphery import Periphery, ideal_periphery
from crossbar.update import PulseUpdate
from devices import presets

ROWS, COLS = 7, 5  # with the bias line: 6 inputs + 1


def _xb(periphery=None):
    return xa.make_crossbar(presets.ideal(), ROWS, COLS, w_max=4.0, periphery=periphery or ideal_periphery(),
                            update_scheme=PulseUpdate(scheme="ideal"))


def _w():
    return np.random.default_rng(0).uniform(-0.5, 0.5, (ROWS, COLS)).astype(np.float32)


def _loss(layer, x, key):
    y = layer(x, key)
    return jnp.sum(jnp.sin(y) * jnp.arange(y.size, dtype=y.dtype).reshape(y.shape) / y.size)


GRAD = jax.jit(jax.grad(_loss, argnums=(0, 1), allow_int=True))
UPDATE = jax.jit(lambda layer, g, key: layer.apply_update(g, 0.1, key))


# Both grids (row and column blocks; row blocks only) in the slow run: 10 s each. The default run keeps the other
# tiling tests.
@pytest.mark.slow
@pytest.mark.parametrize("tile", [(3, COLS), 4])
def test_tiled_equals_untiled_with_ideal_periphery(tile):
    x = jnp.asarray(np.random.default_rng(1).normal(size=(3, ROWS - 1)), jnp.float32)
    key = jax.random.key(2)
    flat = nn.analog_dense(_xb(), jax.random.key(0), _w(), batch=3, bias_line=True)
    tiled = nn.tiled_dense(_xb(), jax.random.key(0), _w(), tile=tile, batch=3, bias_line=True)
    t = (tile, tile) if isinstance(tile, int) else tile
    assert len(tiled.tiles) == -(-ROWS // t[0]) and len(tiled.tiles[0]) == -(-COLS // t[1])
    np.testing.assert_allclose(tiled.weights, flat.weights, atol=1e-6)
    np.testing.assert_allclose(jax.jit(lambda la, x, k: la(x, k))(tiled, x, key), x @ _w()[:-1] + _w()[-1:],
                               rtol=1e-5, atol=1e-5)
    (g_t, gx_t), (g_f, gx_f) = GRAD(tiled, x, key), GRAD(flat, x, key)
    np.testing.assert_allclose(gx_t, gx_f, rtol=1e-5, atol=1e-6)
    new_t, _ = UPDATE(tiled, g_t, jax.random.key(3))
    new_f, _ = UPDATE(flat, g_f, jax.random.key(3))
    assert np.abs(np.asarray(new_f.weights) - _w()).max() > 1e-2
    np.testing.assert_allclose(new_t.weights, new_f.weights, rtol=1e-5, atol=2e-6)
    assert nn.is_layer(tiled)


def test_each_tile_has_its_own_adc():
    # Outputs of about 1.5 saturate one 7-row array's ADC at 1.0; split into rows of 2, each tile's part stays
    # below it, and the digital sum of the tiles is exact.
    adc = Periphery(dac_bits=0, adc_bits=0, input_bound=1e30, output_bound=1.0, output_noise=0.0,
                    noise_management="none", bound_management="none")
    w = np.full((ROWS, COLS), 0.25, np.float32)
    x = jnp.ones((2, ROWS - 1), jnp.float32)
    one = nn.analog_dense(_xb(adc), jax.random.key(0), w, bias_line=True)
    tiled = nn.tiled_dense(_xb(adc), jax.random.key(0), w, tile=(2, COLS), bias_line=True)
    y_one, c_one = one.read(x, jax.random.key(1))
    y_tiled, c_tiled = tiled.read(x, jax.random.key(1))
    np.testing.assert_allclose(y_one, 1.0, atol=1e-6)
    assert int(c_one.adc_saturated) == 2 * COLS
    np.testing.assert_allclose(y_tiled, 0.25 * ROWS, rtol=1e-5)
    assert int(c_tiled.adc_saturated) == 0


def test_bad_tile_raises_naming_it():
    for bad in (0, (4, 0), (1, 2, 3), -3):
        with pytest.raises(ValueError, match="`tile`"):
            nn.tiled_dense(_xb(), jax.random.key(0), tile=bad)
    with pytest.raises(ValueError, match="`weights`"):
        nn.tiled_dense(_xb(), jax.random.key(0), np.zeros((ROWS, COLS + 1)), tile=2)


def test_each_tile_has_the_wires_of_its_own_part_of_the_layer():
    """Per-segment resistances are cut to each tile's rows and columns (its own drivers and sense amplifiers)."""
    from crossbar.circuit import WireResistance

    r_row = np.arange(7 * 5, dtype=np.float64).reshape(7, 5)
    per_column = np.linspace(1.0, 2.0, 5)[None, :]
    xb = xa.make_crossbar(presets.gokmen_vlasov(), 7, 5, periphery=ideal_periphery(),
                          wires=WireResistance(r_row=r_row, r_col=per_column, r_source=3.0))
    layer = nn.tiled_dense(xb, jax.random.key(0), tile=(4, 3))
    for r, r0 in enumerate((0, 4)):
        for c, c0 in enumerate((0, 3)):
            wires = layer.tiles[r][c].xb.wires
            rows, cols = layer.tiles[r][c].xb.rows, layer.tiles[r][c].xb.cols
            np.testing.assert_array_equal(wires.r_row, r_row[r0:r0 + rows, c0:c0 + cols])
            np.testing.assert_array_equal(wires.r_col, per_column[:, c0:c0 + cols])
            assert wires.r_source == 3.0
