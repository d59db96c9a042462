"""Shared fixtures: tiny datasets and a tiny LLM checkpoint, written by the tests themselves."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from benchmark.data import Dataset
from benchmark.llm.testing import make_tiny_checkpoint
from helpers_models import torch_threads


def make_dataset(n_users: int = 300, n_items: int = 250, seed: int = 0, min_len: int = 3, max_len: int = 40,
                 negatives: bool = False, name: str = "tiny") -> Dataset:
    """Random users with distinct items each; with `negatives`, a third of the rows are label 0."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        items = rng.choice(n_items, size=int(rng.integers(min_len, max_len)), replace=False)
        for t, i in enumerate(items):
            rows.append((u, int(i), 10_000 + 60 * t))
    inter = pd.DataFrame(rows, columns=["user", "item", "timestamp"]).astype("int64")
    if negatives:
        inter["label"] = (rng.random(len(inter)) > 1 / 3).astype("int8")
    items = pd.DataFrame({f: [f"{f} {i}" for i in range(n_items)] for f in ("title", "category", "brand", "description")})
    return Dataset(name, inter, items, {"adapter": "test", "seed": seed})


@pytest.fixture
def tiny_dataset() -> Dataset:
    return make_dataset()


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A tiny random Llama checkpoint with its tokenizer (benchmark/llm/testing.py), one per test module."""
    return make_tiny_checkpoint(tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture(scope="module")
def isolated_llm_cache(tmp_path_factory):
    """A module's own cache root (RECBOARD_CACHE: adapters, encoders, checkpoints) and one torch
    thread while its LLM tests run; a module opts in with
    `pytestmark = pytest.mark.usefixtures("isolated_llm_cache")`."""
    with pytest.MonkeyPatch.context() as mp:
        root = tmp_path_factory.mktemp("cache")
        mp.setenv("RECBOARD_CACHE", str(root))
        with torch_threads(1):
            yield root
