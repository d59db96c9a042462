"""Most popular: every user gets the same item order, by how often each item occurs in the
fine-tune split (positive rows for CTR, occurrences in the training sequences for next item).

Over the whole catalogue it answers with a `TopK` of its `top_k` most popular items: the list is
the same for every user, so a dense catalogue-wide row per user would only repeat it. The rest of
the catalogue ties below the list. Metrics at cut-offs up to 20 are those of the full order unless
a user has already seen (and so has masked) more than `top_k` - 20 of the listed items; only
ranks past the list, and so the uncut MRR, change."""

from __future__ import annotations

import numpy as np

from benchmark.api import CTRFitData, FitData, Model, ModelError, ModelMeta, SeqFitData, candidate_matrix
from benchmark.registry import register_model
from benchmark.requests import RankRequest, ScoreRequest, TopK
from models.layers.args import positive_int


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

    def __init__(self, top_k: int = 100):
        self.top_k = positive_int(self.meta.name, "top_k", top_k)

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
        self.top_items = np.argsort(-self.ranking_scores, kind="stable")[: self.top_k]

    def score(self, requests: list[ScoreRequest]) -> np.ndarray:
        return self.probability[np.fromiter((r.item for r in requests), dtype=np.int64, count=len(requests))]

    def rank(self, requests: list[RankRequest]) -> np.ndarray | TopK:
        candidates = candidate_matrix(requests)
        if candidates is None:
            rows = (len(requests), 1)
            return TopK(np.tile(self.top_items, rows), np.tile(self.ranking_scores[self.top_items], rows))
        return self.ranking_scores[candidates]
