"""The PrefixTrie as a transformers LogitsProcessor, for constrained `model.generate` (greedy,
sampling or HF's own beam search): at every step each row may only continue along the trie, and
a row that completed an item (or left the trie) may only emit the end-of-sequence token."""

from __future__ import annotations

import torch
from transformers import LogitsProcessor

from benchmark.itemtok.trie import PrefixTrie


class TrieLogitsProcessor(LogitsProcessor):
    """`prompt_length`: the width of the (left-padded) prompt batch handed to generate, so the
    generated tokens of row r are input_ids[r, prompt_length:]. `eos_token_id`: the token that
    ends a finished row; it must not be one of the trie's tokens."""

    def __init__(self, trie: PrefixTrie, prompt_length: int, eos_token_id: int):
        if not isinstance(trie, PrefixTrie):
            raise ValueError(f"TrieLogitsProcessor: trie must be a PrefixTrie, got {type(trie).__name__}")
        if prompt_length < 0:
            raise ValueError(f"TrieLogitsProcessor: prompt_length must be >= 0, got {prompt_length}")
        if 0 <= eos_token_id < trie.vocab_size and bool((trie.child_token == eos_token_id).any()):
            raise ValueError(f"TrieLogitsProcessor: eos_token_id {eos_token_id} is also a trie token")
        self.trie, self.prompt_length, self.eos_token_id = trie, prompt_length, eos_token_id

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        states = self.trie.walk(input_ids[:, self.prompt_length:])
        allowed = self.trie.allowed(states, scores.shape[1])
        ended = ~allowed.any(dim=1)  # a leaf, or off the trie: only the end token
        allowed[ended, self.eos_token_id] = True
        return scores.masked_fill(~allowed, float("-inf"))
