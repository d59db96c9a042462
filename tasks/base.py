"""What a task is: requests out of task data, and metrics out of responses. A task never trains
anything and never looks inside a model."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from benchmark.prompts import PromptTemplate
from benchmark.protocol import TaskData
from benchmark.requests import TopK


TOKEN_ITEM_REPRS = ("id", "sid")  # item representations an LLM reads as tokens of its own


class ResponseError(ValueError):
    """A model's responses have the wrong type, shape or values; `row` is the request at fault,
    where one is."""

    def __init__(self, message: str, row: int | None = None):
        super().__init__(message)
        self.row = row


@dataclass
class Evaluation:
    metrics: dict[str, float]
    # One row per test request, in request order: the columns stored beside the result (Parquet),
    # from which confidence intervals and paired tests are computed. Always has `user`.
    per_example: dict[str, np.ndarray] = field(default_factory=dict)


class Task:
    name: ClassVar[str]
    version: ClassVar[str]
    request_kind: ClassVar[str]  # "score" | "rank" | "answer": the model method that answers
    main_metric: ClassVar[str]
    variant: str | None = None
    prompt_name: ClassVar[str | None] = None  # the task's template in tasks/prompts, for LLM models

    @property
    def prompt(self) -> PromptTemplate | None:
        """The task's prompt template (tasks/prompts/<prompt_name>.j2), or None when it has none."""
        if self.prompt_name is None:
            return None
        from tasks.prompts import load

        return load(self.prompt_name)

    def prompt_for(self, item_repr: str) -> PromptTemplate | None:
        """The template a prompted model with this item representation answers in: the variant
        `<prompt_name>__<variant>.j2` where the task ships one, else the task's own `prompt`. The
        variant is `item_tokens` for LLMs that read items as tokens of their own (item_repr in
        TOKEN_ITEM_REPRS: `seqrec_next_item__item_tokens`), else the item_repr with dashes as
        underscores (`uqa_answer__user_emb`, which marks where the soft tokens go)."""
        if self.prompt_name is None:
            return None
        from tasks.prompts import load, names

        key = "item_tokens" if item_repr in TOKEN_ITEM_REPRS else item_repr.replace("-", "_")
        variant = f"{self.prompt_name}__{key}"
        return load(variant) if variant in names() else self.prompt

    @property
    def label(self) -> str:
        return self.name if self.variant is None else f"{self.name}-{self.variant}"

    def requests(self, td: TaskData, split: str = "test") -> list:
        raise NotImplementedError

    def fit_data(self, td: TaskData) -> Any:
        raise NotImplementedError

    def check(self, responses: Any, requests: list, n_items: int) -> np.ndarray | TopK:
        """The responses validated and normalised (float64 scores; a TopK for next item may stay
        sparse), or a ResponseError saying what is wrong."""
        raise NotImplementedError

    def evaluate(self, td: TaskData, responses: np.ndarray | TopK) -> Evaluation:
        raise NotImplementedError

    def n_candidates(self, td: TaskData) -> int | None:
        return None

    def details(self, td: TaskData) -> dict[str, Any]:
        """What a result should say about the task data beyond its split counts (what could not
        be asked of this dataset, say); empty for most tasks."""
        return {}

    def to_json_request(self, request: Any) -> dict[str, Any]:
        raise NotImplementedError


def as_float_array(responses: Any, shape: tuple[int, ...], what: str) -> np.ndarray:
    if isinstance(responses, TopK):
        raise ResponseError(f"{what}: expected a score array of shape {shape}, got a TopK (next-item lists only)")
    try:
        arr = np.asarray(responses, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise ResponseError(f"{what}: responses are not numeric ({e})") from None
    if arr.shape != shape:
        raise ResponseError(f"{what}: expected responses of shape {shape}, got {arr.shape}")
    bad = np.isnan(arr)
    if bad.any():
        first = np.argwhere(bad)[0].tolist()
        raise ResponseError(f"{what}: {int(bad.sum())} NaN response value(s), first at index {first}")
    return arr
