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

    def start_state(self, key=None) -> Array:
        """Where an episode starts: always the north-west corner (`key` unused)."""
        return self.start

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


@pytree_dataclass
@dataclass(frozen=True)
class ActionMap:
    """A one-step task on the grid whose map of places to actions no linear policy can hold.

    Each episode starts in a random cell (r, c) and ends after one action, with reward 1 when the action is the
    map's: East where r + c is even, South where it is odd (a checkerboard, the XOR of the row's and the column's
    parity). The state is coded by two populations, one cell per row and one per column (plus a bias), so a
    linear policy's preference for East is a sum of a row term and a column term, which cannot follow a
    checkerboard; a hidden layer can.

    Attributes:
        size: Grid side n (static).
        max_steps: 1 (one action per episode; static).
    """

    size: int = field(default=4, metadata=dict(static=True))
    max_steps: int = field(default=1, metadata=dict(static=True))

    def validate(self) -> ActionMap:
        check_int("size", self.size, 2)
        if self.max_steps != 1:
            raise ValueError(f"`max_steps` must be 1 (one action per episode); got max_steps={self.max_steps}")
        return self

    @property
    def n_features(self) -> int:
        return 2 * self.size + 1

    def start_state(self, key) -> Array:
        """A uniformly random cell [2]."""
        return jax.random.randint(key, (2,), 0, self.size)

    def features(self, pos: Array) -> Array:
        """[2 size + 1]: one-hot row, one-hot column, 1."""
        return jnp.concatenate([jax.nn.one_hot(pos[0], self.size), jax.nn.one_hot(pos[1], self.size), jnp.ones(1)])

    def target(self, pos: Array) -> Array:
        """The map's action at `pos`: 1 (East) where row + column is even, 2 (South) where odd."""
        return 1 + (pos[0] + pos[1]) % 2

    def step(self, pos: Array, action: Array) -> tuple[Array, Array, Array]:
        """(pos, reward 1 for the map's action else 0, done = True)."""
        return pos, (action == self.target(pos)).astype(jnp.float32), jnp.ones((), bool)

    def cells(self) -> Array:
        """Every cell [size^2, 2] (for evaluation)."""
        r, c = jnp.meshgrid(jnp.arange(self.size), jnp.arange(self.size), indexing="ij")
        return jnp.stack([r.ravel(), c.ravel()], axis=1)
