"""LLM backends: one interface, several engines."""

from __future__ import annotations

import importlib
from typing import Any

from benchmark.llm.base import BackendError, LLMBackend, TokenCounts, TokenTrie
from benchmark.llm.paths import DEFAULT_MODEL, resolve_model_path

# Engines load lazily: importing this package must not import torch-heavy or GPU-only modules.
BACKENDS = {
    "hf": ("benchmark.llm.hf", "HFBackend"),
    "vllm": ("benchmark.llm.vllm_backend", "VLLMBackend"),
}


def load_backend(name: str, **kwargs: Any) -> LLMBackend:
    """Build the engine called `name` ("hf" or "vllm"); kwargs go to its constructor."""
    if name not in BACKENDS:
        raise BackendError(f"unknown LLM backend {name!r}; known backends: {', '.join(sorted(BACKENDS))}")
    module, cls = BACKENDS[name]
    return getattr(importlib.import_module(module), cls)(**kwargs)


__all__ = [
    "BACKENDS",
    "DEFAULT_MODEL",
    "BackendError",
    "LLMBackend",
    "TokenCounts",
    "TokenTrie",
    "load_backend",
    "resolve_model_path",
]
