"""The JAX Kirchhoff solve (`crossbar.circuit.read_currents`) against the float64 reference solver and physics.

Accuracy runs in float64 (`jax.enable_x64`), where the solve is held to 1e-6 of the reference; the crossbar reads
themselves run in float32. Compilation dominates: the default run keeps one reference case, the exact ideal limit,
Kirchhoff's law and the convergence counter; the other cases are slow tests (CI runs them).
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from crossbar import array
from crossbar.circuit import CircuitSolver, WireResistance, read_currents, transfer_matrix
from crossbar.circuit.kirchhoff import node_voltages
from crossbar.periphery import ideal_periphery
from devices import presets

RNG = np.random.default_rng(7)


def _problem(n, m, g_max, batch, transpose, seed):
    rng = np.random.default_rng(seed)
    g = rng.uniform(g_max / 10, g_max, (n, m))
    v = rng.uniform(-0.2, 0.2, (batch, m if transpose else n))
    return g, v


def _relative(a, b):
    return float(np.linalg.norm(np.asarray(a) - b) / np.linalg.norm(b))


# (rows, cols, g_max, wires): scalar and per-line resistances, end resistances, up to 256 x 256; IR drops of
# 2% to 30% (checked in the test).
CASES = [
    (256, 256, 2e-6, WireResistance(r_row=1.0, r_col=1.0, r_source=20.0, r_sense=5.0)),
    (96, 40, 3e-5, WireResistance(r_row=np.linspace(0.5, 3.0, 96)[:, None], r_col=np.linspace(2.0, 1.0, 40)[None, :],
                                  r_source=2.0, r_sense=0.0)),
    (33, 70, 1e-4, WireResistance(r_row=RNG.uniform(0.0, 4.0, (33, 70)), r_col=RNG.uniform(0.0, 4.0, (33, 70)))),
]


@pytest.mark.parametrize("transpose", [False, True])
@pytest.mark.parametrize("case", [pytest.param(0, marks=pytest.mark.slow), 1, pytest.param(2, marks=pytest.mark.slow)])
def test_read_currents_equal_the_float64_reference_solver(case, transpose):
    n, m, g_max, wires = CASES[case]
    g, v = _problem(n, m, g_max, 3, transpose, case)
    reference = CircuitSolver(g, wires, transfer=False)
    want = reference.transpose(v) if transpose else reference.forward(v)
    drop = _relative(v @ (g.T if transpose else g), want)
    assert 0.02 < drop < 0.35  # the cases span the IR drops the solver is held to
    with jax.enable_x64(True):
        got, stats = read_currents(jnp.asarray(g), jnp.asarray(v), wires, transpose, tol=1e-9, return_stats=True)
    assert got.dtype == jnp.float64 and int(stats.unconverged) == 0
    assert _relative(got, want) < 1e-6


@pytest.mark.slow
def test_float32_reads_are_as_accurate_as_float32_allows():
    n, m, g_max, wires = CASES[1]
    g, v = _problem(n, m, g_max, 4, False, 1)
    want = CircuitSolver(g, wires).forward(v)
    got, stats = read_currents(jnp.asarray(g, jnp.float32), jnp.asarray(v, jnp.float32), wires, return_stats=True)
    assert got.dtype == jnp.float32 and int(stats.unconverged) == 0
    assert _relative(got, want) < 2e-5


@pytest.mark.parametrize("transpose", [False, True])
def test_zero_wire_resistance_is_the_ideal_read_exactly(transpose):
    g, v = _problem(20, 13, 1e-5, 3, transpose, 3)
    g, v = jnp.asarray(g, jnp.float32), jnp.asarray(v, jnp.float32)
    got, stats = read_currents(g, v, WireResistance(0.0, 0.0), transpose, return_stats=True)
    contract = (((1,), (1,)), ((), ())) if transpose else (((1,), (0,)), ((), ()))
    np.testing.assert_array_equal(got, jax.lax.dot_general(v, g, contract))  # the ideal read as the array forms it
    assert int(stats.iterations) == 0


@pytest.mark.parametrize("transpose", [False, pytest.param(True, marks=pytest.mark.slow)])
def test_kirchhoffs_current_law_holds_at_every_node(transpose):
    """Currents from Ohm's law on every element (devices, wire segments, end resistances) balance at each node."""
    n, m = 30, 17
    g, v = _problem(n, m, 1e-4, 2, transpose, 4)
    r_row, r_col = RNG.uniform(0.5, 3.0, (n, m)), RNG.uniform(0.5, 3.0, (n, m))
    wires = WireResistance(r_row, r_col, r_source=4.0, r_sense=2.0)
    with jax.enable_x64(True):
        u, w, i_dev, _ = node_voltages(jnp.asarray(g), jnp.asarray(v), wires, transpose, tol=1e-12)
    u, w, i_dev = np.asarray(u), np.asarray(w), np.asarray(i_dev)
    np.testing.assert_allclose(i_dev, g * (u - w), rtol=1e-9, atol=0)  # the currents are the devices' own
    drive_row = np.zeros((2, n)) if transpose else v  # terminal voltages: driven lines at v, sensed lines at 0
    drive_col = v if transpose else np.zeros((2, m))
    row_end, col_end = (2.0, 4.0) if transpose else (4.0, 2.0)
    # Row wires: current arriving from the left (terminal side) minus current leaving to the right.
    left = np.concatenate([drive_row[:, :, None], u[:, :, :-1]], axis=2)
    r_left = r_row.copy()
    r_left[:, 0] += row_end
    from_left = (left - u) / r_left
    to_right = np.concatenate([from_left[:, :, 1:], np.zeros((2, n, 1))], axis=2)
    row_kcl = from_left - to_right - i_dev
    # Column wires: current into each node from the devices, out through the segment below (to the terminal).
    below = np.concatenate([w[:, 1:, :], drive_col[:, None, :]], axis=1)
    r_below = r_col.copy()
    r_below[-1, :] += col_end
    down = (w - below) / r_below
    from_above = np.concatenate([np.zeros((2, 1, m)), down[:, :-1, :]], axis=1)
    col_kcl = i_dev + from_above - down
    scale = np.max(np.abs(i_dev))
    assert np.max(np.abs(row_kcl)) < 1e-8 * scale and np.max(np.abs(col_kcl)) < 1e-8 * scale


