"""Most popular: every user gets the same item order, by how often each item occurs in the
fine-tune split (positive rows for CTR, occurrences in the training sequences for next item)."""

from __future__ import annotations

import numpy as np

from benchmark.api import CTRFitData, FitData, Model, ModelError, ModelMeta, SeqFitData, candidate_matrix
from benchmark.registry import register_model
from benchmark.requests import RankRequest, ScoreRequest


@register_model("most-popular")
class MostPopular(Model):
    meta = ModelMeta(
        name="Most popular",
        paradigm="baseline",
        item_repr="id",
        scheme="fine-tuned",
        backend="numpy",
        supports=("score", "rank"),
        license="Apache-2.0",
        description="Item popularity in the fine-tune split; the same for every user.",
    )

    def fit(self, data: FitData) -> None:
        n_items = self.catalogue.n_items
        if isinstance(data, CTRFitData):
            labels = np.asarray(data.train_labels)
            items = np.fromiter((r.item for r, y in zip(data.train, labels) if y > 0), dtype=np.int64)
        elif isinstance(data, SeqFitData):
            items = np.fromiter((i for seq in data.sequences for i in seq), dtype=np.int64)
        else:
            raise ModelError(f"most-popular needs CTR or next-item fit data, got {type(data).__name__}")
        self.counts = np.bincount(items, minlength=n_items)[:n_items].astype(np.float64)
        self.probability = (self.counts + 1.0) / (self.counts.max(initial=0.0) + 2.0)
        # Counts are integers, so a fraction below 1 that falls with the id orders ties by lower id.
        self.ranking_scores = self.counts + (n_items - np.arange(n_items)) / (n_items + 1.0)

    def score(self, requests: list[ScoreRequest]) -> np.ndarray:
        return self.probability[np.fromiter((r.item for r in requests), dtype=np.int64, count=len(requests))]

    def rank(self, requests: list[RankRequest]) -> np.ndarray:
        candidates = candidate_matrix(requests)
        if candidates is None:
            return np.tile(self.ranking_scores, (len(requests), 1))
        return self.ranking_scores[candidates]
