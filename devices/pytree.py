"""Registering parameter and state dataclasses as pytrees whose structure remembers their class.

`jax.tree_util.register_dataclass` would do, but in jaxlib 0.10.x two tree structures built from different
dataclasses with the same number of fields compare *equal* (`tree_structure(SoftBounds()) ==
tree_structure(ConstantStep())` is True; only their hashes differ). `jax.jit` looks compiled functions up
by that structure, so when two such hashes collide in its cache, a call with one device model silently runs
the executable compiled for the other: it happened in CI (a constant-step sweep point returned the soft-bounds
result). Custom nodes registered with `register_pytree_with_keys` compare their class, so that is what
`pytree_dataclass` registers (`tests/test_pytree.py` checks the distinction).
"""

from __future__ import annotations

import dataclasses

import jax


def pytree_dataclass(cls: type) -> type:
    """Class decorator: register a dataclass as a pytree node whose structure includes its class.

    Drop-in for `jax.tree_util.register_dataclass` as it infers its fields: a field declared with
    `metadata=dict(static=True)` is static (part of the tree structure: hashable, compared, never traced),
    every other init field is a child (None is an empty subtree). Key paths name the attributes
    (`GetAttrKey`), as `register_dataclass`'s do. Unflattening calls the class's `__init__`, and JAX unflattens
    with placeholder leaves at times: keep validation out of `__post_init__` (the project validates in
    `validate()` methods).

    Raises:
        TypeError: if `cls` is not a dataclass.
    """
    if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
        raise TypeError(f"pytree_dataclass expects a dataclass type, got {cls!r}")
    init_fields = [f for f in dataclasses.fields(cls) if f.init]
    names = tuple(f.name for f in init_fields if not f.metadata.get("static", False))
    static = tuple(f.name for f in init_fields if f.metadata.get("static", False))
    keys = tuple(jax.tree_util.GetAttrKey(name) for name in names)

    def flatten_with_keys(obj):
        children = [(key, getattr(obj, name)) for key, name in zip(keys, names, strict=True)]
        return children, tuple(getattr(obj, name) for name in static)

    def flatten(obj):
        return [getattr(obj, name) for name in names], tuple(getattr(obj, name) for name in static)

    def unflatten(static_values, children):
        return cls(**dict(zip(names, children, strict=True)), **dict(zip(static, static_values, strict=True)))

    jax.tree_util.register_pytree_with_keys(cls, flatten_with_keys, unflatten, flatten)
    return cls


def strongly_typed(tree):
    """`tree` with its Python-number and weakly typed leaves made strongly typed arrays of the same dtype.

    Parameter dataclasses hold Python floats (a device's `g_max`, an array's `w_max`), which `jax.jit` traces as
    weakly typed scalars, while everything a jitted step returns is strongly typed. So a training loop that feeds
    a step its own output compiles the step twice: once for the freshly built layers, once for what the first
    call returned (about 9 s each for the CNN's training chunk). Passing the layers through this first makes
    the first call look like every later one: one compilation. Values are unchanged (float32 stays float32).

    Args:
        tree: Any pytree (layers, optimizer states, parameter dataclasses).

    Returns:
        The same structure; arrays that were already strongly typed are the same objects.
    """
    import jax.numpy as jnp

    def strong(leaf):
        if isinstance(leaf, (bool, int, float, complex)) or getattr(leaf, "weak_type", False):
            return jnp.asarray(leaf, dtype=jnp.result_type(leaf))
        return leaf

    return jax.tree_util.tree_map(strong, tree)
