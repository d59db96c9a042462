"""A prefix trie over token sequences, stored as arrays (CSR), for exact constrained decoding.

Nodes are numbered breadth-first: the root is 0, then every depth-1 node in token order, then
every depth-2 node ordered by (parent, token), and so on. The children of node n occupy the
slots offsets[n]:offsets[n+1] of `child_token` / `child_node`, sorted by token; breadth-first
numbering makes `child_node[s] == s + 1`. A leaf (a node without children) ends one sequence,
and `node_item` names that sequence's item (-1 at inner nodes). Sequences must be prefix-free
(no sequence is a proper prefix of another) and distinct, so every leaf is exactly one item; a
code system whose sequences nest (plain numbers: "1" and "12") closes each with an `end_token`.

`build` is vectorised numpy (one lexicographic sort, then one pass per depth); the decoding
operations take torch tensors of node states (-1: a state that left the trie) and run on
whatever device the states are on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

ROOT = 0
DEAD = -1  # the state of a sequence that left the trie


@dataclass(frozen=True, eq=False)
class PrefixTrie:
    offsets: np.ndarray  # (n_nodes + 1,) int64
    child_token: np.ndarray  # (n_nodes - 1,) int64, sorted by token within each node's slots
    child_node: np.ndarray  # (n_nodes - 1,) int64
    node_item: np.ndarray  # (n_nodes,) int64, the item at a leaf, -1 elsewhere
    node_depth: np.ndarray  # (n_nodes,) int64
    vocab_size: int  # every token is below it

    @classmethod
    def build(cls, codes: np.ndarray, lengths: np.ndarray | None = None, items: np.ndarray | None = None,
              end_token: int | None = None) -> "PrefixTrie":
        """The trie of the rows of `codes` (N, L), non-negative token ids, row i's sequence being
        codes[i, :lengths[i]] (whole rows without `lengths`; the rest of a row is ignored). Row i
        is item `items[i]` (default i). With `end_token`, it is appended to every sequence."""
        codes = np.asarray(codes)
        if codes.ndim != 2 or codes.shape[0] == 0 or codes.shape[1] == 0:
            raise ValueError(f"PrefixTrie.build: codes must be a non-empty (N, L) array, got shape {codes.shape}")
        if not np.issubdtype(codes.dtype, np.integer):
            raise ValueError(f"PrefixTrie.build: codes must be integer token ids, got dtype {codes.dtype}")
        n, width = codes.shape
        lengths = np.full(n, width, dtype=np.int64) if lengths is None else np.asarray(lengths, dtype=np.int64)
        items = np.arange(n, dtype=np.int64) if items is None else np.asarray(items, dtype=np.int64)
        if lengths.shape != (n,) or items.shape != (n,):
            raise ValueError(f"PrefixTrie.build: need one length and one item per row ({n}), "
                             f"got {lengths.shape} and {items.shape}")
        if lengths.min() < 1 or lengths.max() > width:
            raise ValueError(f"PrefixTrie.build: lengths must lie in 1..{width}, got {lengths.min()}..{lengths.max()}")
        live = np.arange(width) < lengths[:, None]
        seqs = np.where(live, codes, DEAD).astype(np.int64)
        if (seqs[live] < 0).any():
            raise ValueError("PrefixTrie.build: token ids must be >= 0 within each row's length")
        if end_token is not None:
            if end_token < 0:
                raise ValueError(f"PrefixTrie.build: end_token must be >= 0, got {end_token}")
            seqs = np.column_stack([seqs, np.full(n, DEAD)])
            seqs[np.arange(n), lengths] = end_token
            lengths = lengths + 1
            width += 1
            live = np.arange(width) < lengths[:, None]
        return cls._from_sequences(seqs, lengths, live, items)

    @classmethod
    def from_lists(cls, sequences: Sequence[Sequence[int]], items: Sequence[int] | None = None,
                   end_token: int | None = None) -> "PrefixTrie":
        """The trie of ragged token lists (e.g. an LLM tokenizer's ids of each item's text)."""
        if not sequences or any(len(s) == 0 for s in sequences):
            raise ValueError("PrefixTrie.from_lists: need at least one sequence, and no empty one")
        lengths = np.array([len(s) for s in sequences], dtype=np.int64)
        codes = np.full((len(sequences), int(lengths.max())), DEAD, dtype=np.int64)
        for row, seq in enumerate(sequences):
            codes[row, : len(seq)] = seq
        return cls.build(codes, lengths, None if items is None else np.asarray(items), end_token)

    @classmethod
    def _from_sequences(cls, seqs: np.ndarray, lengths: np.ndarray, live: np.ndarray, items: np.ndarray,
                        ) -> "PrefixTrie":
        n, width = seqs.shape
        order = np.lexsort(seqs.T[::-1])
        seqs, lengths, live, items = seqs[order], lengths[order], live[order], items[order]
        differs = np.ones((n, width), dtype=bool)
        differs[1:] = seqs[1:] != seqs[:-1]
        starts_node = np.logical_or.accumulate(differs, axis=1) & live  # row i opens a node at depth d+1
        node = np.full((n, width), DEAD, dtype=np.int64)
        tokens, parents, depths, first = [], [], [], 1
        for d in range(width):
            opened = starts_node[:, d]
            count = int(opened.sum())
            node[live[:, d], d] = (first - 1 + np.cumsum(opened))[live[:, d]]
            rows = np.flatnonzero(opened)
            tokens.append(seqs[rows, d])
            parents.append(np.zeros(count, dtype=np.int64) if d == 0 else node[rows, d - 1])
            depths.append(np.full(count, d + 1, dtype=np.int64))
            first += count
        n_nodes = first
        parent = np.concatenate(parents)
        offsets = np.zeros(n_nodes + 1, dtype=np.int64)
        offsets[1:] = np.cumsum(np.bincount(parent, minlength=n_nodes))
        leaf = node[np.arange(n), lengths - 1]
        same = np.flatnonzero(leaf[1:] == leaf[:-1])
        if same.size:
            a, b = items[same[0]], items[same[0] + 1]
            raise ValueError(f"PrefixTrie: items {a} and {b} have the same sequence {seqs[same[0], :lengths[same[0]]].tolist()}")
        inner = offsets[leaf + 1] > offsets[leaf]
        if inner.any():
            row = int(np.flatnonzero(inner)[0])
            raise ValueError(f"PrefixTrie: item {items[row]}'s sequence {seqs[row, :lengths[row]].tolist()} is a prefix "
                             "of another item's; pass end_token to close every sequence")
        node_item = np.full(n_nodes, DEAD, dtype=np.int64)
        node_item[leaf] = items
        child_token = np.concatenate(tokens)
        return cls(offsets, child_token, np.arange(1, n_nodes, dtype=np.int64), node_item,
                   np.concatenate([[0], *depths]), int(child_token.max()) + 1)

    # --- sizes ------------------------------------------------------------------------------

    @property
    def n_nodes(self) -> int:
        return len(self.node_item)

    @property
    def n_sequences(self) -> int:
        return int((self.node_item >= 0).sum())

    @property
    def max_depth(self) -> int:
        return int(self.node_depth.max())

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self.offsets, self.child_token, self.child_node, self.node_item, self.node_depth))

    def sequences(self) -> tuple[np.ndarray, np.ndarray]:
        """Every sequence (as a padded (n, max_depth) array, -1 after its end) and its item, in
        trie order: what `build` was given, sorted."""
        parent = np.zeros(self.n_nodes, dtype=np.int64)
        parent[self.child_node] = np.repeat(np.arange(self.n_nodes), np.diff(self.offsets))
        token = np.full(self.n_nodes, DEAD, dtype=np.int64)
        token[self.child_node] = self.child_token
        leaves = np.flatnonzero(self.node_item >= 0)
        out = np.full((len(leaves), self.max_depth), DEAD, dtype=np.int64)
        at, depth = leaves.copy(), self.node_depth[leaves]
        for d in range(self.max_depth, 0, -1):
            here = depth >= d
            out[here, d - 1] = token[at[here]]
            at[here] = parent[at[here]]
        return out, self.node_item[leaves]

    def _derived(self, name: str, make) -> np.ndarray:
        """An array computed from the trie once (the trie is immutable)."""
        cache = self.__dict__.setdefault("_derived_arrays", {})
        if name not in cache:
            cache[name] = make()
        return cache[name]

    @property
    def node_parent(self) -> np.ndarray:
        """(n_nodes,) int64: each node's parent, -1 for the root."""
        def make() -> np.ndarray:
            parent = np.full(self.n_nodes, DEAD, dtype=np.int64)
            parent[self.child_node] = np.repeat(np.arange(self.n_nodes), np.diff(self.offsets))
            return parent

        return self._derived("parent", make)

    @property
    def subtree_items(self) -> np.ndarray:
        """(n_nodes,) int64: how many items (leaves) lie at or below each node."""
        def make() -> np.ndarray:
            counts = (self.node_item >= 0).astype(np.int64)
            parent = self.node_parent
            for depth in range(self.max_depth, 0, -1):  # children before their parents
                nodes = np.flatnonzero(self.node_depth == depth)
                np.add.at(counts, parent[nodes], counts[nodes])
            return counts

        return self._derived("subtree_items", make)

    @property
    def item_node(self) -> np.ndarray:
        """(max item + 1,) int64: the leaf of each item, -1 for ids that name none."""
        def make() -> np.ndarray:
            leaves = np.flatnonzero(self.node_item >= 0)
            out = np.full(int(self.node_item.max()) + 1, DEAD, dtype=np.int64)
            out[self.node_item[leaves]] = leaves
            return out

        return self._derived("item_node", make)

    def emptied_nodes(self, items: Sequence[int]) -> np.ndarray:
        """The nodes (sorted) every item below which is in `items`: the prefixes a search that
        must not return those items need not extend. Ids the trie does not hold are ignored."""
        items = np.asarray(list(items), dtype=np.int64)
        items = np.unique(items[(items >= 0) & (items < len(self.item_node))])
        nodes = self.item_node[items]
        nodes = nodes[nodes >= 0]
        if nodes.size == 0:
            return nodes
        parent, chain = self.node_parent, [nodes]
        while (chain[-1] > 0).any():  # every ancestor below the root, one entry per excluded leaf
            up = parent[chain[-1]]
            chain.append(up[up > 0])
        touched, hits = np.unique(np.concatenate(chain), return_counts=True)
        return touched[hits == self.subtree_items[touched]]

    # --- decoding (torch) -------------------------------------------------------------------

    def tensors(self, device: torch.device | str = "cpu") -> "_TrieTensors":
        """The arrays decoding needs, as torch tensors on `device` (made once per device)."""
        device = torch.device(device)
        cache = self.__dict__.setdefault("_tensors", {})
        if device not in cache:
            key = torch.as_tensor(np.repeat(np.arange(self.n_nodes), np.diff(self.offsets)) * self.vocab_size
                                  + self.child_token)
            cache[device] = _TrieTensors(*(torch.as_tensor(a).to(device) for a in (
                self.offsets, self.child_token, self.child_node, self.node_item)), key.to(device), self.vocab_size)
        return cache[device]

    def children(self, states: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Every (state, child) pair of a batch of states: the position of the state in `states`,
        the child's token and the child node, grouped by state. Dead states have none."""
        t = self.tensors(states.device)
        alive = states >= 0
        safe = torch.where(alive, states, torch.zeros_like(states))
        begin, end = t.offsets[safe], t.offsets[safe + 1]
        counts = torch.where(alive, end - begin, torch.zeros_like(begin))
        row = torch.repeat_interleave(torch.arange(len(states), device=states.device), counts)
        within = torch.arange(len(row), device=states.device) - torch.repeat_interleave(torch.cumsum(counts, 0) - counts, counts)
        slot = begin[row] + within
        return row, t.child_token[slot], t.child_node[slot]

    def allowed(self, states: torch.Tensor, vocab_size: int) -> torch.Tensor:
        """(B, vocab_size) bool: which tokens may follow each state (none after a leaf or a dead state)."""
        if vocab_size < self.vocab_size:
            raise ValueError(f"PrefixTrie: the trie holds token ids up to {self.vocab_size - 1}, "
                             f"beyond a vocabulary of {vocab_size}")
        row, token, _ = self.children(states)
        mask = torch.zeros(len(states), vocab_size, dtype=torch.bool, device=states.device)
        mask[row, token] = True
        return mask

    def additive_mask(self, states: torch.Tensor, vocab_size: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """(B, vocab_size): 0 where `allowed`, -inf elsewhere, to add to logits or log-probs."""
        mask = torch.full((len(states), vocab_size), float("-inf"), dtype=dtype, device=states.device)
        return mask.masked_fill_(self.allowed(states, vocab_size), 0.0)

    def advance(self, states: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """The child of each state along its token; DEAD where the token is not a child."""
        t = self.tensors(states.device)
        tokens = tokens.to(torch.int64)
        ok = (states >= 0) & (tokens >= 0) & (tokens < t.vocab_size)
        key = torch.where(ok, states * t.vocab_size + tokens, torch.zeros_like(states))
        pos = torch.searchsorted(t.key, key).clamp_(max=max(len(t.key) - 1, 0))
        found = ok & (t.key[pos] == key) if len(t.key) else torch.zeros_like(ok)
        return torch.where(found, t.child_node[pos], torch.full_like(states, DEAD))

    def walk(self, tokens: torch.Tensor) -> torch.Tensor:
        """The state after each row of `tokens` (B, t) from the root."""
        states = torch.full((tokens.shape[0],), ROOT, dtype=torch.int64, device=tokens.device)
        for column in tokens.T:
            states = self.advance(states, column)
        return states

    def item_at(self, states: torch.Tensor) -> torch.Tensor:
        """The item at each state that is a leaf, -1 elsewhere."""
        t = self.tensors(states.device)
        safe = states.clamp(min=0)
        return torch.where(states >= 0, t.node_item[safe], torch.full_like(states, DEAD))


@dataclass(frozen=True)
class _TrieTensors:
    offsets: torch.Tensor
    child_token: torch.Tensor
    child_node: torch.Tensor
    node_item: torch.Tensor
    key: torch.Tensor  # parent * vocab_size + token per slot: sorted, so advance is one searchsorted
    vocab_size: int
