"""LLMSeqSim, semantic item recommendations via LLM embeddings (Boz et al., Section 3; Harte et al.,
RecSys 2023): every item's text is embedded (here the shared MiniLM encoder in place of the
study's OpenAI / PaLM embedding APIs) and optionally reduced by PCA; a history's session embedding
combines its items' embeddings, and items are scored by the cosine similarity of their embedding
to the session embedding. Nothing is learnt from interactions, so the model is zero-shot and
blind to popularity.

On the synthetic default data the plain centroid does not beat most-popular: the next item there
follows mostly the *last* item's category and brand (p_stay, p_complement) and strongly follows
Zipfian popularity, while the centroid averages the whole history and ignores popularity. A
recency-weighted aggregation from the study's Table 1 (`aggregation="harmonic"`) does beat it.
"""

from __future__ import annotations

import numpy as np

from benchmark.api import Model, ModelMeta
from benchmark.data.dataset import Catalogue
from benchmark.registry import register_model
from benchmark.requests import RankRequest
from models.layers import args
from models.layers.citations import LLM_SEQREC
from models.layers.scoring import rank_requests
from models.layers.sessions import aggregate, check_weighting, unit_rows
from models.layers.text_embeddings import ItemTextVectors


@register_model("llmseqsim")
class LLMSeqSim(ItemTextVectors, Model):
    """Defaults: aggregation "mean", the study's global-average-pooled session embedding (its
    Section 3.4; the weighted alternatives of its Table 1 are in models/layers/sessions.py);
    cosine similarity, the study's choice ("the choice of the similarity measure did not
    significantly impact the results"); pca_dims 128: the study found PCA always best and the
    larger of its two targets (128, 512) better, and 512 exceeds MiniLM's 384 dimensions."""

    meta = ModelMeta(
        name="LLMSeqSim",
        paradigm="seqrec",
        item_repr="emb",
        scheme="zero-shot",
        backend="numpy",
        supports=("rank",),
        license="Apache-2.0",
        citation=LLM_SEQREC,
        description="Cosine of items' text embeddings to the history's pooled text embedding (MiniLM, PCA).",
    )

    def __init__(self, aggregation: str = "mean", pca_dims: int | None = 128, batch_size: int = 256):
        self.aggregation = check_weighting(self.meta.name, "aggregation", aggregation)
        self.set_pca_dims(pca_dims)
        self.batch_size = args.positive_int(self.meta.name, "batch_size", batch_size)

    def setup(self, catalogue: Catalogue, seed: int) -> None:
        super().setup(catalogue, seed)
        self.unit_items = unit_rows(self.item_vectors)

    def item_scores(self, histories: list[tuple[int, ...]]) -> np.ndarray:
        return aggregate(histories, self.item_vectors, self.aggregation) @ self.unit_items.T

    def rank(self, requests: list[RankRequest]) -> np.ndarray:
        return rank_requests(requests, self.item_scores, self.catalogue.n_items, self.batch_size)
