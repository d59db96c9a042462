"""The frozen, versioned protocol spec. Every number of recboard-v1 is a field here, so a smaller
embedded default is the same protocol with other caps, and its fields are recorded in results."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

PROTOCOL_NAME = "recboard-v1"
CANDIDATE_MODES = ("full", "sampled-100")
TASK_FIELD_PREFIX = {"ctr": "ctr_", "seqrec": "seq_", "uqa": "uqa_"}


class ProtocolError(ValueError):
    pass


@dataclass(frozen=True)
class ProtocolSpec:
    name: str = PROTOCOL_NAME
    data_seed: int = 0  # shuffles users and draws negatives; model seeds are separate
    window: int = 20  # history length, every paradigm alike
    dedupe_repeats: bool = True  # one interaction per user and item (rule in build.py)
    positive_rating: float | None = None  # with ratings: rating >= this is positive, below a real negative
    # CTR (pair-wise)
    ctr_positives_per_user: int = 10
    ctr_negative_ratio: int = 2
    ctr_test_rows: int = 20_000
    ctr_finetune_rows: int = 100_000
    ctr_max_test_user_fraction: float = 0.2  # small data still leaves users to fine-tune on
    ctr_valid_user_fraction: float = 0.1
    # Next item (list-wise), leave-one-out
    seq_min_interactions: int = 3  # train prefix, validation item, test item
    seq_test_users: int = 5_000
    seq_finetune_sequences: int = 40_000
    seq_valid_users: int = 5_000
    seq_sampled_negatives: int = 100
    # Personalized QA (UQABench sub-tasks; tasks/uqa.py, benchmark/protocol/uqa.py)
    uqa_min_history: int = 10  # history items a user needs (before the held-out next item)
    uqa_history_window: int = 50  # the most history a QA request carries (text models show 20 or 50)
    uqa_test_users: int = 1_000
    uqa_valid_users: int = 200
    uqa_train_users: int = 5_000
    uqa_encoder_users: int = 50_000  # users outside QA test and validation whose sequences pre-train encoders
    uqa_questions_per_user: int = 7
    uqa_options: int = 4  # candidate options per question, the answer among them
    uqa_recent: int = 5  # the last interactions that make "recent" (short-term interest, trajectory)
    # Latency sampling (fixed across models)
    latency_sample: int = 1_000
    latency_warmup: int = 10

    def __post_init__(self) -> None:
        if self.name != PROTOCOL_NAME:
            raise ProtocolError(f"unknown protocol {self.name!r}; this harness implements {PROTOCOL_NAME!r}")
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name in ("name", "positive_rating", "dedupe_repeats"):
                continue
            whole = isinstance(f.default, int)
            if not isinstance(v, int if whole else (int, float)) or isinstance(v, bool) or v < 0:
                kind = "integer" if whole else "number"
                raise ProtocolError(f"protocol field {f.name} must be a non-negative {kind}, got {v!r}")
        if self.window < 1 or self.ctr_negative_ratio < 1 or self.seq_min_interactions < 3:
            raise ProtocolError("window and ctr_negative_ratio must be ≥ 1 and seq_min_interactions ≥ 3")
        if not 0 < self.ctr_max_test_user_fraction < 1 or not 0 < self.ctr_valid_user_fraction < 1:
            raise ProtocolError("user fractions must lie strictly between 0 and 1")
        if self.uqa_options < 2 or self.uqa_questions_per_user < 1 or self.uqa_test_users < 1:
            raise ProtocolError("uqa_options must be ≥ 2, uqa_questions_per_user and uqa_test_users ≥ 1")
        if not 1 <= self.uqa_recent < self.uqa_min_history <= self.uqa_history_window:
            raise ProtocolError("need 1 ≤ uqa_recent < uqa_min_history ≤ uqa_history_window, got "
                                f"{self.uqa_recent}, {self.uqa_min_history}, {self.uqa_history_window}")

    @classmethod
    def from_overrides(cls, overrides: dict[str, Any] | None) -> "ProtocolSpec":
        overrides = dict(overrides or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise ProtocolError(f"unknown protocol fields {unknown}; known: {sorted(known)}")
        return replace(cls(), **overrides)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def data_fields(self, task: str) -> dict[str, Any]:
        """The fields that shape a task's data (latency sampling excluded): its own prefixed fields
        and the shared ones it uses (QA has its own history window, so `window` is not among its
        fields). A field of another task never enters a task's hash."""
        prefix = TASK_FIELD_PREFIX[task]
        shared = ("name", "data_seed", "dedupe_repeats", "positive_rating") + (("window",) if task != "uqa" else ())
        return {k: v for k, v in asdict(self).items() if k.startswith(prefix) or k in shared}

    def hash(self, task: str) -> str:
        return stable_hash(self.data_fields(task))


def stable_hash(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]
