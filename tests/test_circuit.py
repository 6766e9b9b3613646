"""Tests of the Kirchhoff crossbar solver: ideal limit, Kirchhoff's laws, ngspice agreement, solvers, bad input."""

from __future__ import annotations

import re
import shutil
import subprocess

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from crossbar.circuit import (
    CircuitSolver,
    ConvergenceError,
    WireResistance,
    forward_currents,
    solve_forward,
    transpose_currents,
)

NGSPICE = shutil.which("ngspice")


def _random_problem(n, m, seed=0, batch=3):
    rng = np.random.default_rng(seed)
    g = rng.uniform(1e-6, 1e-4, (n, m))  # S
    v = rng.uniform(-0.5, 0.5, (batch, n))  # V
    d = rng.uniform(-0.5, 0.5, (batch, m))
    wires = WireResistance(r_row=rng.uniform(1.0, 20.0, (n, m)), r_col=rng.uniform(1.0, 20.0, (n, m)),
                           r_source=15.0, r_sense=40.0)
    return g, v, d, wires


# ---------------------------------------------------------------- ideal limit


@pytest.mark.parametrize("v0", [None, 0.25])
def test_zero_wire_resistance_is_ideal(v0):
    g, v, d, _ = _random_problem(6, 9)
    solver = CircuitSolver(g, WireResistance(0.0, 0.0), v0=v0)
    f = (lambda x: x) if v0 is None else (lambda x: v0 * np.sinh(x / v0))
    np.testing.assert_allclose(solver.forward(v), f(v) @ g, rtol=1e-14, atol=0)
    np.testing.assert_allclose(solver.transpose(d), f(d) @ g.T, rtol=1e-14, atol=0)
    np.testing.assert_allclose(solver.forward(v[0]), f(v[0]) @ g, rtol=1e-14, atol=0)  # unbatched input


# ---------------------------------------------------------------- Kirchhoff's laws, checked from the topology


def _kcl(g, wires, v_in, sol, transpose=False, v0=None):
    """Worst KCL residual over all nodes (relative to the largest device current) and the terminal currents."""
    n, m = g.shape
    rr = np.broadcast_to(wires.r_row, (n, m)).copy()
    rc = np.broadcast_to(wires.r_col, (n, m)).copy()
    rr[:, 0] += wires.r_sense if transpose else wires.r_source
    rc[-1, :] += wires.r_source if transpose else wires.r_sense
    vr, vc = sol.v_row, sol.v_col
    t_row = np.zeros((vr.shape[0], n)) if transpose else v_in
    t_col = v_in if transpose else np.zeros((vr.shape[0], m))
    dv = vr - vc
    i_dev = g * dv if v0 is None else g * v0 * np.sinh(dv / v0)
    left = np.concatenate([t_row[:, :, None], vr[:, :, :-1]], axis=2)  # row wire: current arriving from the left
    i_row_seg = (left - vr) / rr
    below = np.concatenate([vc[:, 1:, :], t_col[:, None, :]], axis=1)  # column wire: current leaving downward
    i_col_seg = (vc - below) / rc
    out_right = np.concatenate([i_row_seg[:, :, 1:], np.zeros_like(vr[:, :, :1])], axis=2)
    in_above = np.concatenate([np.zeros_like(vc[:, :1, :]), i_col_seg[:, :-1, :]], axis=1)
    res_row = i_row_seg - out_right - i_dev
    res_col = i_dev + in_above - i_col_seg
    scale = np.abs(i_dev).max()
    worst = max(np.abs(res_row).max(), np.abs(res_col).max()) / scale
    return worst, i_row_seg[:, :, 0], i_col_seg[:, -1, :]


