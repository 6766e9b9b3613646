"""Test-wide JAX settings."""

import jax

# Any implicit broadcast between arrays of different ranks is an error in tests: it catches row/column
# broadcasting bugs (scalars still broadcast freely).
jax.config.update("jax_numpy_rank_promotion", "raise")
