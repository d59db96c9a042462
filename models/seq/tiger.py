"""TIGER (Rajput et al., 2023, "Recommender Systems with Generative Retrieval"; RecBench Group H
is the same idea, a sequential recommender over semantic IDs): a small encoder-decoder
transformer, trained from scratch, that reads a user's history of items and generates the next
item's semantic ID code by code.

- Items are semantic IDs from benchmark.itemtok (`tokenizer`: "sid-rqkmeans", the default, or
  "sid-rqvae", or a config dict such as {"kind": "sid-rqvae", "codebook_size": 256}): TIGER's 3
  levels plus its disambiguation level, tokens of every level in one vocabulary. The codebook
  size, unless the dict sets it, follows the catalogue ("auto", `auto_codebook_size`): about 32
  items per first-level code, as a power of two in 8..256 (TIGER's 256 from about 5,800 items up; 32
  on the default synthetic catalogue of 1,000 items). There RQ-KMeans learns better than the RQ-VAE
  and 32 codes better than RecBench's 4 x 256: test NDCG@10 (full, 500 users) 0.192 for
  RQ-KMeans 3 x 32, 0.174 and 0.173 for RQ-KMeans 4 x 256 and 3 x 256, 0.168 for the RQ-VAE 3 x 32 (with
  two layers each; those alone give RQ-KMeans 3 x 32 0.188).
- Encoder: one input vector per history item, the sum of its code tokens' embeddings, plus a
  position embedding (bidirectional attention over at most `window` items). TIGER flattens the
  history into its code tokens instead; summing them keeps the semantic-ID sharing between items
  with common prefixes and makes the encoder `levels + 1` times shorter, which is what lets it
  train within a minute on two CPU cores.
- Decoder: [BOS] + the target's codes, causal, cross-attending to the encoder; position l's
  logits are restricted to level l's codes, so each code's log-probability is normalised over
  its own codebook.
- Training: cross-entropy on the target's codes. An epoch draws `targets_per_sequence` random
  next-item positions from each training sequence (history = the window before it), with Adam and
  early stopping on validation NDCG@10 of the constrained beam search over at most `valid_users`
  validation users (models/layers/train.py).
- Rank, whole catalogue: the exact constrained beam search of benchmark.itemtok over the trie of
  every item's codes (`beam_width`, `top_k`; the user's history items are excluded), answering a
  sparse TopK scored by each item's log-likelihood. Rank, sampled candidates: the exact
  log-likelihood of each candidate's code sequence, teacher-forced, the encoder run once per
  request.

Defaults (hidden 64, 1 encoder and 1 decoder layer, 4 heads, feed-forward 128, dropout 0.1, lr
3e-3, batch 128, 2 targets per sequence per epoch, up to 20 epochs, patience 3) are TIGER's shape
scaled down to train on the default synthetic plan in under a minute on two cores: two layers
each and a 256-wide feed-forward cost twice as much there and learned no better.
`extra_stats` records the tokenizer's config and report, the beam width and K beside the
training log.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from benchmark.api import FitData, ModelError, ModelMeta, SeqFitData, candidate_matrix
from benchmark.data.dataset import Catalogue
from benchmark.itemtok import SID_KINDS, BeamState, ItemCodes, TokenizerConfig, constrained_beam_search, item_codes
from benchmark.registry import register_model
from benchmark.requests import RankRequest, TopK
from models.layers import args
from models.layers.citations import RECBENCH
from models.layers.collate import pad_histories
from models.layers.torch_model import TorchModel
from models.layers.train import train_early_stopping

TIGER_CITATION = "Rajput et al., Recommender Systems with Generative Retrieval, NeurIPS 2023"
TIGER_TOKENIZER = {"levels": 3, "codebook_size": "auto"}  # what a tokenizer argument leaves unset


def auto_codebook_size(n_items: int) -> int:
    """About 32 items per first-level code: the power of two nearest n_items / 32, in 8..256."""
    return int(np.clip(2 ** np.round(np.log2(max(n_items, 1) / 32)), 8, 256))


def tokenizer_config(tokenizer: str | dict[str, Any], n_items: int) -> TokenizerConfig:
    """The item tokenizer TIGER uses for a catalogue of n_items: `tokenizer` (a kind or a config
    dict) with TIGER_TOKENIZER's levels and codebook size where it sets none."""
    config = {"kind": tokenizer} if isinstance(tokenizer, str) else dict(tokenizer)
    config = {**TIGER_TOKENIZER, **config}
    if config["codebook_size"] == "auto":
        config["codebook_size"] = auto_codebook_size(n_items)
    return TokenizerConfig.parse(config)