@pytest.mark.parametrize("method", ["lu", "cg"])
@pytest.mark.parametrize("v0", [None, 0.3])
def test_kirchhoff_current_law(method, v0):
    g, v, d, wires = _random_problem(7, 11, seed=1)
    solver = CircuitSolver(g, wires, method=method, v0=v0)
    sol = solver.forward(v, return_voltages=True)
    worst, i_src, i_sense = _kcl(g, wires, v, sol, v0=v0)
    assert worst <= 1e-9
    np.testing.assert_allclose(i_sense, sol.currents, rtol=1e-9, atol=1e-9 * np.abs(sol.currents).max())
    np.testing.assert_allclose(i_src.sum(axis=1), sol.currents.sum(axis=1), rtol=1e-9)  # sources in = sense out
    sol_t = solver.transpose(d, return_voltages=True)
    worst, i_row_end, i_col_end = _kcl(g, wires, d, sol_t, transpose=True, v0=v0)
    assert worst <= 1e-9
    np.testing.assert_allclose(-i_row_end, sol_t.currents, rtol=1e-9, atol=1e-9 * np.abs(sol_t.currents).max())
    np.testing.assert_allclose(-i_col_end.sum(axis=1), sol_t.currents.sum(axis=1), rtol=1e-9)


def test_ideal_wire_segments_merge_nodes():
    """Some zero segments (ideal wire) give the limit of vanishing resistance, and KCL still holds."""
    g, v, _, wires = _random_problem(5, 6, seed=2)
    r_row = np.array(wires.r_row) * (np.arange(6) % 2)  # every other row segment ideal, incl. the first
    exact = WireResistance(r_row, wires.r_col, 0.0, 30.0)
    # The error of the near-ideal circuit shrinks like eps (1e-7 here) until round-off grows below ~1e-6 ohm: the
    # ill-conditioning that merging the nodes avoids.
    near = WireResistance(np.where(r_row > 0, r_row, 1e-4), wires.r_col, 1e-4, 30.0)
    np.testing.assert_allclose(solve_forward(g, v, exact), solve_forward(g, v, near), rtol=1e-6)
    sol = CircuitSolver(g, exact).forward(v, return_voltages=True)
    np.testing.assert_array_equal(sol.v_row[:, :, 0], v)  # tied to the source by ideal wire


# ---------------------------------------------------------------- ngspice


def _netlist(g, wires, t_row, t_col, transpose, v0=None):
    n, m = g.shape
    rr = np.broadcast_to(wires.r_row, (n, m))
    rc = np.broadcast_to(wires.r_col, (n, m))
    row_end, col_end = (wires.r_sense, wires.r_source) if transpose else (wires.r_source, wires.r_sense)
    lines = ["* crossbar"]
    for i in range(n):
        lines.append(f"VR{i} tr{i} 0 DC {t_row[i]:.17e}")
        lines.append(f"RRE{i} tr{i} r{i}_0 {rr[i, 0] + row_end:.17e}")
        lines += [f"RR{i}_{j} r{i}_{j - 1} r{i}_{j} {rr[i, j]:.17e}" for j in range(1, m)]
    for j in range(m):
        lines.append(f"VC{j} tc{j} 0 DC {t_col[j]:.17e}")
        lines.append(f"RCE{j} c{n - 1}_{j} tc{j} {rc[n - 1, j] + col_end:.17e}")
        lines += [f"RC{i}_{j} c{i}_{j} c{i + 1}_{j} {rc[i, j]:.17e}" for i in range(n - 1)]
    for i in range(n):
        for j in range(m):
            if v0 is None:
                lines.append(f"RX{i}_{j} r{i}_{j} c{i}_{j} {1.0 / g[i, j]:.17e}")
            else:  # B source current flows from its first node to its second, through the device
                lines.append(f"BX{i}_{j} r{i}_{j} c{i}_{j} I={g[i, j] * v0:.17e}*sinh(V(r{i}_{j},c{i}_{j})/{v0:.17e})")
    probes = " ".join(f"i(v{'r' if transpose else 'c'}{k})" for k in range(n if transpose else m))
    lines += [".options reltol=1e-12 abstol=1e-20 vntol=1e-15 gmin=1e-30", ".control", "set numdgt=15", "op",
              f"print {probes}", ".endc", ".end"]
    return "\n".join(lines) + "\n"


