"""LLM backends: one interface, several engines."""
