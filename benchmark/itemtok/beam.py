"""Beam search over a model's next-token log-probabilities, optionally constrained by a
PrefixTrie so that every finished sequence is a real item.

The model is a step function, `step_fn(prefixes, state) -> log_probs`: `prefixes` (rows, t)
int64 holds the tokens each live beam has decoded so far (t = 0 at the first step), and the
answer is (rows, V) next-token log-probabilities (normalised over the model's whole vocabulary;
the search never renormalises, so a sequence's score is its exact log-likelihood under the
model). `state` (a BeamState) says which request each row belongs to and, from the second step
on, which row of the previous call each row extends (`parents`), so a step function that keeps
a cache (encoder outputs, a KV cache) in `state.cache` can reorder it; a stateless one ignores it.
The same search thus drives TIGER's decoder and a causal LLM; `TrieLogitsProcessor` (hf.py) is
the route through transformers' own `generate`.

Each step keeps, per request, the `beam_width` best extensions of its live beams (scores summed in
float64); in constrained mode only the trie's children are extensions, and an extension that
reaches a leaf leaves the beam as a finished item. An `exclude`d item for its request is never
an extension, nor is a prefix all of whose items the request excludes, so no beam is spent on a
path that can only end in an excluded item. A request stops once it has `k` finished items and
none of its live beams can still beat the k-th (log-probabilities are <= 0); the search stops
when no request has live beams. With beam_width at least the number of items this is exhaustive, hence exact: the top-k
is the brute-force ranking of every item by its sequence log-likelihood.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import torch

from benchmark.itemtok.trie import DEAD, ROOT, PrefixTrie
from benchmark.requests import TopK


@dataclass
class BeamState:
    """What a step function is told besides the prefixes (see the module docstring)."""

    step: int
    requests: torch.Tensor  # (rows,) int64: the request of each row
    parents: torch.Tensor | None  # (rows,) int64: the row of the previous call each row extends
    cache: Any = None  # the step function's own, kept across calls


StepFn = Callable[[torch.Tensor, BeamState], torch.Tensor]


@dataclass(frozen=True, eq=False)
class BeamResult:
    """Per request its best k finished sequences, best first: `items` (n, k) item ids (-1 in
    unconstrained mode and in padding slots), `scores` (n, k) float64 summed log-probabilities
    (-inf padding), `sequences` (n, k, max_len) tokens (-1 padding)."""

    items: np.ndarray
    scores: np.ndarray
    sequences: np.ndarray

    def topk(self) -> TopK:
        """The sparse rank response: items with their sequence log-likelihoods."""
        if ((self.items < 0) & np.isfinite(self.scores)).any():
            raise ValueError("BeamResult.topk: an unconstrained search names no items; use constrained_beam_search")
        return TopK(self.items.copy(), self.scores.copy())


def constrained_beam_search(step_fn: StepFn, trie: PrefixTrie, n_requests: int, beam_width: int, k: int,
                            exclude: Sequence[Sequence[int]] | None = None,
                            device: torch.device | str = "cpu") -> BeamResult:
    """Beam search whose every finished sequence is one of the trie's items (see the module
    docstring); `exclude[r]` lists items request r must not return (a user's history, say)."""
    if not isinstance(trie, PrefixTrie):
        raise ValueError(f"constrained_beam_search: trie must be a PrefixTrie, got {type(trie).__name__}")
    return _search(step_fn, n_requests, beam_width, k, trie.max_depth, trie, exclude, torch.device(device))


def beam_search(step_fn: StepFn, n_requests: int, beam_width: int, k: int, length: int,
                device: torch.device | str = "cpu") -> BeamResult:
    """Unconstrained beam search for sequences of exactly `length` tokens (items all -1): the
    same engine as `constrained_beam_search` without the trie, to compare against."""
    _check_positive("length", length)
    return _search(step_fn, n_requests, beam_width, k, length, None, None, torch.device(device))


def _check_positive(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"beam search: {name} must be a positive integer, got {value!r}")


def _exclusion_keys(exclude: Sequence[Sequence[int]] | None, n_requests: int, trie: PrefixTrie,
                    device: torch.device) -> torch.Tensor | None:
    """Sorted request * n_nodes + node keys of the nodes a request must not enter: those all of
    whose items it excludes (PrefixTrie.emptied_nodes), its excluded leaves included."""
    if exclude is None:
        return None
    if len(exclude) != n_requests:
        raise ValueError(f"beam search: exclude has {len(exclude)} lists for {n_requests} requests")
    keys = [r * trie.n_nodes + trie.emptied_nodes(items) for r, items in enumerate(exclude)]
    flat = np.concatenate(keys) if keys else np.zeros(0, dtype=np.int64)  # sorted: r ascending, nodes sorted
    return torch.as_tensor(flat, device=device)


def _search(step_fn: StepFn, n: int, width: int, k: int, max_steps: int, trie: PrefixTrie | None,
            exclude: Sequence[Sequence[int]] | None, device: torch.device) -> BeamResult:
    _check_positive("beam_width", width)
    _check_positive("k", k)
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"beam search: n_requests must be an integer >= 0, got {n!r}")
    if k > width:
        raise ValueError(f"beam search: k ({k}) must not exceed beam_width ({width}); a beam holds at most "
                         "beam_width finished sequences")
    excluded = _exclusion_keys(exclude, n, trie, device) if trie is not None else None
    neg = float("-inf")
    # live beams, padded to `width` slots per request: -inf score marks an empty slot
    scores = torch.full((n, width), neg, dtype=torch.float64, device=device)
    scores[:, 0] = 0.0
    states = torch.full((n, width), ROOT, dtype=torch.int64, device=device)
    prefixes = torch.zeros((n, width, 0), dtype=torch.int64, device=device)
    done_scores = torch.full((n, k), neg, dtype=torch.float64, device=device)
    done_items = torch.full((n, k), DEAD, dtype=torch.int64, device=device)
    done_seqs = torch.full((n, k, max_steps), DEAD, dtype=torch.int64, device=device)
    state = BeamState(0, torch.zeros(0, dtype=torch.int64, device=device), None)
    slot_row = None  # flat slot -> its row in the previous step-function call
    for step in range(max_steps):
        live = torch.isfinite(scores).reshape(-1)
        rows = torch.nonzero(live).flatten()
        if rows.numel() == 0:
            break
        state.step, state.requests = step, rows // width
        state.parents = None if slot_row is None else slot_row[rows]
        logp = step_fn(prefixes.reshape(n * width, step)[rows], state)
        if not isinstance(logp, torch.Tensor) or logp.ndim != 2 or logp.shape[0] != rows.numel():
            raise ValueError(f"beam search: step_fn must return a (rows, vocab) tensor for {rows.numel()} rows, "
                             f"got {getattr(logp, 'shape', type(logp).__name__)}")
        vocab = logp.shape[1]
        cand = torch.full((n * width, vocab), neg, dtype=torch.float64, device=device)
        if trie is None:
            cand[rows] = logp.to(torch.float64)
        else:
            row, token, child = trie.children(states.reshape(-1)[rows])
            if excluded is not None and excluded.numel():
                key = state.requests[row] * trie.n_nodes + child
                pos = torch.searchsorted(excluded, key).clamp_(max=excluded.numel() - 1)
                keep = excluded[pos] != key
                row, token, child = row[keep], token[keep], child[keep]
            if token.numel() and int(token.max()) >= vocab:
                raise ValueError(f"beam search: the trie holds token ids up to {int(token.max())}, beyond the "
                                 f"step function's vocabulary of {vocab}")
            cand[rows[row], token] = logp[row, token].to(torch.float64)
        cand = (cand.view(n, width, vocab) + scores.unsqueeze(-1)).view(n, width * vocab)
        top, flat = cand.topk(width, dim=1)
        parent, token = flat // vocab, flat % vocab
        slot_row = torch.full((n * width,), DEAD, dtype=torch.int64, device=device)
        slot_row[rows] = torch.arange(rows.numel(), device=device)
        parent_flat = parent + torch.arange(n, device=device).unsqueeze(1) * width
        slot_row = slot_row[parent_flat.reshape(-1)]
        prefixes = torch.cat([prefixes.reshape(n * width, step)[parent_flat], token.unsqueeze(-1)], dim=2)
        scores = top
        if trie is not None:
            states = trie.advance(states.reshape(-1)[parent_flat.reshape(-1)], token.reshape(-1)).view(n, width)
            items = trie.item_at(states)
            finished = (items >= 0) & torch.isfinite(scores)
        else:
            items = torch.full_like(states, DEAD)
            finished = torch.isfinite(scores) & (step == max_steps - 1)
        if finished.any():
            pad = torch.full((n, width, max_steps - step - 1), DEAD, dtype=torch.int64, device=device)
            pool_scores = torch.cat([done_scores, torch.where(finished, scores, neg)], dim=1)
            pool_items = torch.cat([done_items, items], dim=1)
            pool_seqs = torch.cat([done_seqs, torch.cat([prefixes, pad], dim=2)], dim=1)
            done_scores, best = pool_scores.topk(k, dim=1)
            done_items = pool_items.gather(1, best)
            done_seqs = pool_seqs.gather(1, best.unsqueeze(-1).expand(-1, -1, max_steps))
            scores = scores.masked_fill(finished, neg)
        # a request whose k-th finished score beats every live beam cannot change any more
        settled = done_scores[:, -1:] >= scores.max(dim=1, keepdim=True).values
        scores = scores.masked_fill(settled, neg)
    unfilled = ~torch.isfinite(done_scores)
    done_items = done_items.masked_fill(unfilled, DEAD)
    done_seqs = done_seqs.masked_fill(unfilled.unsqueeze(-1), DEAD)
    return BeamResult(done_items.cpu().numpy(), done_scores.cpu().numpy(), done_seqs.cpu().numpy())