@pytest.mark.slow
def test_gradients_match_finite_differences():
    n, m = 9, 7
    g, v = _problem(n, m, 1e-3, 2, False, 5)  # r g N^2 ~ 0.3: a strong IR drop, so the wires shape the gradient
    wires = WireResistance(r_row=3.0, r_col=2.0, r_source=1.0)
    weights = np.random.default_rng(0).normal(size=(2, m))
    with jax.enable_x64(True):
        def loss(g_, v_):
            return jnp.sum(read_currents(g_, v_, wires, tol=1e-13) * weights)

        dg, dv = jax.grad(loss, argnums=(0, 1))(jnp.asarray(g), jnp.asarray(v))
        for arg, grad, k in ((0, dg, (3, 4)), (1, dv, (1, 5))):
            h = 1e-6 * (g[k] if arg == 0 else 1e-2)
            args = [jnp.asarray(g), jnp.asarray(v)]
            plus, minus = list(args), list(args)
            plus[arg] = plus[arg].at[k].add(h)
            minus[arg] = minus[arg].at[k].add(-h)
            fd = (loss(*plus) - loss(*minus)) / (2 * h)
            assert abs(float(grad[k]) - float(fd)) < 1e-6 * abs(float(fd))
        ideal = jax.grad(lambda g_: jnp.sum((jnp.asarray(v) @ g_) * weights))(jnp.asarray(g))
        assert _relative(dg, np.asarray(ideal)) > 0.05  # the wires change it


@pytest.mark.slow
def test_sinh_devices_are_solved_by_newton_like_the_reference():
    n, m = 20, 11
    g, v = _problem(n, m, 1e-4, 2, False, 6)
    v = 3 * v  # up to 0.6 V across devices with v0 = 0.25 V: well into the nonlinearity
    wires = WireResistance(r_row=3.0, r_col=2.0, r_source=5.0, r_sense=7.0)
    want = CircuitSolver(g, wires, v0=0.25).forward(v)
    with jax.enable_x64(True):
        got, stats = read_currents(jnp.asarray(g), jnp.asarray(v), wires, v0=0.25, tol=1e-10, return_stats=True)
        linear = read_currents(jnp.asarray(g), jnp.asarray(v), wires)
    assert int(stats.unconverged) == 0 and _relative(got, want) < 1e-6
    assert _relative(linear, want) > 0.05  # the nonlinearity matters at these voltages


