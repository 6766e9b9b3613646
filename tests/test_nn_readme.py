"""The README's `crossbar.nn` usage example runs as printed and takes one step without clipping anything."""

from __future__ import annotations

import re
from pathlib import Path

import jax

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_nn_example_runs():
    text = README.read_text()
    section = text[text.index("### Analog layers in any JAX model"):]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    scope: dict = {}
    # User code broadcasts a [10] bias onto [batch, 10] logits; the suite's strict rank promotion is for the library.
    with jax.numpy_rank_promotion("allow"):
        exec(compile(code, "README.md (crossbar.nn example)", "exec"), scope)
    assert all(v == 0 for v in scope["counters"].as_dict().values())
    assert scope["opt_state"].count == 1
