"""What an item tokenizer is: its kind and the few numbers that shape its codes, checked.

Kinds:
- ``unique-id``: one new token per item, ``<item_123>`` (P5 / RecBench groups D and I);
- ``number-id``: the item id spelled in decimal digits, read by the LLM's own tokenizer, no new
  tokens (P5's sequential indexing, the cheap baseline);
- ``sid-rqvae``: a semantic ID, ``levels`` codes from an RQ-VAE trained on the items' MiniLM text
  embeddings (TIGER's pipeline, RecBench groups F, H, J), plus one level that makes every code
  unique;
- ``sid-rqkmeans``: the same shape from residual k-means on the embeddings (no network).

RecBench (Section 5, "Semantic Identifier Generation") uses 4 codebook levels of 256 codes each,
so those are the defaults; the disambiguation level comes on top (TIGER's extra code).
A codebook never has more entries than the catalogue has items: ``codebook_size`` is cut to
``n_items`` when the catalogue is smaller (each level's k-means, or the RQ-VAE's k-means
initialisation, needs at least one point per code), and the report records both sizes.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any

KINDS = ("unique-id", "number-id", "sid-rqvae", "sid-rqkmeans")
SID_KINDS = ("sid-rqvae", "sid-rqkmeans")
MAX_LEVELS = 25  # level tokens are lettered a..y, the disambiguation level one letter on
SID_FIELDS = ("levels", "codebook_size", "seed")
RQVAE_FIELDS = ("latent_dim", "hidden", "epochs", "batch_size", "lr", "beta")


@dataclass(frozen=True)
class TokenizerConfig:
    """An item tokenizer's settings. Only the fields its kind uses count (see `to_dict`): the
    semantic-ID kinds use levels, codebook_size and seed; the RQ-VAE also its network and
    training (encoder widths `hidden`, latent size, full passes over the catalogue `epochs`,
    mini-batch size, Adam learning rate, commitment weight `beta`, TIGER's 0.25)."""

    kind: str
    levels: int = 4
    codebook_size: int = 256
    seed: int = 0
    latent_dim: int = 32
    hidden: tuple[int, ...] = (512, 256, 128)
    epochs: int = 200
    batch_size: int = 256
    lr: float = 1e-3
    beta: float = 0.25

    def __post_init__(self) -> None:
        object.__setattr__(self, "hidden", tuple(self.hidden) if isinstance(self.hidden, (list, tuple)) else self.hidden)
        problems = config_problems(self)
        if problems:
            raise ValueError(f"item tokenizer {self.kind!r}: " + "; ".join(problems))

    @classmethod
    def parse(cls, value: "str | dict[str, Any] | TokenizerConfig") -> "TokenizerConfig":
        """A config from itself, a kind name, or a dict with "kind" (as plans and results hold it)."""
        if isinstance(value, TokenizerConfig):
            return value
        if isinstance(value, str):
            return cls(kind=value)
        if isinstance(value, dict):
            if "kind" not in value:
                raise ValueError(f"item tokenizer config {value!r} has no 'kind'; expected one of {list(KINDS)}")
            known = {f.name for f in dataclasses.fields(cls)}
            unknown = sorted(set(value) - known)
            if unknown:
                raise ValueError(f"item tokenizer {value['kind']!r}: unknown settings {unknown}; "
                                 f"known: {sorted(known)}")
            return cls(**value)
        raise ValueError(f"an item tokenizer is a kind name, a dict or a TokenizerConfig, got {type(value).__name__}")

    @property
    def is_semantic(self) -> bool:
        return self.kind in SID_KINDS

    def to_dict(self) -> dict[str, Any]:
        """The settings that shape this kind's codes (what results record and the cache keys on)."""
        out: dict[str, Any] = {"kind": self.kind}
        if self.is_semantic:
            out.update({f: getattr(self, f) for f in SID_FIELDS})
        if self.kind == "sid-rqvae":
            out.update({f: getattr(self, f) for f in RQVAE_FIELDS})
            out["hidden"] = list(self.hidden)
        return out


def _int_problem(name: str, value: Any, lo: int, hi: int | None = None) -> str | None:
    if not isinstance(value, Integral) or isinstance(value, bool) or value < lo or (hi is not None and value > hi):
        span = f"an integer >= {lo}" if hi is None else f"an integer in {lo}..{hi}"
        return f"{name} must be {span}, got {value!r}"
    return None


def config_problems(config: TokenizerConfig) -> list[str]:
    if config.kind not in KINDS:
        return [f"kind must be one of {list(KINDS)}"]
    problems = [
        _int_problem("levels", config.levels, 1, MAX_LEVELS),
        _int_problem("codebook_size", config.codebook_size, 2),
        _int_problem("seed", config.seed, 0),
        _int_problem("latent_dim", config.latent_dim, 1),
        _int_problem("epochs", config.epochs, 1),
        _int_problem("batch_size", config.batch_size, 1),
    ]
    hidden = config.hidden
    if not isinstance(hidden, tuple) or any(_int_problem("", h, 1) for h in hidden):
        problems.append(f"hidden must be a list of positive integers, got {hidden!r}")
    for name in ("lr", "beta"):
        value = getattr(config, name)
        if not isinstance(value, Real) or isinstance(value, bool) or not value > 0 or value == float("inf"):
            problems.append(f"{name} must be a finite number > 0, got {value!r}")
    return [p for p in problems if p]
