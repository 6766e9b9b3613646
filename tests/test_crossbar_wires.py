"""Crossbar reads through the Kirchhoff solver: wire resistance in the forward and transpose passes."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from crossbar import array
from crossbar.circuit import WireResistance, solve_forward, solve_transpose
from crossbar.periphery import ideal_periphery
from crossbar.training import mlp
from crossbar.training.backends import CrossbarBackend
from devices import presets

ROWS, COLS = 12, 7


def _array(wires, pair="differential"):
    xb = array.make_crossbar(presets.gokmen_vlasov(), ROWS, COLS, periphery=ideal_periphery(), wires=wires,
                             pair=pair)
    w = jax.random.uniform(jax.random.key(0), (ROWS, COLS), minval=-0.5, maxval=0.5)
    return xb, array.init(xb, jax.random.key(1), w)


@pytest.mark.parametrize("pair", [pytest.param("differential", marks=pytest.mark.slow), "reference"])
def test_zero_wire_resistance_equals_the_ideal_array(pair):
    xb_ideal, state = _array(None, pair)
    xb_wired = array.make_crossbar(presets.gokmen_vlasov(), ROWS, COLS, periphery=ideal_periphery(), pair=pair,
                                   wires=WireResistance(r_row=0.0, r_col=0.0))
    x = jax.random.normal(jax.random.key(2), (3, ROWS))
    d = jax.random.normal(jax.random.key(3), (3, COLS))
    np.testing.assert_allclose(array.forward(xb_wired, state, x, jax.random.key(4))[0],
                               array.forward(xb_ideal, state, x, jax.random.key(4))[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(array.transpose(xb_wired, state, d, jax.random.key(4))[0],
                               array.transpose(xb_ideal, state, d, jax.random.key(4))[0], rtol=1e-5, atol=1e-6)


def test_wired_read_is_the_difference_of_the_two_solved_arrays():
    wires = WireResistance(r_row=50.0, r_col=50.0)
    xb, state = _array(wires)
    x = jax.random.uniform(jax.random.key(2), (2, ROWS))
    y, _ = jax.jit(array.forward)(xb, state, x, jax.random.key(4))
    g_plus, g_minus = (np.asarray(g, np.float64) for g in array.conductances(xb, state))
    volts = np.asarray(x, np.float64) * xb.v_read
    expected = (solve_forward(g_plus, volts, wires) - solve_forward(g_minus, volts, wires)) / (xb.v_read * xb.scale)
    np.testing.assert_allclose(y, expected, rtol=2e-4, atol=1e-6)
    d = jax.random.normal(jax.random.key(3), (2, COLS))
    z, _ = jax.jit(array.transpose)(xb, state, d, jax.random.key(4))
    volts = np.asarray(d, np.float64) * xb.v_read
    expected = (solve_transpose(g_plus, volts, wires) - solve_transpose(g_minus, volts, wires)) / (
        xb.v_read * xb.scale)
    np.testing.assert_allclose(z, expected, rtol=2e-4, atol=1e-6)


def test_ir_drop_shrinks_the_outputs_of_a_positive_array():
    """All-positive weights and inputs: every column current falls short of the ideal one, more so for more r."""
    xb, state = _array(None, "reference")
    state = array.init(xb, jax.random.key(1), jnp.full((ROWS, COLS), 0.4))
    x = jnp.ones((1, ROWS))
    outputs = []
    for r in (0.0, 100.0, 1000.0):
        wired = array.make_crossbar(presets.gokmen_vlasov(), ROWS, COLS, periphery=ideal_periphery(),
                                    pair="reference", wires=WireResistance(r_row=r, r_col=r))
        outputs.append(np.asarray(array.forward(wired, state, x, jax.random.key(0))[0]))
    assert np.all(outputs[1] < outputs[0]) and np.all(outputs[2] < outputs[1])


@pytest.mark.slow  # the digits CLI run and the wired reads cover it by default
def test_mlp_evaluates_with_wire_resistance():
    cfg = mlp.MLPConfig(sizes=(6, 5, 3), epochs=1)
    ideal = CrossbarBackend(presets.gokmen_vlasov(), periphery=ideal_periphery())
    wired = CrossbarBackend(presets.gokmen_vlasov(), periphery=ideal_periphery(),
                            wires=WireResistance(r_row=1e-9, r_col=1e-9))
    x = jax.random.uniform(jax.random.key(5), (4, 6))
    logits = [mlp.forward(cfg, b, mlp.init_network(cfg, b, jax.random.key(6)), x, jax.random.key(7))[0]
              for b in (ideal, wired)]
    np.testing.assert_allclose(logits[1], logits[0], rtol=1e-4, atol=1e-5)


def test_train_mlp_cli_reads_through_the_wires_it_is_given(tmp_path):
    from experiments.train_mlp import build_parser, configure

    parse = build_parser().parse_args
    _, backends, _, meta = configure(parse(["--wires", "2.5", "--r-source", "10", "--out", str(tmp_path / "a")]))
    assert backends["crossbar"].wires == WireResistance(r_row=2.5, r_col=2.5, r_source=10.0, r_sense=0.0)
    assert meta["wires"] == {"r_row": 2.5, "r_col": 2.5, "r_source": 10.0, "r_sense": 0.0}
    _, backends, _, meta = configure(parse(["--out", str(tmp_path / "b")]))
    assert backends["crossbar"].wires is None and "wires" not in meta  # earlier checkpoints still resume
    with pytest.raises(ValueError, match="r_row"):
        configure(parse(["--wires", "-1", "--out", str(tmp_path / "c")]))
    with pytest.raises(ValueError, match="--r-sense and --wires-refresh need --wires"):
        configure(parse(["--r-source", "5", "--out", str(tmp_path / "d")]))
    _, backends, _, meta = configure(parse(["--wires", "2.5", "--wires-refresh", "100", "--out", str(tmp_path / "e")]))
    assert backends["crossbar"].wires.refresh_every == 100 and meta["wires"]["refresh_every"] == 100
    with pytest.raises(ValueError, match="refresh_every"):
        configure(parse(["--wires", "2.5", "--wires-refresh", "-3", "--out", str(tmp_path / "f")]))
