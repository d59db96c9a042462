"""An LLM's vocabulary extended with item tokens: what llm-id and llm-sid (models/llm/
item_token_model.py) read and write instead of titles.

`add_item_tokens(backend, codes, titles)` takes an item tokenizer's codes (benchmark.itemtok)
and the HF engine whose model will learn them, and returns an `ItemVocabulary`:

- unique IDs and semantic IDs: every token of `codes.new_tokens()` is added to the tokenizer
  (``<item_12>``; ``<a_3>``, ``<b_17>``, ... one letter per level) and the embedding matrix
  grows to hold them. A new token's row starts as the mean, over the items whose code uses it,
  of each item's title embedding (the mean of its title tokens' rows): for a unique ID exactly
  its title's mean (P5 / RecBench), for a semantic-ID code the centroid of its items; a code no
  item uses starts at the mean over every item. Input and output rows are set alike, each from
  its own matrix, so an untied LM head starts from the same titles. Item i's answer is its
  tokens' ids;
- plain numbers: no new token; item i is its decimal digits as the LLM's own tokenizer splits
  them, and its answer ends with an end token (the token a prompt puts after an item, or the
  end-of-sequence token), so that "12" is not a prefix of "123" (the prefix trie needs
  prefix-free sequences).

The prompt shows item i as `texts[i]`; the engine scores and generates `sequences[i]`, and the
trie of every item's sequence constrains generation to real items. Setting the rows is a
deterministic function of the model, the codes and the titles, so a cached adapter (which holds
the trained rows) loaded onto a freshly extended model gives the same model again.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch

from benchmark.api import ModelError
from benchmark.itemtok import ItemCodes, PrefixTrie

INIT = "title-mean"  # how new rows start, recorded with the adapter


@dataclass(frozen=True, eq=False)
class ItemVocabulary:
    """Item tokens as one LLM sees them. `texts[i]`: item i in a prompt; `sequences[i]`: the
    token ids that answer item i; `new_token_ids`: the ids the new tokens got, in
    `codes.new_tokens()` order (empty for plain numbers); `end_token`: the id closing every
    answer, or None; `trie`: the prefix trie over every item's answer."""

    codes: ItemCodes
    texts: tuple[str, ...]
    sequences: tuple[tuple[int, ...], ...]
    new_token_ids: tuple[int, ...]
    end_token: int | None
    trie: PrefixTrie

    def answers(self, items: Sequence[int]) -> list[tuple[int, ...]]:
        return [self.sequences[int(i)] for i in items]

    @property
    def digest(self) -> str:
        """sha256 of the codes and every item's token ids: what an adapter's cache key holds."""
        h = hashlib.sha256()
        for array in (self.codes.codes, self.codes.lengths, np.asarray(self.codes.level_sizes)):
            h.update(np.ascontiguousarray(array, dtype=np.int64).tobytes())
        for seq in self.sequences:
            h.update(np.asarray(seq + (-1,), dtype=np.int64).tobytes())
        return h.hexdigest()

    def to_dict(self) -> dict[str, Any]:
        """What a result records: the tokenizer's config and report, the token counts."""
        return {**self.codes.to_dict(), "new_tokens": len(self.new_token_ids), "init": INIT,
                "answer_tokens": int(max(map(len, self.sequences))), "end_token": self.end_token,
                "trie_nodes": self.trie.n_nodes, "codes_sha256": self.digest}


