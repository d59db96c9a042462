"""Model wrappers: baselines (random, most-popular, oracle)."""
