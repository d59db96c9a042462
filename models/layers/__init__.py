"""Shared torch layers and training loops, so each model file stays short."""
