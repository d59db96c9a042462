"""Personalized question answering (UQABench): questions about a user's own interaction sequence,
each with candidate options, answered by picking one. The questions, their options and ground
truth are built into the task data by the protocol (benchmark/protocol/uqa.py, worded by the
templates of tasks/uqa_templates); the prompt a text LLM answers in is tasks/prompts/uqa_answer.j2.

A model answers each `QARequest` with the index of the option it picks, or with a score per
option (see `benchmark.api.Model.answer`); a generating model resolves its text to an option with
`benchmark.qa.resolve_option` (exact match after `normalize_answer`, never by prefix).

Metrics (UQABench reports the same means): `acc_<sub-task>` for df, mf, ip, ap, li, si, it; one
per dimension, `acc_understanding` (UQABench's sequence understanding: df, mf), `acc_prediction`
(action prediction: ip, ap) and `acc_interest` (interest perception: li, si, it); and
`acc_overall`, the main metric. Each is the mean correctness over the questions it covers, so a
dimension and the overall accuracy weigh every question alike, as UQABench's averages do. A
sub-task the dataset cannot support has no question and no metric; the result's `task.details`
says why. With scores, a tie at the top counts as its expectation: 1/t when the truth is among t
tied options.

Per-example columns: user, subtask, dimension, attribute, template, answer (the correct option),
chosen (the first top option, -1 for none) and correct (0–1), from which benchmark/stats.py
bootstraps every accuracy over users."""

from __future__ import annotations

from typing import Any

import numpy as np

from benchmark.api import QAFitData
from benchmark.protocol import TaskData
from benchmark.protocol.uqa import DIMENSION_OF, DIMENSIONS, SUBTASKS
from benchmark.qa import NO_ANSWER, normalize_answer, parse_answer, resolve_option
from benchmark.requests import QARequest, TopK
from tasks.base import Evaluation, ResponseError, Task


class UQATask(Task):
    name = "uqa"
    version = "1"
    request_kind = "answer"
    main_metric = "acc_overall"
    prompt_name = "uqa_answer"

    def requests(self, td: TaskData, split: str = "test") -> list[QARequest]:
        s = td.splits[split]
        return [QARequest(int(u), tuple(h), q, tuple(o))
                for u, h, q, o in zip(s["user"], s["history"], s["question"], s["options"])]

    def answers(self, td: TaskData, split: str = "test") -> np.ndarray:
        return np.asarray(td.splits[split]["answer"], dtype=np.int64)

    def fit_data(self, td: TaskData) -> QAFitData:
        return QAFitData(train=self.requests(td, "train"), train_answers=self.answers(td, "train"),
                         valid=self.requests(td, "valid"), valid_answers=self.answers(td, "valid"),
                         sequences=[tuple(x) for x in td.splits["encoder"]["items"]], n_items=td.n_items,
                         train_subtasks=list(td.splits["train"]["subtask"]),
                         valid_subtasks=list(td.splits["valid"]["subtask"]))

    def check(self, responses: Any, requests: list, n_items: int) -> np.ndarray:
        """The responses as credit per option, shape (n, n_options): one-hot on the option picked
        (a zero row for NO_ANSWER), or spread evenly over the top-scored options."""
        if isinstance(responses, TopK):
            raise ResponseError("QA: expected option indices or scores per option, got a TopK (next-item lists only)")
        try:
            arr = np.asarray(responses, dtype=np.float64)
        except (TypeError, ValueError) as e:
            raise ResponseError(f"QA: responses are not numeric ({e})") from None
        n = len(requests)
        widths = [len(r.options) for r in requests]
        if arr.ndim == 1:
            return _credit_from_indices(arr, widths)
        if arr.ndim == 2 and arr.shape[0] == n and len(set(widths)) <= 1 and (not widths or arr.shape[1] == widths[0]):
            return _credit_from_scores(arr)
        shape = f"({n},) option indices or ({n}, {widths[0] if len(set(widths)) == 1 else 'n_options'}) scores"
        raise ResponseError(f"QA: expected {shape}, got an array of shape {arr.shape}")

    def evaluate(self, td: TaskData, responses: np.ndarray) -> Evaluation:
        test = td.splits["test"]
        truth = self.answers(td)
        correct = responses[np.arange(len(truth)), truth]
        chosen = np.where(responses.max(axis=1) > 0, responses.argmax(axis=1), NO_ANSWER).astype(np.int64)
        subtask = np.asarray(test["subtask"], dtype=str)
        dimension = np.asarray([DIMENSION_OF[s] for s in subtask], dtype=str)
        metrics = {}
        for sub in SUBTASKS:
            if (subtask == sub).any():
                metrics[f"acc_{sub}"] = float(correct[subtask == sub].mean())
        for dim in DIMENSIONS:
            if (dimension == dim).any():
                metrics[f"acc_{dim}"] = float(correct[dimension == dim].mean())
        metrics["acc_overall"] = float(correct.mean())
        columns = {"user": np.asarray(test["user"], dtype=np.int64), "subtask": subtask, "dimension": dimension,
                   "attribute": np.asarray(test["attribute"], dtype=str),
                   "template": np.asarray(test["template"], dtype=str), "answer": truth, "chosen": chosen,
                   "correct": correct.astype(np.float64)}
        return Evaluation(metrics, columns)

    def details(self, td: TaskData) -> dict[str, Any]:
        extra = td.extra
        return {"test_questions": extra["questions"]["test"], "attributes": extra["attributes"],
                "skipped_attributes": extra["skipped_attributes"], "skipped_subtasks": extra["skipped_subtasks"]}

    def to_json_request(self, r: QARequest) -> dict[str, Any]:
        return {"kind": "answer", "user": r.user, "history": list(r.history), "question": r.question,
                "options": list(r.options)}