def add_item_tokens(backend: Any, codes: ItemCodes, titles: Sequence[str],
                    number_end: int | None = None) -> ItemVocabulary:
    """Extend the HF engine `backend` (its tokenizer and model, in place) with `codes`' item
    tokens, their rows initialised from `titles` (see the module docstring). Plain numbers add
    no token; each item's answer is its digits closed by `number_end` (default: the
    end-of-sequence token)."""
    if len(titles) != codes.n_items:
        raise ModelError(f"item tokens: {len(titles)} titles for {codes.n_items} items")
    tokenizer = backend.tokenizer
    texts = tuple(codes.item_text(i) for i in range(codes.n_items))
    new = codes.new_tokens()
    if not new:  # plain numbers: the LLM's own digits, closed by the end token
        end = tokenizer.eos_token_id if number_end is None else number_end
        if end is None:
            raise ModelError(f"item tokens {codes.kind!r}: the tokenizer has no end-of-sequence token to close "
                             "each item's number with")
        sequences = tuple(tuple(backend.tokenize(text)) + (int(end),) for text in texts)
        if any(end in seq[:-1] for seq in sequences):
            raise ModelError(f"item tokens {codes.kind!r}: an item's digits encode to its end token {end}")
        return ItemVocabulary(codes, texts, sequences, (), int(end), PrefixTrie.from_lists(sequences))
    taken = sorted(set(new) & set(tokenizer.get_vocab()))
    if taken:
        raise ModelError(f"item tokens {codes.kind!r}: the tokenizer already has tokens such as {taken[:3]}; "
                         "item tokens must be new")
    tokenizer.add_tokens(new)
    ids = np.asarray(tokenizer.convert_tokens_to_ids(new), dtype=np.int64)
    model = backend.model
    rows = model.get_input_embeddings().weight.shape[0]
    if int(ids.max()) >= rows:
        model.resize_token_embeddings(int(ids.max()) + 1, mean_resizing=False)
    vocabulary_ids = codes.vocabulary_ids(ids)
    sequences = tuple(tuple(int(t) for t in row[:n]) for row, n in zip(vocabulary_ids, codes.lengths))
    for i in range(codes.n_items):  # the prompt's text must read back as exactly the answer's tokens
        if tuple(backend.tokenize(texts[i])) != sequences[i]:
            raise ModelError(f"item tokens {codes.kind!r}: item {i}'s text {texts[i]!r} tokenizes to "
                             f"{backend.tokenize(texts[i])}, not to its tokens {list(sequences[i])}")
    title_ids = [backend.tokenize(t) or [int(tokenizer.unk_token_id or 0)] for t in titles]
    _init_rows(model, ids, codes, title_ids)
    return ItemVocabulary(codes, texts, sequences, tuple(int(i) for i in ids), None, PrefixTrie.from_lists(sequences))


def title_means(weight: torch.Tensor, title_ids: Sequence[Sequence[int]]) -> torch.Tensor:
    """(n_items, d) float32: the mean of each title's token rows of `weight`."""
    flat = torch.tensor([t for ids in title_ids for t in ids], dtype=torch.long, device=weight.device)
    offsets = torch.tensor(np.cumsum([0] + [len(ids) for ids in title_ids[:-1]]), dtype=torch.long,
                           device=weight.device)
    return torch.nn.functional.embedding_bag(flat, weight.float(), offsets, mode="mean")


def code_means(item_means: torch.Tensor, codes: ItemCodes) -> torch.Tensor:
    """(vocab_size, d): per new token (ItemCodes.token_ids numbering), the mean of the item
    means of the items whose code uses it; the mean of all items for a token no item uses."""
    token_ids = torch.as_tensor(codes.token_ids(), device=item_means.device)
    used = token_ids >= 0
    item = torch.arange(codes.n_items, device=item_means.device).unsqueeze(1).expand_as(token_ids)[used]
    sums = torch.zeros(codes.vocab_size, item_means.shape[1], device=item_means.device)
    sums.index_add_(0, token_ids[used], item_means[item])
    counts = torch.bincount(token_ids[used], minlength=codes.vocab_size).unsqueeze(1).float()
    return torch.where(counts > 0, sums / counts.clamp(min=1), item_means.mean(dim=0, keepdim=True))


@torch.no_grad()
def _init_rows(model: Any, ids: np.ndarray, codes: ItemCodes, title_ids: Sequence[Sequence[int]]) -> None:
    matrices = [model.get_input_embeddings().weight]
    output = model.get_output_embeddings()
    if output is not None and output.weight is not matrices[0]:
        matrices.append(output.weight)
    index = torch.as_tensor(ids, device=matrices[0].device)
    for weight in matrices:
        rows = code_means(title_means(weight, title_ids), codes)
        weight[index] = rows.to(weight.dtype)


def trainable_rows(model: Any, ids: Sequence[int]) -> list[int] | dict[str, list[int]]:
    """peft's trainable_token_indices for rows `ids`: the input embedding's (and with it a tied
    LM head), or with an untied LM head both modules by name."""
    ids = [int(i) for i in ids]
    output = model.get_output_embeddings()
    if output is None or output.weight is model.get_input_embeddings().weight:
        return ids
    names = {id(m): n.rsplit(".", 1)[-1] for n, m in model.named_modules()}
    return {names[id(model.get_input_embeddings())]: ids, names[id(output)]: ids}


def merge_token_rows(model: Any) -> int:
    """Write the trained rows of a served peft adapter (its TrainableTokensLayers) into the
    embedding matrices, so that a forward pass reads them from there instead of copying the
    whole matrix with the rows replaced, as peft does on every call otherwise. Exact: the rows
    replace the base rows, they are not added to them. Returns the layers merged."""
    from peft.tuners.trainable_tokens import TrainableTokensLayer

    layers = [m for m in model.modules() if isinstance(m, TrainableTokensLayer) and not m.merged]
    for layer in layers:
        layer.merge()
    return len(layers)
