"""The lecture's gridworld: an agent moves North, East, South or West on an n x n grid until it reaches the goal.

States are coded by place cells (Gaussian basis functions centred on every grid cell) plus a bias input of 1,
actions one-hot. Everything is a pure JAX function of integer positions, so episodes jit and vmap.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import jax
import jax.numpy as jnp

from devices.pytree import pytree_dataclass
from devices.validation import check_int, check_positive

Array = jax.Array

ACTIONS = ("N", "E", "S", "W")
# (row, col) moves of N, E, S, W; row 0 is the northern edge.
MOVES = ((-1, 0), (0, 1), (1, 0), (0, -1))


@pytree_dataclass
@dataclass(frozen=True)
class Gridworld:
    """An n x n grid, start in the north-west corner, goal in the south-east one; reward 1 on reaching the goal.

    Attributes:
        size: Grid side n (static); the shortest path takes 2 (n - 1) steps.
        sigma: Width of the place cells' Gaussian tuning (grid cells).
        max_steps: Steps after which an unfinished episode ends with reward 0 (static).
    """

    size: int = field(default=5, metadata=dict(static=True))
    sigma: float = 0.8
    max_steps: int = field(default=60, metadata=dict(static=True))

    def validate(self) -> Gridworld:
        check_int("size", self.size, 2)
        check_positive("sigma", self.sigma)
        check_int("max_steps", self.max_steps, 1)
        return self

    @property
    def n_features(self) -> int:
        """Place cells plus the bias input."""
        return self.size * self.size + 1

    @property
    def shortest_path(self) -> int:
        return 2 * (self.size - 1)

    @property
    def start(self) -> Array:
        return jnp.zeros(2, jnp.int32)

    @property
    def goal(self) -> Array:
        return jnp.full(2, self.size - 1, jnp.int32)

    def features(self, pos: Array) -> Array:
        """Place-cell activities phi [size^2 + 1] of position `pos` [2] (int): exp(-|pos - c|^2 / 2 sigma^2), then 1."""
        r, c = jnp.meshgrid(jnp.arange(self.size), jnp.arange(self.size), indexing="ij")
        centres = jnp.stack([r.ravel(), c.ravel()], axis=1).astype(jnp.float32)  # [size^2, 2]
        d2 = jnp.sum((centres - pos.astype(jnp.float32)[None, :]) ** 2, axis=1)
        return jnp.concatenate([jnp.exp(-d2 / (2.0 * self.sigma**2)), jnp.ones(1)])

    def step(self, pos: Array, action: Array) -> tuple[Array, Array, Array]:
        """Move by `action` (0..3 = N, E, S, W); walls stop the move. Returns (new pos, reward, reached goal)."""
        move = jnp.asarray(MOVES, jnp.int32)[action]
        new = jnp.clip(pos + move, 0, self.size - 1)
        reached = jnp.all(new == self.goal)
        return new, reached.astype(jnp.float32), reached
