"""Shared torch layers and training loops, so each model file stays short.

args: checks of model constructor arguments; collate: histories → left-padded id windows (pad
id = n_items); embedding: item embeddings and mean-pooled history users; mlp; attention: causal
self-attention blocks; train: Adam with early stopping; determinism: deterministic CUDA kernels
where a seed is promised; ranking: seen-item masking and NDCG for validation; torch_model: the
TorchModel base. For the pair-wise DLRMs: fields (item vectors from ids, text or both, and the
[user, item] fields), ctr_base (their shared wrapper), interaction (FM, inner products, AutoInt's
attention), cross (the DCN family's cross layers), gating (MaskNet's and FinalMLP's gates). For
next item: sequential (the base of the id-sequence networks (fit, rank) and their LLM2 text
initialisation), text_embeddings (PCA-reduced item text embeddings), sessions (histories as
position-weighted item vectors), knn (the session-kNN base), scoring (rank answers, dense or
TopK, from a whole-catalogue scorer). Import the modules directly; this package imports nothing,
so numpy-only models do not pull in torch.
"""
