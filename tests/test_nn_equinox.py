"""The Equinox example of the analog-layers guide (docs/guide/nn.md): analog layers inside an `eqx.Module`, trained
through `eqx.filter_value_and_grad`, step for step the same as the plain `jax.grad(..., allow_int=True)` route, and
the loss falls."""

from __future__ import annotations

import re
from pathlib import Path

import jax
import numpy as np
import pytest

eqx = pytest.importorskip("equinox")

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "guide" / "nn.md"


def _example() -> dict:
    text = GUIDE.read_text()
    code = next(block for block in re.findall(r"```python\n(.*?)```", text, re.S) if "import equinox" in block)
    scope: dict = {}
    exec(compile(code, "docs/guide/nn.md (Equinox example)", "exec"), scope)
    return scope


@pytest.mark.slow  # an optional library's route, 11 s; the plain route's example runs by default (test_nn_readme)
def test_equinox_route_equals_the_plain_route_and_learns():
    ex = _example()
    x = jax.random.uniform(jax.random.key(1), (32, 64))
    y = jax.numpy.argmax(x[:, :10], axis=1)  # a learnable labelling: the largest of the first ten inputs

    @jax.jit
    def plain_step(model, opt_state, x, y, key):
        k_read, k_update = jax.random.split(key)
        value, grads = jax.value_and_grad(ex["loss"], allow_int=True)(model, x, y, k_read)
        model, opt_state, _ = ex["opt"].update(grads, opt_state, model, k_update)
        return model, opt_state, value

    eqx_model, eqx_state = ex["model"], ex["opt_state"]
    plain_model, plain_state = ex["model"], ex["opt_state"]
    losses = []
    for i in range(60):
        key = jax.random.key(2 + i)
        eqx_model, eqx_state, value = ex["step"](eqx_model, eqx_state, x, y, key)
        plain_model, plain_state, _ = plain_step(plain_model, plain_state, x, y, key)
        losses.append(float(value))
    for name in ("hidden", "out"):
        # The same pulses (one more or less would move a weight by dw_min = 0.001); the two compilations may
        # round the conductances differently in the last bit.
        np.testing.assert_allclose(getattr(eqx_model, name).weights, getattr(plain_model, name).weights, atol=1e-6)
    assert isinstance(eqx_model, ex["MLP"])
    assert np.mean(losses[-10:]) < np.mean(losses[:10]) - 0.1
