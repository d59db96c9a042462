"""A worked example of a RecBoard submission: item-to-item co-visitation.

What a wrapper must do (see benchmark/api.py):
  * subclass benchmark.api.Model and set `meta`, a ModelMeta that agrees with submission.yaml;
  * list in meta.supports the request kinds it answers and implement the matching methods:
      score(list[ScoreRequest]) -> array of probabilities in [0, 1]     (CTR)
      rank(list[RankRequest])  -> array (n_requests, n_candidates)      (next item; candidates
                                  None means the whole catalogue, columns are item ids)
  * if meta.scheme is "fine-tuned", implement fit(data): CTRFitData for CTR, SeqFitData for next
    item. Zero-shot models are never fitted.
The harness hands over every request at once; batching is the model's business.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

from benchmark.api import CTRFitData, Model, ModelMeta, SeqFitData, candidate_matrix
from benchmark.requests import RankRequest, ScoreRequest


class CoVisitation(Model):
    meta = ModelMeta(
        name="example-covisit",
        paradigm="baseline",
        item_repr="id",
        scheme="fine-tuned",
        backend="numpy",
        supports=("score", "rank"),
        license="Apache-2.0",
        citation="Linden, Smith, York. Amazon.com recommendations: item-to-item collaborative filtering. 2003.",
        description="Recency-weighted item-to-item co-visitation counts.",
    )
    batch_size = 512

    def __init__(self, horizon: int = 3, decay: float = 0.7):
        self.horizon = horizon
        self.decay = decay

    def fit(self, data: CTRFitData | SeqFitData) -> None:
        n = self.catalogue.n_items
        if isinstance(data, SeqFitData):
            pairs = [(seq[i], seq[j]) for seq in data.sequences
                     for j in range(1, len(seq)) for i in range(max(0, j - self.horizon), j)]
        else:
            pairs = [(h, r.item) for r, y in zip(data.train, data.train_labels) if y == 1
                     for h in r.history[-self.horizon:]]
        src, dst = (np.array(x, dtype=np.int64) for x in zip(*pairs)) if pairs else (np.empty(0, int),) * 2
        counts = sparse.coo_matrix((np.ones(len(src)), (src, dst)), shape=(n, n)).tocsr()
        # Row-normalise so a prolific source item does not dominate; popularity breaks ties.
        row_sums = np.asarray(counts.sum(axis=1)).ravel()
        self.covisit = sparse.diags(1.0 / np.maximum(row_sums, 1.0)) @ counts
        popularity = np.bincount(dst, minlength=n).astype(np.float64)
        self.prior = 1e-3 * popularity / max(popularity.max(), 1.0)

    def _user_rows(self, histories: list[tuple[int, ...]]) -> sparse.csr_matrix:
        rows, cols, vals = [], [], []
        for r, hist in enumerate(histories):
            for age, item in enumerate(reversed(hist[-self.horizon:])):
                rows.append(r)
                cols.append(item)
                vals.append(self.decay ** age)
        return sparse.csr_matrix((vals, (rows, cols)), shape=(len(histories), self.catalogue.n_items))

    def rank(self, requests: list[RankRequest]) -> np.ndarray:
        out = []
        for start in range(0, len(requests), self.batch_size):
            batch = requests[start:start + self.batch_size]
            scores = (self._user_rows([r.history for r in batch]) @ self.covisit).toarray() + self.prior
            candidates = candidate_matrix(batch)
            if candidates is not None:
                scores = np.take_along_axis(scores, candidates, axis=1)
            out.append(scores)
        return np.concatenate(out) if out else np.empty((0, self.catalogue.n_items))

    def score(self, requests: list[ScoreRequest]) -> np.ndarray:
        users = self._user_rows([r.history for r in requests])
        items = np.array([r.item for r in requests], dtype=np.int64)
        raw = np.asarray(users.multiply(self.covisit[:, items].T).sum(axis=1)).ravel() + self.prior[items]
        return raw / (1.0 + raw)
