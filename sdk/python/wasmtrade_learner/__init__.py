"""wasmtrade's learner: PPO for the bundled CLSTM policy, from the transitions log to checkpoints.

    python -m wasmtrade_learner --checkpoints DIR --name NAME [--once]

See docs/policies.md ("The learner"). Importing the package imports nothing
heavy: `python -m wasmtrade_learner` pins numpy's BLAS to one thread before
importing it (repeatable sums, and no fight for a small machine's cores).
"""

__version__ = "0.1.0"
