"""LLM recommenders."""
