"""What a model wrapper is: validated metadata plus methods that answer whole lists of requests.

A wrapper subclasses `Model`, sets `meta`, implements the methods for the request types it
supports (`score`, `rank`, `answer`) and, unless zero-shot, `fit`. The runner calls, in order:
`__init__(**args)`, then sets `prompts` (models of a prompted paradigm, see below), then
`setup(catalogue, seed)`, `fit(data)` (fine-tuned models only), then the
request methods with every request of the run at once, then single requests for latency, each
after `reset_caches()`.

Prompts belong to the task, not to model code. A model whose paradigm is in PROMPTED_PARADIGMS
gets, before `setup`, `self.prompts`: task name → {"name", "version", "text"}, the task's
versioned jinja2 template (tasks/prompts/*.j2) for each task of the run. It renders its prompts
with `benchmark.prompts.PromptTemplate.from_dict(self.prompts["ctr"])` and should raise
ModelError when the template it needs is missing. The result records the template (name,
version, sha256, chat wrapping, answer prefix) and the template is part of the result's identity.
Other models get an empty dict.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

import numpy as np

from benchmark.data.dataset import Catalogue
from benchmark.requests import QARequest, RankRequest, ScoreRequest, TopK

PARADIGMS = ("baseline", "oracle", "dlrm", "seqrec", "llm", "llm-for-rs")
ITEM_REPRESENTATIONS = ("none", "id", "text", "emb", "sid", "user-emb")
SCHEMES = ("zero-shot", "fine-tuned")
BACKENDS = ("numpy", "torch", "hf", "vllm")
REQUEST_KINDS = ("score", "rank", "answer")
PROMPTED_PARADIGMS = ("llm", "llm-for-rs")  # models that are handed the task's prompt template


def uses_prompts(meta: "ModelMeta") -> bool:
    return meta.paradigm in PROMPTED_PARADIGMS


class ModelError(RuntimeError):
    """A model cannot run as asked (wrong data, missing file, unsupported request type)."""


@dataclass(frozen=True)
class ModelMeta:
    """Validated model metadata. `supports` names request kinds: score (CTR), rank (next item),
    answer (QA). `group` is the RecBench group letter (A–J) where one applies."""

    name: str
    paradigm: str
    item_repr: str
    scheme: str
    backend: str
    supports: tuple[str, ...]
    license: str
    citation: str = ""
    group: str | None = None
    description: str = ""

    def __post_init__(self) -> None:
        errors = meta_errors(self)
        if errors:
            raise ValueError(f"invalid ModelMeta for {self.name!r}: " + "; ".join(errors))

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["supports"] = list(self.supports)
        return d


def meta_errors(meta: ModelMeta) -> list[str]:
    errors = []
    if not meta.name or not isinstance(meta.name, str):
        errors.append("name must be a non-empty string")
    for attr, allowed in (
        ("paradigm", PARADIGMS),
        ("item_repr", ITEM_REPRESENTATIONS),
        ("scheme", SCHEMES),
        ("backend", BACKENDS),
    ):
        if getattr(meta, attr) not in allowed:
            errors.append(f"{attr}={getattr(meta, attr)!r} is not one of {list(allowed)}")
    if not meta.supports or any(s not in REQUEST_KINDS for s in meta.supports):
        errors.append(f"supports={list(meta.supports)!r} must be a non-empty subset of {list(REQUEST_KINDS)}")
    if not meta.license:
        errors.append("license is required")
    if meta.group is not None and meta.group not in tuple("ABCDEFGHIJ"):
        errors.append(f"group={meta.group!r} must be a RecBench group letter A–J or None")
    return errors


@dataclass
class CTRFitData:
    """The CTR fine-tune split: labelled pairs for training and for validation (disjoint users)."""

    train: list[ScoreRequest]
    train_labels: np.ndarray
    valid: list[ScoreRequest]
    valid_labels: np.ndarray


@dataclass
class SeqFitData:
    """The next-item fine-tune split: training sequences (each at most window+1 items, oldest
    first; every position after the first is a next-item target) and a validation set of
    requests over the whole catalogue with their targets and each user's earlier items
    (`valid_seen`, masked when ranking, as the task masks them in evaluation)."""

    sequences: list[tuple[int, ...]]
    valid: list[RankRequest]
    valid_targets: np.ndarray
    valid_seen: list[tuple[int, ...]]
    n_items: int = 0


@dataclass
class QAFitData:
    """The personalized-QA fine-tune split (tasks/uqa.py). `train` holds the questions of the QA
    training users and `valid` those of the validation users (disjoint users, and neither among
    the test users), each request with the index of its correct option in `train_answers` /
    `valid_answers` and its sub-task (df, mf, ip, ap, li, si, it) in `train_subtasks` /
    `valid_subtasks`. `sequences` is the whole positive sequence (item ids, oldest first) of every
    user outside the test and validation splits (the training users included), for pre-training a
    user encoder on next item; `n_items` the catalogue's size."""

    train: list[QARequest]
    train_answers: np.ndarray
    valid: list[QARequest]
    valid_answers: np.ndarray
    sequences: list[tuple[int, ...]]
    n_items: int = 0
    train_subtasks: list[str] = field(default_factory=list)
    valid_subtasks: list[str] = field(default_factory=list)


