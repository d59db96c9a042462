"""Sequential recommenders (next item)."""