def _credit_from_indices(arr: np.ndarray, widths: list[int]) -> np.ndarray:
    if arr.shape != (len(widths),):
        raise ResponseError(f"QA: expected {len(widths)} option indices, got {arr.shape[0]}")
    whole = np.isfinite(arr) & (arr == np.round(arr))
    if not whole.all():
        i = int(np.flatnonzero(~whole)[0])
        raise ResponseError(f"QA: option indices must be whole numbers; index {i} is {arr[i]!r}", row=i)
    picks = arr.astype(np.int64)
    limit = np.asarray(widths, dtype=np.int64)
    bad = (picks < NO_ANSWER) | (picks >= limit)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ResponseError(f"QA: request {i} has {widths[i]} options (indices 0..{widths[i] - 1}, or {NO_ANSWER} for "
                            f"none), got {picks[i]}", row=i)
    credit = np.zeros((len(widths), max(widths, default=0)), dtype=np.float64)
    rows = np.flatnonzero(picks != NO_ANSWER)
    credit[rows, picks[rows]] = 1.0
    return credit


def _credit_from_scores(arr: np.ndarray) -> np.ndarray:
    if np.isnan(arr).any():
        i = int(np.argwhere(np.isnan(arr))[0, 0])
        raise ResponseError(f"QA: {int(np.isnan(arr).sum())} NaN score(s), first in request {i}", row=i)
    if np.isposinf(arr).any():
        i = int(np.argwhere(np.isposinf(arr))[0, 0])
        raise ResponseError("QA: +inf scores are not allowed (use -inf to rule an option out)", row=i)
    if arr.size == 0:
        return np.zeros(arr.shape)
    top = (arr == arr.max(axis=1, keepdims=True)) & np.isfinite(arr)
    counts = top.sum(axis=1, keepdims=True)
    return np.divide(top, counts, out=np.zeros_like(arr), where=counts > 0)


__all__ = ["UQATask", "normalize_answer", "parse_answer", "resolve_option"]
