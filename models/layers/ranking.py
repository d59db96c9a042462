"""Full-catalogue ranking helpers for validation during training."""

from __future__ import annotations

import torch


def mask_seen(scores: torch.Tensor, history: torch.Tensor) -> torch.Tensor:
    """Scores (B, n_items) with the items of each padded history (B, L; pad id n_items) set to -inf."""
    padded = torch.cat([scores, scores.new_zeros(scores.shape[0], 1)], dim=1)
    return padded.scatter(1, history, float("-inf"))[:, :-1]


def ndcg_at_k(scores: torch.Tensor, targets: torch.Tensor, k: int = 10) -> torch.Tensor:
    """Per-row NDCG@k of a single relevant target; the rank counts strictly higher scores."""
    target_scores = scores.gather(1, targets.unsqueeze(1))
    rank = (scores > target_scores).sum(1)
    gain = 1.0 / torch.log2(rank.to(scores.dtype) + 2.0)
    return torch.where(rank < k, gain, torch.zeros_like(gain))
