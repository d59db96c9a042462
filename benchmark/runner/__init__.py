"""Runner: plans to runs to results."""
