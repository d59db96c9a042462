"""Every item's code sequence, the token strings an LLM sees for it, and the inverse lookup; plus
the figures the tokenizer report is made of (utilisation, collisions, disambiguation).

Codes are level-local: level l's codes run 0..level_sizes[l]-1. Two numberings of tokens sit on
top of them:
- token strings, what an LLM adds to its vocabulary: ``<item_123>`` (unique ID), ``<a_12>``,
  ``<b_3>``, ... one letter per level (semantic ID; the disambiguation level is the letter after
  the last codebook level), or the digits themselves (number ID, no new tokens);
- token ids, what a model trained from scratch (TIGER) embeds: level l's code c is
  ``c + sum(level_sizes[:l])``, one shared vocabulary of ``vocab_size`` ids.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Sequence

import numpy as np

from benchmark.itemtok.config import KINDS

LETTERS = "abcdefghijklmnopqrstuvwxyz"
PAD = -1  # a code slot past an item's length


def utilisation(codes: np.ndarray, level_sizes: Sequence[int]) -> list[float]:
    """Per level, the share of its codebook that at least one item uses (padding ignored)."""
    codes = np.asarray(codes)
    return [float(np.unique(col[col >= 0]).size / size) for col, size in zip(codes.T, level_sizes)]


def collisions(codes: np.ndarray) -> dict[str, float | int]:
    """How far the rows of `codes` are from identifying items: `collision_rate`, the share of
    items whose code another item shares; `distinct_codes`; `max_collision_group`, the most items
    on one code (1 when every code is unique)."""
    _, inverse, counts = np.unique(codes, axis=0, return_inverse=True, return_counts=True)
    shared = counts[inverse.reshape(-1)] > 1
    return {"collision_rate": float(shared.mean()) if len(codes) else 0.0, "distinct_codes": int(counts.size),
            "max_collision_group": int(counts.max(initial=1))}


def disambiguate(codes: np.ndarray) -> tuple[np.ndarray, int]:
    """`codes` with one more column that tells apart items sharing a row: 0, 1, 2, ... in item
    order within each group of equal rows (TIGER's extra code), and that level's size (the
    largest group)."""
    _, inverse = np.unique(codes, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    order = np.argsort(inverse, kind="stable")
    grouped = inverse[order]
    starts = np.flatnonzero(np.r_[True, grouped[1:] != grouped[:-1]])
    first = np.repeat(starts, np.diff(np.r_[starts, len(grouped)]))
    rank = np.empty(len(codes), dtype=np.int64)
    rank[order] = np.arange(len(codes)) - first
    return np.column_stack([codes, rank]), int(rank.max(initial=0)) + 1


@dataclass(frozen=True, eq=False)
class ItemCodes:
    """One tokenizer's answer for a whole catalogue.

    codes: (n_items, L) int64, item i's codes in codes[i, :lengths[i]], PAD after;
    lengths: (n_items,) int64 (all L except for number IDs, whose digit counts vary);
    level_sizes: codebook size per level (the disambiguation level included);
    config: the tokenizer config's `to_dict()`; report: figures about the codes (see build.py).
    """

    kind: str
    codes: np.ndarray
    lengths: np.ndarray
    level_sizes: tuple[int, ...]
    config: dict[str, Any] = field(default_factory=dict)
    report: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        where = f"ItemCodes({self.kind!r})"
        if self.kind not in KINDS:
            raise ValueError(f"{where}: kind must be one of {list(KINDS)}")
        codes, lengths = np.asarray(self.codes), np.asarray(self.lengths)
        if codes.ndim != 2 or lengths.shape != (codes.shape[0],) or len(self.level_sizes) != codes.shape[1]:
            raise ValueError(f"{where}: codes {codes.shape}, lengths {lengths.shape} and "
                             f"{len(self.level_sizes)} level sizes do not fit together")
        if codes.size and (lengths.min() < 1 or lengths.max() > codes.shape[1]):
            raise ValueError(f"{where}: every length must be in 1..{codes.shape[1]}")
        live = np.arange(codes.shape[1]) < lengths[:, None]
        sizes = np.broadcast_to(np.asarray(self.level_sizes, dtype=np.int64), codes.shape)
        if ((codes < 0) & live).any() or (codes >= sizes).any() or (codes[~live] != PAD).any():
            raise ValueError(f"{where}: codes must lie in 0..level_size-1 within each item's length, {PAD} after")
        object.__setattr__(self, "codes", codes.astype(np.int64, copy=False))
        object.__setattr__(self, "lengths", lengths.astype(np.int64, copy=False))
        object.__setattr__(self, "level_sizes", tuple(int(s) for s in self.level_sizes))

    @property
    def n_items(self) -> int:
        return len(self.codes)

    @property
    def vocab_size(self) -> int:
        """Token ids run 0..vocab_size-1 (see `token_ids`)."""
        return int(sum(self.level_sizes))

    @property
    def level_offsets(self) -> np.ndarray:
        """The first token id of each level."""
        return np.concatenate([[0], np.cumsum(self.level_sizes)[:-1]]).astype(np.int64)

    def _token(self, level: int, code: int) -> str:
        if self.kind == "unique-id":
            return f"<item_{code}>"
        if self.kind == "number-id":
            return str(code)
        return f"<{LETTERS[level]}_{code}>"

    def token_strings(self, item: int) -> list[str]:
        """The tokens that stand for `item` in an LLM's input or output, in order."""
        if not 0 <= item < self.n_items:
            raise ValueError(f"ItemCodes({self.kind!r}): item {item} is outside the catalogue 0..{self.n_items - 1}")
        return [self._token(level, int(c)) for level, c in enumerate(self.codes[item, : self.lengths[item]])]

    def item_text(self, item: int) -> str:
        """The tokens of `item` as one string (digits joined into the number for number IDs)."""
        return "".join(self.token_strings(item))

    def new_tokens(self) -> list[str]:
        """Every token string to add to an LLM's vocabulary, each level's whole codebook (used or
        not, so the vocabulary has RecBench's size), in token-id order; none for number IDs."""
        if self.kind == "number-id":
            return []
        if self.kind == "unique-id":
            return [self._token(0, i) for i in range(self.n_items)]
        return [self._token(level, c) for level, size in enumerate(self.level_sizes) for c in range(size)]

    def token_ids(self) -> np.ndarray:
        """(n_items, L) int64: codes shifted into one shared vocabulary (level l starts at
        level_offsets[l]), PAD kept."""
        return np.where(self.codes >= 0, self.codes + self.level_offsets, PAD)

    def vocabulary_ids(self, new_token_ids: Sequence[int]) -> np.ndarray:
        """(n_items, L) int64: each item's tokens as ids of a vocabulary the `new_tokens()` were
        added to, given the ids it gave them (in new_tokens() order; e.g. an HF tokenizer's
        `convert_tokens_to_ids(codes.new_tokens())`); PAD kept. Number IDs add no tokens: their
        ids are the LLM tokenizer's own for `item_text(item)`."""
        if self.kind == "number-id":
            raise ValueError("ItemCodes('number-id'): number IDs add no tokens; tokenize item_text(item) instead")
        ids = np.asarray(new_token_ids, dtype=np.int64)
        if ids.shape != (self.vocab_size,) or (ids < 0).any():
            raise ValueError(f"ItemCodes({self.kind!r}): need one id >= 0 per new token ({self.vocab_size}), "
                             f"got shape {ids.shape}")
        token_ids = self.token_ids()
        return np.where(token_ids >= 0, ids[np.maximum(token_ids, 0)], PAD)

    @cached_property
    def _lookup(self) -> dict[tuple[int, ...], int]:
        table = {tuple(row[:n].tolist()): i for i, (row, n) in enumerate(zip(self.codes, self.lengths))}
        if len(table) != self.n_items:
            raise ValueError(f"ItemCodes({self.kind!r}): two items share a code sequence, so codes cannot name items")
        return table

    def item_of(self, code: Sequence[int]) -> int:
        """The item whose (level-local) code sequence is `code`; ValueError when no item has it."""
        key = tuple(int(c) for c in code)
        try:
            return self._lookup[key]
        except KeyError:
            raise ValueError(f"ItemCodes({self.kind!r}): no item has the code {list(key)}") from None

    def trie(self, end_token: int | None = None):
        """The prefix trie over every item's token ids (see benchmark.itemtok.trie); `end_token`
        closes each sequence, for codes where one item's code is a prefix of another's."""
        from benchmark.itemtok.trie import PrefixTrie

        return PrefixTrie.build(self.token_ids(), self.lengths, end_token=end_token)

    def to_dict(self) -> dict[str, Any]:
        """What a result records about the tokenizer (its settings and its report)."""
        return {"kind": self.kind, "config": dict(self.config), "n_items": self.n_items,
                "level_sizes": list(self.level_sizes), "report": dict(self.report)}
