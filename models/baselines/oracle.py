"""The oracle: scores with the true next-item probabilities of the synthetic generative process."""

from __future__ import annotations

import numpy as np

from benchmark.api import Model, ModelError, ModelMeta
from benchmark.data.dataset import Catalogue
from benchmark.data.synthetic import SyntheticWorld
from benchmark.registry import register_model
from benchmark.requests import RankRequest, ScoreRequest


@register_model("oracle")
class Oracle(Model):
    meta = ModelMeta(
        name="Oracle",
        paradigm="oracle",
        item_repr="none",
        scheme="zero-shot",
        backend="numpy",
        supports=("score", "rank"),
        license="Apache-2.0",
        description="Knows the synthetic data's generative process (user preferences, complements, popularity) "
        "and answers with the true next-item probability given the user and history: the ceiling any "
        "model can reach on synthetic data.",
    )
    batch_size = 512

    def setup(self, catalogue: Catalogue, seed: int) -> None:
        super().setup(catalogue, seed)
        adapter = catalogue.source.get("adapter")
        if adapter != "synthetic":
            raise ModelError(f"oracle only works on synthetic data, whose generative process it knows; "
                             f"dataset {catalogue.dataset_name!r} comes from adapter {adapter!r}")
        self.world = SyntheticWorld.from_params(catalogue.source["params"])
        if self.world.n_items != catalogue.n_items:
            raise ModelError(f"oracle: the synthetic parameters give {self.world.n_items} items but the catalogue "
                             f"of {catalogue.dataset_name!r} has {catalogue.n_items}")

    def _probs(self, requests: list) -> np.ndarray:
        users = np.fromiter((r.user for r in requests), dtype=np.int64, count=len(requests))
        if len(users) and (users.min() < 0 or users.max() >= self.world.n_users):
            raise ModelError(f"oracle: user ids must be in 0..{self.world.n_users - 1} (the synthetic users)")
        return self.world.next_item_probs(users, [r.history for r in requests])

    def _items(self, items: np.ndarray) -> np.ndarray:
        if items.size and (items.min() < 0 or items.max() >= self.world.n_items):
            raise ModelError(f"oracle: item ids must be in 0..{self.world.n_items - 1}")
        return items

    def score(self, requests: list[ScoreRequest]) -> np.ndarray:
        out = np.empty(len(requests))
        for lo in range(0, len(requests), self.batch_size):
            batch = requests[lo:lo + self.batch_size]
            items = self._items(np.fromiter((r.item for r in batch), dtype=np.int64, count=len(batch)))
            out[lo:lo + len(batch)] = self._probs(batch)[np.arange(len(batch)), items]
        return out

    def rank(self, requests: list[RankRequest]) -> np.ndarray:
        width = self.world.n_items if not requests or requests[0].candidates is None else len(requests[0].candidates)
        out = np.empty((len(requests), width))
        for lo in range(0, len(requests), self.batch_size):
            batch = requests[lo:lo + self.batch_size]
            probs = self._probs(batch)
            if batch[0].candidates is None:
                out[lo:lo + len(batch)] = probs
            else:
                candidates = self._items(np.stack([np.asarray(r.candidates, dtype=np.int64) for r in batch]))
                out[lo:lo + len(batch)] = np.take_along_axis(probs, candidates, axis=1)
        return out
