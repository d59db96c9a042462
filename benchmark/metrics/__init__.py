"""Metrics: CTR (AUC, GAUC, LogLoss), ranking (HR/NDCG/MRR/Recall@K) and beyond-accuracy."""

from benchmark.metrics.beyond import beyond_accuracy, coverage, most_popular, novelty, serendipity
from benchmark.metrics.ctr import auc, gauc, grouped_auc, logloss
from benchmark.metrics.ranking import (
    DEFAULT_KS,
    per_user_ranking_metrics,
    rank_positions,
    ranking_metrics,
    top_k,
)

__all__ = [
    "DEFAULT_KS",
    "auc",
    "beyond_accuracy",
    "coverage",
    "gauc",
    "grouped_auc",
    "logloss",
    "most_popular",
    "novelty",
    "per_user_ranking_metrics",
    "rank_positions",
    "ranking_metrics",
    "serendipity",
    "top_k",
]
