"""Next item (list-wise), leave-one-out. Two candidate modes, named in the result: `full` (the whole
catalogue, the user's earlier items masked) and `sampled-100` (the target plus 100 uniformly
sampled never-touched items). Main metric NDCG@10; also HR, NDCG, MRR, Recall at 1/5/10/20, and
in `full` mode catalogue coverage, novelty and serendipity.

A model answers with dense scores or with a `TopK` (benchmark/requests.py); a TopK is scored
without ever building a catalogue-wide row, to the same numbers as the dense row that scores its
items as listed and every other candidate -inf."""

from __future__ import annotations

from typing import Any

import numpy as np

from benchmark.api import SeqFitData
from benchmark.metrics import beyond_accuracy, most_popular, per_user_ranking_metrics, rank_positions, top_k
from benchmark.metrics.topk import topk_lists, topk_rank_positions
from benchmark.protocol import CANDIDATE_MODES, ProtocolError, TaskData
from benchmark.requests import RankRequest, TopK
from tasks.base import Evaluation, ResponseError, Task, as_float_array
from tasks.topk import check_topk, seen_entries

CUTOFFS = (1, 5, 10, 20)


class SeqRecTask(Task):
    name = "seqrec"
    version = "1"
    request_kind = "rank"
    main_metric = "ndcg@10"
    prompt_name = "seqrec_next_item"
    token_prompt_name = "seqrec_next_item_tokens"

    def __init__(self, candidates: str = "full"):
        if candidates not in CANDIDATE_MODES:
            raise ValueError(f"seqrec candidates must be one of {list(CANDIDATE_MODES)}, got {candidates!r}")
        self.variant = candidates

    def requests(self, td: TaskData, split: str = "test") -> list[RankRequest]:
        s = td.splits[split]
        if self.variant == "full" or split != "test":
            return [RankRequest(int(u), tuple(h)) for u, h in zip(s["user"], s["history"])]
        short = td.extra.get("n_sampled_short_users", 0)
        if short:
            raise ProtocolError(
                f"dataset {td.dataset_name!r}: {short} test user(s) (first {td.extra['sampled_short_users'][0]}) have "
                f"fewer than {td.spec.seq_sampled_negatives} untouched items, so sampled mode cannot run "
                "(lower seq_sampled_negatives or use a larger catalogue); the full mode is unaffected")
        return [RankRequest(int(u), tuple(h), np.asarray(c, dtype=np.int64))
                for u, h, c in zip(s["user"], s["history"], s["candidates"])]

    def fit_data(self, td: TaskData) -> SeqFitData:
        valid = td.splits["valid"]
        return SeqFitData(sequences=[tuple(x) for x in td.splits["train"]["items"]],
                          valid=self.requests(td, "valid"),
                          valid_targets=np.asarray(valid["target"], dtype=np.int64),
                          valid_seen=[tuple(x) for x in valid["seen"]], n_items=td.n_items)

    def n_candidates(self, td: TaskData) -> int:
        return td.n_items if self.variant == "full" else td.spec.seq_sampled_negatives + 1

    def check(self, responses: Any, requests: list, n_items: int) -> np.ndarray | TopK:
        if isinstance(responses, TopK):
            return check_topk(responses, requests, n_items, f"next item ({self.variant})")
        width = n_items if not requests or requests[0].candidates is None else len(requests[0].candidates)
        arr = as_float_array(responses, (len(requests), width), f"next item ({self.variant})")
        if np.isposinf(arr).any():
            raise ResponseError(f"next item ({self.variant}): +inf scores are not allowed (use -inf for excluded items)")
        return arr

    def evaluate(self, td: TaskData, responses: np.ndarray | TopK) -> Evaluation:
        test = td.splits["test"]
        target = np.asarray(test["target"], dtype=np.int64)
        if isinstance(responses, TopK):
            greater, equal, lists = self._sparse(td, responses, target)
        else:
            greater, equal, lists = self._dense(td, responses)
        per_user = per_user_ranking_metrics(greater, equal, CUTOFFS)
        metrics = {k: float(np.mean(v)) for k, v in per_user.items()}
        if self.variant == "full":
            counts = np.asarray(td.splits["item_stats"]["train_count"], dtype=np.int64)
            popular = most_popular(counts, max(CUTOFFS))
            metrics.update(beyond_accuracy(lists, target, counts, int(td.extra["n_users_train"]), popular,
                                           td.n_items, CUTOFFS))
        columns = {"user": np.asarray(test["user"], dtype=np.int64), "greater": greater.astype(np.float64),
                   "equal": equal.astype(np.float64), **per_user}
        return Evaluation({k: float(v) for k, v in metrics.items()}, columns)

    def _dense(self, td: TaskData, responses: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        test = td.splits["test"]
        if self.variant != "full":
            return *rank_positions(responses, np.asarray(test["target_pos"], dtype=np.int64)), None
        n = len(responses)
        mask = np.zeros((n, td.n_items), dtype=bool)
        seen = test["seen"]
        rows = np.repeat(np.arange(n), [len(s) for s in seen])
        mask[rows, np.fromiter((x for s in seen for x in s), dtype=np.int64, count=len(rows))] = True
        greater, equal = rank_positions(responses, np.asarray(test["target"], dtype=np.int64), mask)
        return greater, equal, top_k(responses, max(CUTOFFS), mask)

    def _sparse(self, td: TaskData, responses: TopK, target: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        items, scores = responses.items, responses.scores
        if self.variant != "full":  # every candidate counts; the target is one of them
            others = np.full(len(target), td.spec.seq_sampled_negatives, dtype=np.int64)
            return *topk_rank_positions(items, scores, target, others), None
        masked, masked_lists, others = seen_entries(items, td.splits["test"]["seen"], target, td.n_items)
        greater, equal = topk_rank_positions(items, scores, target, others, masked)
        return greater, equal, topk_lists(items, scores, max(CUTOFFS), masked_lists)

    def to_json_request(self, r: RankRequest) -> dict[str, Any]:
        return {"kind": "rank", "user": r.user, "history": list(r.history),
                "candidates": None if r.candidates is None else r.candidates.tolist()}
