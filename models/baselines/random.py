"""Uniform random scores: the floor every other model must beat."""

from __future__ import annotations

import numpy as np

from benchmark.api import Model, ModelMeta, candidate_matrix
from benchmark.data.dataset import Catalogue
from benchmark.registry import register_model
from benchmark.requests import QARequest, RankRequest, ScoreRequest


@register_model("random")
class Random(Model):
    meta = ModelMeta(
        name="Random",
        paradigm="baseline",
        item_repr="none",
        scheme="zero-shot",
        backend="numpy",
        supports=("score", "rank", "answer"),
        license="Apache-2.0",
        description="Scores drawn uniformly from [0, 1), seeded by the run seed; QA: an option drawn uniformly.",
    )

    def setup(self, catalogue: Catalogue, seed: int) -> None:
        super().setup(catalogue, seed)
        self.rng = np.random.default_rng(seed)

    def score(self, requests: list[ScoreRequest]) -> np.ndarray:
        return self.rng.random(len(requests))

    def rank(self, requests: list[RankRequest]) -> np.ndarray:
        candidates = candidate_matrix(requests)
        width = self.catalogue.n_items if candidates is None else candidates.shape[1]
        return self.rng.random((len(requests), width))

    def answer(self, requests: list[QARequest]) -> np.ndarray:
        return np.array([self.rng.integers(len(r.options)) for r in requests], dtype=np.int64)
