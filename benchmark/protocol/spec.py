"""The frozen, versioned protocol spec. Every number of recboard-v1 is a field here, so a smaller
embedded default is the same protocol with other caps, and its fields are recorded in results."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

PROTOCOL_NAME = "recboard-v1"
CANDIDATE_MODES = ("full", "sampled-100")


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
        """The fields that shape a task's data (latency sampling excluded)."""
        prefix = {"ctr": "ctr_", "seqrec": "seq_"}[task]
        return {k: v for k, v in asdict(self).items()
                if k.startswith(prefix) or k in ("name", "data_seed", "window", "dedupe_repeats", "positive_rating")}

    def hash(self, task: str) -> str:
        return stable_hash(self.data_fields(task))


def stable_hash(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]
