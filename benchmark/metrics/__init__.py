"""Metrics: CTR (AUC, GAUC, LogLoss), ranking (HR/NDCG/MRR/Recall@K) and beyond-accuracy."""