@pytest.mark.slow
def test_jit_vmap_and_the_transfer_matrix_agree_with_single_solves():
    n, m = 18, 6
    gs = np.stack([_problem(n, m, 5e-5, 1, False, s)[0] for s in range(3)]).astype(np.float32)
    v = np.random.default_rng(1).uniform(-0.2, 0.2, (10, n)).astype(np.float32)  # 10 > 6 outputs: transfer path
    wires = WireResistance(r_row=2.0, r_col=2.0)
    batched = jax.jit(jax.vmap(lambda g: read_currents(g, v[:4], wires)))(gs)
    for k in range(3):
        one = read_currents(gs[k], v[:4], wires)
        np.testing.assert_allclose(batched[k], one, rtol=1e-5)
        via_transfer = read_currents(gs[k], v, wires)
        np.testing.assert_allclose(via_transfer[:4], one, rtol=2e-5)
        w, _ = transfer_matrix(jnp.asarray(gs[k]), wires)
        np.testing.assert_allclose(v @ np.asarray(w), CircuitSolver(gs[k], wires).forward(v), rtol=2e-4)


def test_a_solve_stopped_by_its_iteration_limit_is_counted_not_hidden():
    g, v = _problem(40, 40, 1e-3, 3, False, 8)  # an IR drop of several times the signal: many iterations needed
    wires = WireResistance(r_row=5.0, r_col=5.0)
    _, stats = read_currents(g, v, wires, max_iter=2, return_stats=True)
    assert int(stats.unconverged) == 3 and int(stats.iterations) == 2
    _, stats = read_currents(g, v, wires, return_stats=True)
    assert int(stats.unconverged) == 0 and int(stats.iterations) > 2


@pytest.mark.slow
def test_a_read_counts_the_vectors_whose_solve_did_not_converge():
    xb = array.make_crossbar(presets.gokmen_vlasov(), 40, 40, periphery=ideal_periphery(),
                             wires=WireResistance(r_row=50.0, r_col=50.0, max_iter=2))
    state = array.init(xb, jax.random.key(0))
    _, counters = array.forward(xb, state, jnp.ones((2, 40)), jax.random.key(1))
    assert int(counters.unconverged_solves) == 4  # 2 vectors on each array of the differential pair
    _, counters = array.forward(dataclasses.replace(xb, wires=dataclasses.replace(xb.wires, max_iter=200)), state,
                                jnp.ones((2, 40)), jax.random.key(1))
    assert int(counters.unconverged_solves) == 0


def test_bad_arguments_are_named():
    g, v = _problem(5, 4, 1e-5, 2, False, 9)
    wires = WireResistance(1.0, 1.0)
    with pytest.raises(TypeError, match="wires"):
        read_currents(g, v, (1.0, 1.0))
    with pytest.raises(ValueError, match="`v` must have shape"):
        read_currents(g, v[:, :3], wires)
    with pytest.raises(ValueError, match="`g` must be finite and > 0"):
        read_currents(-g, v, wires)
    with pytest.raises(ValueError, match="tol"):
        read_currents(g, v, wires, tol=2.0)
    with pytest.raises(ValueError, match="max_iter"):
        read_currents(g, v, wires, max_iter=0)
    with pytest.raises(ValueError, match="r_row"):
        read_currents(g, v, WireResistance(-1.0, 1.0))
    with pytest.raises(ValueError, match="max_iter"):
        WireResistance(1.0, 1.0, max_iter=0).validate()


@pytest.mark.slow
def test_the_ir_drop_experiment_solves_with_jax_and_agrees_with_the_reference(tmp_path):
    from experiments import ir_drop

    results = ir_drop.main(["--out", str(tmp_path), "--sizes", "8", "24", "--rg", "1e-3", "--map-size", "12"])
    assert results["reference_disagreement"] < 1e-8
    assert results["error"][0, 1] > 4 * results["error"][0, 0]  # the IR drop grows with the array (about N^2)
    assert 0 < results["voltage_map"].min() < results["voltage_map"].max() <= 1
    assert (tmp_path / "ir_drop.png").exists()