class TigerNet(nn.Module):
    """Encoder-decoder over semantic IDs. `item_tokens` (n_items, L) are the items' token ids in
    one vocabulary of `vocab` ids (ItemCodes.token_ids); ids vocab and vocab+1 are pad and BOS."""

    def __init__(self, item_tokens: np.ndarray, level_offsets: np.ndarray, vocab: int, hidden: int, heads: int,
                 encoder_layers: int, decoder_layers: int, feedforward: int, dropout: float, window: int):
        super().__init__()
        n_items, depth = item_tokens.shape
        self.vocab, self.depth, self.pad, self.bos = vocab, depth, vocab, vocab + 1
        tokens = np.vstack([item_tokens, np.full((1, depth), vocab)])  # the pad item's row: pad tokens
        self.register_buffer("item_tokens", torch.as_tensor(tokens, dtype=torch.int64), persistent=False)
        level = np.searchsorted(np.asarray(level_offsets), np.arange(vocab), side="right") - 1
        mask = np.where(level[None, :] == np.arange(depth)[:, None], 0.0, -np.inf)
        self.register_buffer("level_mask", torch.as_tensor(mask, dtype=torch.float32), persistent=False)
        self.tokens = nn.Embedding(vocab + 2, hidden, padding_idx=self.pad)
        self.item_positions = nn.Embedding(window, hidden)
        self.code_positions = nn.Embedding(depth + 1, hidden)
        self.dropout = nn.Dropout(dropout)

        def layer(cls):
            return cls(hidden, heads, feedforward, dropout, batch_first=True, norm_first=True)

        self.encoder = nn.TransformerEncoder(layer(nn.TransformerEncoderLayer), encoder_layers,
                                             norm=nn.LayerNorm(hidden), enable_nested_tensor=False)
        self.decoder = nn.TransformerDecoder(layer(nn.TransformerDecoderLayer), decoder_layers,
                                             norm=nn.LayerNorm(hidden))
        self.head = nn.Linear(hidden, vocab)

    def encode(self, history: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Memory (B, W, d) and its padding mask (B, W) of left-padded histories (B, W), pad id
        n_items. An empty history keeps its last (pad) slot visible, so attention has a key."""
        is_pad = history == len(self.item_tokens) - 1
        is_pad[:, -1] = False
        x = self.tokens(self.item_tokens[history]).sum(dim=2) + self.item_positions.weight[-history.shape[1]:]
        return self.encoder(self.dropout(x), src_key_padding_mask=is_pad), is_pad

    def log_probs(self, memory: torch.Tensor, memory_pad: torch.Tensor, prefix: torch.Tensor,
                  last_only: bool = False) -> torch.Tensor:
        """Next-code log-probabilities (R, t+1, vocab) after [BOS] + prefix (R, t), each position
        over its own level's codes (-inf elsewhere); with `last_only`, the last position's (R, vocab)."""
        bos = torch.full((len(prefix), 1), self.bos, dtype=torch.int64, device=prefix.device)
        x = torch.cat([bos, prefix], dim=1)
        h = self.dropout(self.tokens(x) + self.code_positions.weight[: x.shape[1]])
        causal = nn.Transformer.generate_square_subsequent_mask(x.shape[1], device=x.device, dtype=h.dtype)
        out = self.decoder(h, memory, tgt_mask=causal, memory_key_padding_mask=memory_pad, tgt_is_causal=True)
        if last_only:
            return torch.log_softmax(self.head(out[:, -1]) + self.level_mask[x.shape[1] - 1], dim=-1)
        return torch.log_softmax(self.head(out) + self.level_mask[: x.shape[1]], dim=-1)

    def sequence_log_likelihood(self, memory: torch.Tensor, memory_pad: torch.Tensor, items: torch.Tensor,
                                ) -> torch.Tensor:
        """log p(item's codes | history), (R,), teacher-forced, for items (R,) against memory rows (R, ...)."""
        codes = self.item_tokens[items]
        logp = self.log_probs(memory, memory_pad, codes[:, :-1])
        return logp.gather(2, codes.unsqueeze(-1)).squeeze(-1).double().sum(dim=1)


@register_model("tiger")
class TIGER(TorchModel):
    meta = ModelMeta(
        name="TIGER",
        paradigm="seqrec",
        item_repr="sid",
        scheme="fine-tuned",
        backend="torch",
        supports=("rank",),
        license="Apache-2.0",
        citation=f"{TIGER_CITATION}; {RECBENCH}",
        group="H",
        description="Encoder-decoder transformer generating the next item's semantic ID (exact constrained beam search).",
    )

    def __init__(self, tokenizer: str | dict[str, Any] = "sid-rqkmeans", hidden: int = 64, heads: int = 4,
                 encoder_layers: int = 1, decoder_layers: int = 1, feedforward: int = 128, dropout: float = 0.1,
                 beam_width: int = 20, top_k: int = 20, targets_per_sequence: int = 2, valid_users: int = 256,
                 window: int = 20, epochs: int = 20, batch_size: int = 128, lr: float = 3e-3,
                 weight_decay: float = 0.0, patience: int = 3, device: str = "auto"):
        name = self.meta.name
        if not isinstance(tokenizer, (str, dict)):
            raise ValueError(f"{name}: argument tokenizer must be a kind name or a config dict, got {tokenizer!r}")
        try:
            kind = tokenizer_config(tokenizer, 256 * 32).kind  # checked now, sized to the catalogue in setup
        except ValueError as e:
            raise ValueError(f"{name}: argument tokenizer is not a valid item tokenizer ({e})") from None
        args.choice(name, "tokenizer kind", kind, SID_KINDS)
        self.tokenizer = tokenizer
        self.set_shape(hidden, dropout, heads=heads, encoder_layers=encoder_layers, decoder_layers=decoder_layers,
                       feedforward=feedforward, beam_width=beam_width, top_k=top_k,
                       targets_per_sequence=targets_per_sequence)
        if not 10 <= self.top_k <= self.beam_width:
            raise ValueError(f"{name}: argument top_k ({top_k}) must be at least 10 (NDCG@10) and at most "
                             f"beam_width ({beam_width})")
        self.valid_users = args.non_negative_int(name, "valid_users", valid_users)
        self.set_training(epochs=epochs, batch_size=batch_size, lr=lr, weight_decay=weight_decay, patience=patience,
                          window=window, device=device)

    @classmethod
    def meta_for(cls, arguments: dict[str, Any]) -> ModelMeta:
        try:
            kind = tokenizer_config(arguments.get("tokenizer", "sid-rqkmeans"), 256 * 32).kind
        except (ValueError, TypeError, KeyError):
            return cls.meta  # the constructor reports the bad value when the run starts
        return cls.meta if kind == "sid-rqkmeans" else dataclasses.replace(cls.meta, name=f"TIGER ({kind})")

    # --- setup -------------------------------------------------------------------------------

    def setup(self, catalogue: Catalogue, seed: int) -> None:
        self.codes: ItemCodes = item_codes(catalogue, tokenizer_config(self.tokenizer, catalogue.n_items))
        self.trie = self.codes.trie()
        super().setup(catalogue, seed)

    def build(self, n_items: int) -> TigerNet:
        return TigerNet(self.codes.token_ids(), self.codes.level_offsets, self.codes.vocab_size, self.hidden,
                        self.heads, self.encoder_layers, self.decoder_layers, self.feedforward, self.dropout,
                        self.window)

    def extra_stats(self) -> dict[str, Any]:
        return {**super().extra_stats(), "beam_width": self.beam_width, "top_k": self.top_k,
                "tokenizer": self.codes.to_dict()}

    # --- training ----------------------------------------------------------------------------

    def fit(self, data: FitData) -> None:
        name = self.meta.name
        if not isinstance(data, SeqFitData):
            raise ModelError(f"{name} trains on next-item sequences, got {type(data).__name__}")
        sequences = [tuple(s) for s in data.sequences if len(s) >= 2]
        if not sequences:
            raise ModelError(f"{name}: no training sequence has two or more items")
        lengths = np.array([len(s) for s in sequences], dtype=np.int64)
        padded = pad_histories(sequences, -1, int(lengths.max())).numpy()  # right-aligned, -1 before
        rng = np.random.default_rng(self.seed)

        def loss(idx: torch.Tensor) -> torch.Tensor:
            rows = idx.numpy() % len(sequences)
            # a random target position per example: one of the last lengths-1 columns
            cut = padded.shape[1] - 1 - (rng.random(len(rows)) * (lengths[rows] - 1)).astype(np.int64)
            target = torch.as_tensor(padded[rows, cut], device=self.device)
            columns = cut[:, None] - self.window + np.arange(self.window)[None, :]
            history = padded[rows[:, None], np.maximum(columns, 0)]
            history = np.where((columns >= 0) & (history >= 0), history, self.pad_id)
            memory, memory_pad = self.net.encode(torch.as_tensor(history, device=self.device))
            codes = self.net.item_tokens[target]
            logp = self.net.log_probs(memory, memory_pad, codes[:, :-1])
            return F.nll_loss(logp.reshape(-1, logp.shape[-1]), codes.reshape(-1))

        valid = list(zip(data.valid, data.valid_targets, data.valid_seen))[: self.valid_users]

        def valid_ndcg() -> float:
            requests = [r for r, _, _ in valid]
            top = self._generate(requests, [seen for _, _, seen in valid])
            hit = top.items == np.array([t for _, t, _ in valid])[:, None]
            rank = np.where(hit.any(1), hit.argmax(1), top.items.shape[1])
            return float(np.mean(np.where(rank < 10, 1.0 / np.log2(rank + 2.0), 0.0)))

        self.train_log = train_early_stopping(
            self.net, len(sequences) * self.targets_per_sequence, loss, valid_ndcg if valid else None,
            epochs=self.epochs, batch_size=self.batch_size, lr=self.lr, patience=self.patience, seed=self.seed,
            weight_decay=self.weight_decay, metric="ndcg@10", desc="tiger",
        )

    # --- ranking -----------------------------------------------------------------------------

    def rank(self, requests: list[RankRequest]) -> np.ndarray | TopK:
        candidates = candidate_matrix(requests)
        if candidates is None:
            return self._generate(requests, [r.history for r in requests])
        if not requests:
            return np.zeros((0, candidates.shape[1]), dtype=np.float64)
        return self._likelihoods(requests, candidates)

    def _memory(self, requests: list[RankRequest]) -> tuple[torch.Tensor, torch.Tensor]:
        return self.net.encode(pad_histories([r.history for r in requests], self.pad_id, self.window).to(self.device))

    def _generate(self, requests: list[RankRequest], exclude: list) -> TopK:
        """Top-K items per request by constrained beam search, `exclude[i]` left out."""
        items, scores = [], []
        self.net.eval()
        with torch.no_grad():
            for start in range(0, len(requests), self.batch_size):
                chunk = requests[start : start + self.batch_size]
                memory, memory_pad = self._memory(chunk)

                def step(prefix: torch.Tensor, state: BeamState) -> torch.Tensor:
                    rows = state.requests
                    return self.net.log_probs(memory[rows], memory_pad[rows], prefix, last_only=True)

                found = constrained_beam_search(step, self.trie, len(chunk), self.beam_width, self.top_k,
                                                exclude=exclude[start : start + self.batch_size], device=self.device)
                items.append(found.items)
                scores.append(found.scores)
        if not items:
            return TopK(np.zeros((0, self.top_k), dtype=np.int64), np.zeros((0, self.top_k)))
        return TopK(np.concatenate(items), np.concatenate(scores))

    def _likelihoods(self, requests: list[RankRequest], candidates: np.ndarray) -> np.ndarray:
        """(n, C) log-likelihood of each candidate's codes; the encoder runs once per request."""
        width = candidates.shape[1]
        per_chunk = max(1, 4096 // width)
        out = []
        self.net.eval()
        with torch.no_grad():
            for start in range(0, len(requests), per_chunk):
                memory, memory_pad = self._memory(requests[start : start + per_chunk])
                items = torch.as_tensor(candidates[start : start + per_chunk], device=self.device)
                ll = self.net.sequence_log_likelihood(memory.repeat_interleave(width, 0),
                                                      memory_pad.repeat_interleave(width, 0), items.reshape(-1))
                out.append(ll.view(-1, width).cpu().numpy())
        return np.concatenate(out)