def _ngspice_currents(netlist, tmp_path, count, prefix):
    path = tmp_path / "xbar.cir"
    path.write_text(netlist)
    out = subprocess.run([NGSPICE, "-b", str(path)], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    found = {}
    for name, value in re.findall(rf"i\(v{prefix}(\d+)\)\s*=\s*([-+0-9.eE]+)", out.stdout, flags=re.I):
        found[int(name)] = float(value)
    assert len(found) == count, f"could not parse ngspice output:\n{out.stdout}\n{out.stderr}"
    return np.array([found[k] for k in range(count)])


@pytest.mark.skipif(NGSPICE is None, reason="ngspice is not installed (shutil.which('ngspice') is None)")
@pytest.mark.parametrize("shape,v0", [((4, 5), None), ((8, 8), None), ((4, 5), 0.2)])
def test_agrees_with_ngspice(shape, v0, tmp_path):
    n, m = shape
    g, v, d, wires = _random_problem(n, m, seed=n + m, batch=1)
    solver = CircuitSolver(g, wires, v0=v0, tol=1e-12)
    # Forward: current into a voltage source flows from its + node through it, i.e. into the sense amplifier.
    ref = _ngspice_currents(_netlist(g, wires, v[0], np.zeros(m), False, v0), tmp_path, m, "c")
    np.testing.assert_allclose(solver.forward(v[0]), ref, rtol=1e-6, atol=0)
    ref = _ngspice_currents(_netlist(g, wires, np.zeros(n), d[0], True, v0), tmp_path, n, "r")
    np.testing.assert_allclose(solver.transpose(d[0]), ref, rtol=1e-6, atol=0)


# ---------------------------------------------------------------- solvers and physical sanity


@pytest.mark.parametrize("rg", [1e-4, 1e-2])
def test_cg_agrees_with_lu(rg):
    g, v, d, _ = _random_problem(24, 32, seed=3)
    wires = WireResistance(rg / 1e-4, rg / 1e-4, 10.0, 10.0)
    lu, cg = (CircuitSolver(g, wires, method=m, transfer=False) for m in ("lu", "cg"))
    for f in ("forward", "transpose"):
        x = v if f == "forward" else d
        a, b = getattr(lu, f)(x, return_voltages=True), getattr(cg, f)(x, return_voltages=True)
        assert b.info.method == "cg" and 0 < b.info.iterations < 2000 and b.info.residual <= 1e-10
        np.testing.assert_allclose(b.currents, a.currents, rtol=1e-8, atol=1e-8 * np.abs(a.currents).max())


def test_newton_cg_agrees_with_lu():
    g, v, _, wires = _random_problem(10, 12, seed=4)
    a = CircuitSolver(g, wires, v0=0.2, method="lu").forward(v)
    b = CircuitSolver(g, wires, v0=0.2, method="cg").forward(v)
    np.testing.assert_allclose(b, a, rtol=1e-8)
    lin = CircuitSolver(g, wires, v0=1e3).forward(v)  # |V| << v0: linear
    np.testing.assert_allclose(lin, CircuitSolver(g, wires).forward(v), rtol=1e-6)


@pytest.mark.parametrize("method", ["lu", "cg"])
def test_batch_equals_one_by_one(method):
    g, _, _, wires = _random_problem(12, 10, seed=5)
    v = np.random.default_rng(6).uniform(-1, 1, (20, 12))  # batch >= N: uses the transfer matrix
    solver = CircuitSolver(g, wires, method=method)
    batch = solver.forward(v)
    single = np.stack([CircuitSolver(g, wires, method=method, transfer=False).forward(x) for x in v])
    np.testing.assert_allclose(batch, single, rtol=1e-8, atol=1e-8 * np.abs(single).max())
    d = np.random.default_rng(7).uniform(-1, 1, (3, 10))
    np.testing.assert_allclose(solver.transpose(d), np.stack([solver.transpose(x) for x in d]), rtol=1e-12)


def test_reciprocity():
    """A linear passive network is reciprocal: with r_source == r_sense the transpose pass is W.T."""
    g, _, _, wires = _random_problem(9, 6, seed=8)
    solver = CircuitSolver(g, WireResistance(wires.r_row, wires.r_col, 20.0, 20.0))
    np.testing.assert_allclose(solver.transfer_matrix(transpose=True), solver.transfer_matrix().T, rtol=1e-10)


def test_output_decreases_with_row_resistance():
    rng = np.random.default_rng(9)
    g = rng.uniform(1e-6, 1e-4, (16, 16))
    v = rng.uniform(0.05, 0.5, (2, 16))
    outs = [solve_forward(g, v, WireResistance(r, 1.0)) for r in (0.0, 1.0, 10.0, 100.0, 1000.0)]
    for lo, hi in zip(outs[1:], outs[:-1], strict=True):
        assert np.all(lo > 0) and np.all(lo < hi)


# ---------------------------------------------------------------- JAX integration


def test_jax_callbacks_inside_jit_and_vmap():
    g, v, d, wires = _random_problem(6, 5, seed=10)
    ref = CircuitSolver(g, wires)
    fwd = jax.jit(lambda g, v, w: forward_currents(g, v, w))
    out = fwd(jnp.asarray(g, jnp.float32), jnp.asarray(v, jnp.float32), wires)
    assert out.dtype == jnp.float32 and out.shape == (3, 5)
    np.testing.assert_allclose(np.asarray(out), ref.forward(v.astype(np.float32)), rtol=1e-5)
    tr = jax.jit(jax.vmap(lambda x: transpose_currents(g, x, wires)))
    np.testing.assert_allclose(np.asarray(tr(jnp.asarray(d, jnp.float32))), ref.transpose(d), rtol=1e-5)


def test_jax_callback_reports_failure_as_nan():
    g, v, _, wires = _random_problem(4, 4, seed=11)
    out = jax.jit(lambda g: forward_currents(g, v, wires))(jnp.asarray(-g, jnp.float32))
    assert np.all(np.isnan(np.asarray(out)))
    with pytest.raises(ValueError, match="`g`"):  # eager: validated before the callback
        forward_currents(-g, v, wires)


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize("kwargs,match", [
    ({"r_row": -1.0}, "r_row"), ({"r_col": np.nan}, "r_col"), ({"r_source": -2.0}, "r_source"),
    ({"r_sense": np.inf}, "r_sense"), ({"r_row": np.ones((3, 3))}, "r_row.*shape"),
])
def test_bad_resistance(kwargs, match):
    g, _, _, _ = _random_problem(4, 5)
    params = {"r_row": 1.0, "r_col": 1.0, **kwargs}
    with pytest.raises(ValueError, match=match):
        CircuitSolver(g, WireResistance(**params))


def test_bad_inputs():
    g, v, _, wires = _random_problem(4, 5)
    with pytest.raises(ValueError, match=r"`g`.*-1e-06"):
        CircuitSolver(np.where(np.arange(5) == 2, -1e-6, g), wires)
    with pytest.raises(ValueError, match="`g`"):
        CircuitSolver(np.zeros((4, 5)), wires)
    with pytest.raises(ValueError, match="`g`.*shape"):
        CircuitSolver(g[0], wires)
    with pytest.raises(ValueError, match=r"`v`.*\[batch, 4\]"):
        CircuitSolver(g, wires).forward(np.ones((2, 5)))
    with pytest.raises(ValueError, match="`v`.*finite"):
        CircuitSolver(g, wires).forward(np.full((2, 4), np.nan))
    with pytest.raises(ValueError, match="`v0`"):
        CircuitSolver(g, wires, v0=-0.1)
    with pytest.raises(ValueError, match="`method`"):
        CircuitSolver(g, wires, method="qr")
    with pytest.raises(TypeError, match="`wires`"):
        CircuitSolver(g, 1.0)
    with pytest.raises(TypeError, match="`r_row`"):
        WireResistance("1", 1.0).validate()


def test_non_convergence_raises_with_residual_and_iterations():
    g, v, _, _ = _random_problem(30, 30)
    solver = CircuitSolver(g, WireResistance(100.0, 100.0), method="cg", max_iter=2)
    with pytest.raises(ConvergenceError, match=r"residual .* after max_iter=2"):
        solver.forward(v)
