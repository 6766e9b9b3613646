"""Pytree dataclasses: their tree structure tells their classes apart (jit must never mix two device models)."""

import dataclasses
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from crossbar.update import PulseUpdate
from devices.presets import make_device
from devices.pytree import pytree_dataclass
from tests.test_sweep import PULSES

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_models_with_the_same_fields_have_different_structures():
    # PCM and the bilayer device declare the same fields (soft bounds has `symmetry` besides constant step's `dg`)
    pcm, bilayer = make_device("pcm"), make_device("bilayer")
    assert [f.name for f in dataclasses.fields(pcm)] == [f.name for f in dataclasses.fields(bilayer)]
    assert jax.tree_util.tree_structure(pcm) != jax.tree_util.tree_structure(bilayer)


def test_a_jitted_function_runs_each_model_with_its_own_code():
    # The failure CI saw: one jitted metric called with both models ran the soft-bounds code for both.
    soft, const = (dataclasses.replace(make_device(name), dg=2e-8) for name in ("soft_bounds", "constant_step"))
    key = jax.random.key(3)
    shared = jax.jit(PULSES.__call__)
    for device in (soft, const, soft, const):
        alone = jax.jit(lambda d, k: PULSES(d, k))(device, key)  # a fresh cache: only this model
        np.testing.assert_array_equal(shared(device, key)["asymmetry"], alone["asymmetry"])
    assert abs(float(shared(const, key)["asymmetry"])) < 1e-5 < float(shared(soft, key)["asymmetry"])


def test_static_fields_are_structure_and_the_rest_are_leaves():
    upd = PulseUpdate(bl=10)
    assert jax.tree_util.tree_leaves(upd) == []  # every PulseUpdate field is static
    assert jax.tree_util.tree_structure(upd) != jax.tree_util.tree_structure(PulseUpdate(bl=20))
    device = make_device("constant_step")
    paths = [jax.tree_util.keystr(p) for p, _ in jax.tree_util.tree_flatten_with_path(device)[0]]
    assert paths[:2] == [".g_min", ".g_max"] and ".dg" in paths


def test_round_trip_under_vmap():
    @pytree_dataclass
    @dataclasses.dataclass(frozen=True)
    class Pair:
        a: jax.Array
        b: jax.Array
        label: str = dataclasses.field(default="x", metadata=dict(static=True))

    pairs = Pair(jnp.arange(3.0), jnp.ones(3), "y")
    out = jax.vmap(lambda p: dataclasses.replace(p, a=p.a * 2 + p.b))(pairs)
    assert isinstance(out, Pair) and out.label == "y"
    np.testing.assert_array_equal(out.a, [1.0, 3.0, 5.0])


def test_rejects_a_class_that_is_not_a_dataclass():
    with pytest.raises(TypeError, match="dataclass"):
        pytree_dataclass(int)


def test_no_module_registers_with_jax_register_dataclass():
    offenders = [str(p.relative_to(ROOT)) for folder in ("devices", "crossbar", "experiments")
                 for p in (ROOT / folder).rglob("*.py")
                 if "register_dataclass" in p.read_text() and p.name != "pytree.py"]
    assert offenders == [], f"use devices.pytree.pytree_dataclass instead (see its docstring): {offenders}"


def test_strongly_typed_makes_python_numbers_arrays_of_their_dtype_and_keeps_arrays():
    from devices.pytree import strongly_typed

    strong = jnp.ones(3)
    tree = {"f": 0.5, "i": 3, "b": True, "weak": jnp.asarray(2.0), "strong": strong}
    out = strongly_typed(tree)
    assert all(not out[k].weak_type for k in ("f", "i", "b", "weak"))
    assert [out[k].dtype for k in ("f", "i", "b", "weak")] == [jnp.float32, jnp.int32, jnp.bool_, jnp.float32]
    assert float(out["f"]) == 0.5 and int(out["i"]) == 3 and bool(out["b"]) and float(out["weak"]) == 2.0
    assert out["strong"] is strong


def test_a_step_fed_its_own_output_compiles_once_for_a_fresh_analog_layer():
    """Built layers carry their configuration strongly typed, as a jitted step returns it: a training loop's
    second call finds the first call's program (with Python floats it compiled a second one)."""
    from crossbar import array as xa
    from crossbar.nn.dense import analog_dense

    layer = analog_dense(xa.make_crossbar(make_device("gokmen_vlasov"), 3, 2), jax.random.key(0))

    @jax.jit
    def step(layer):
        return dataclasses.replace(layer, state=dataclasses.replace(layer.state, t=layer.state.t + 1.0))

    step(step(layer))
    assert step._cache_size() == 1