FitData = CTRFitData | SeqFitData | QAFitData


def candidate_matrix(requests: list[RankRequest]) -> np.ndarray | None:
    """The requests' candidates stacked into an (n, n_candidates) int64 array, or None when every
    request ranks the whole catalogue."""
    full = {r.candidates is None for r in requests}
    if len(full) > 1:
        raise ModelError("rank requests in one call must all rank the whole catalogue or all give candidates")
    if not requests or requests[0].candidates is None:
        return None
    lengths = {len(r.candidates) for r in requests}
    if len(lengths) > 1:
        raise ModelError(f"rank requests in one call must share the number of candidates, got {sorted(lengths)}")
    return np.stack([np.asarray(r.candidates, dtype=np.int64) for r in requests])


class Model:
    """Base class of every model wrapper."""

    meta: ClassVar[ModelMeta]
    batch_size: int = 256
    device: Any = "cpu"  # where it computes; recorded with its efficiency figures
    # task name → {"name", "version", "text"}: the tasks' prompt templates, set by the runner
    # before setup() for models of a prompted paradigm (the runner assigns a fresh dict).
    prompts: dict[str, dict[str, Any]] = {}

    @classmethod
    def meta_for(cls, args: dict[str, Any]) -> ModelMeta:
        """The metadata of this model when built with `args` (the plan's). Override it where an
        argument changes what the model is, such as its item representation or its engine; the
        result and the leaderboard row then say so. Must not fail on arguments __init__ rejects."""
        return cls.meta

    def __init__(self, **kwargs: Any) -> None:
        if kwargs:
            raise TypeError(f"{type(self).__name__} takes no arguments {sorted(kwargs)}")

    def setup(self, catalogue: Catalogue, seed: int) -> None:
        self.catalogue = catalogue
        self.seed = seed

    def fit(self, data: FitData) -> None:
        raise ModelError(f"{self.meta.name} is {self.meta.scheme} and cannot be fitted")

    def score(self, requests: list[ScoreRequest]) -> np.ndarray:
        raise ModelError(f"{self.meta.name} does not support score (CTR) requests")

    def rank(self, requests: list[RankRequest]) -> np.ndarray | TopK:
        """Either dense scores, shape (len(requests), n_candidates), or a `TopK`: per request its
        best K item ids (catalogue ids, drawn from the request's candidates when it has them) with
        descending scores, everything unlisted tied below them. All requests in one call share the
        candidate mode (all None, or all the same number of candidates)."""
        raise ModelError(f"{self.meta.name} does not support rank (next-item) requests")

    def answer(self, requests: list[QARequest]) -> np.ndarray | list[int]:
        """Either the index of the option picked for each request, shape (len(requests),)
        (benchmark.qa.NO_ANSWER, -1, for none: a generating model resolves its text with
        `benchmark.qa.resolve_option`), or scores, shape (len(requests), n_options), column j
        scoring option j, the highest picked (ties count as their expectation under random
        tie-breaking; -inf rules an option out). Scores need every request of the call to have the
        same number of options, which the task's protocol guarantees."""
        raise ModelError(f"{self.meta.name} does not support answer (QA) requests")

    def reset_caches(self) -> None:
        """Drop whatever the model caches across calls (prefix or KV caches, memoised answers).
        The runner calls it before each timed latency request, so latency is measured cold;
        models that cache nothing across calls keep this no-op."""

    def num_parameters(self) -> int | None:
        """Trainable plus frozen parameter count, once set up (None when it does not apply)."""
        return None

    def extra_stats(self) -> dict[str, Any]:
        """Model-specific efficiency figures (token counts for LLMs, say), recorded in the result."""
        return {}
