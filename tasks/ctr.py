"""CTR (pair-wise): the probability that a user clicks a candidate item. Main metric AUC; also
GAUC (per-user mean and impression-weighted) and LogLoss."""

from __future__ import annotations

from typing import Any

import numpy as np

from benchmark.api import CTRFitData
from benchmark.metrics import auc, gauc, logloss
from benchmark.protocol import TaskData
from benchmark.requests import ScoreRequest
from tasks.base import Evaluation, ResponseError, Task, as_float_array


class CTRTask(Task):
    name = "ctr"
    version = "1"
    request_kind = "score"
    main_metric = "auc"
    prompt_name = "ctr_yes_no"

    def requests(self, td: TaskData, split: str = "test") -> list[ScoreRequest]:
        s = td.splits[split]
        return [ScoreRequest(int(u), tuple(h), int(i)) for u, h, i in zip(s["user"], s["history"], s["item"])]

    def labels(self, td: TaskData, split: str = "test") -> np.ndarray:
        return np.asarray(td.splits[split]["label"], dtype=np.int64)

    def fit_data(self, td: TaskData) -> CTRFitData:
        return CTRFitData(train=self.requests(td, "train"), train_labels=self.labels(td, "train"),
                          valid=self.requests(td, "valid"), valid_labels=self.labels(td, "valid"))

    def check(self, responses: Any, requests: list, n_items: int) -> np.ndarray:
        arr = as_float_array(responses, (len(requests),), "CTR")
        if (arr < 0).any() or (arr > 1).any():
            i = int(np.flatnonzero((arr < 0) | (arr > 1))[0])
            raise ResponseError(f"CTR: responses must be probabilities in [0, 1]; index {i} is {arr[i]!r}")
        return arr

    def evaluate(self, td: TaskData, responses: np.ndarray) -> Evaluation:
        y = self.labels(td)
        users = np.asarray(td.splits["test"]["user"], dtype=np.int64)
        metrics = {"auc": auc(y, responses), "logloss": logloss(y, responses)}
        metrics.update(gauc(y, responses, users))
        eps = 1e-7
        p = np.clip(responses, eps, 1 - eps)
        return Evaluation({k: float(v) for k, v in metrics.items()},
                          {"user": users, "label": y.astype(np.int8), "score": responses,
                           "logloss": -(y * np.log(p) + (1 - y) * np.log(1 - p))})

    def to_json_request(self, r: ScoreRequest) -> dict[str, Any]:
        return {"kind": "score", "user": r.user, "history": list(r.history), "item": r.item}
