"""Residual k-means (RQ-KMeans): level 1 clusters the vectors, each further level clusters what
the levels before left over, so an item's code is a coarse-to-fine path and the sum of its
centroids approximates its vector. scikit-learn's KMeans (k-means++, Lloyd) does the clustering;
the RQ-VAE reuses it to initialise its codebooks."""

from __future__ import annotations

import numpy as np
from sklearn.cluster import KMeans
from threadpoolctl import threadpool_limits


def residual_kmeans(x: np.ndarray, levels: int, codebook_size: int, seed: int,
                    ) -> tuple[np.ndarray, list[np.ndarray], np.ndarray]:
    """Codes (n, levels) int64, each level's centroids (codebook_size, d) and the reconstruction
    (n, d), the sum of every item's centroids.

    A level whose residuals have fewer distinct rows than `codebook_size` (earlier levels already
    told those items apart exactly) clusters into that many codes; its spare centroids are
    zero vectors, never assigned."""
    x = np.asarray(x, dtype=np.float64)
    n, dim = x.shape
    if codebook_size > n:
        raise ValueError(f"residual k-means: codebook_size {codebook_size} exceeds the {n} vectors")
    codes = np.zeros((n, levels), dtype=np.int64)
    reconstruction = np.zeros_like(x)
    codebooks = []
    for level in range(levels):
        residual = x - reconstruction
        k = min(codebook_size, np.unique(residual.round(12), axis=0).shape[0])
        with threadpool_limits(1):  # deterministic and polite on a shared machine
            km = KMeans(n_clusters=k, n_init=1, random_state=seed + level).fit(residual)
        centroids = np.zeros((codebook_size, dim))
        centroids[:k] = km.cluster_centers_
        codes[:, level] = km.labels_
        reconstruction += centroids[km.labels_]
        codebooks.append(centroids)
    return codes, codebooks, reconstruction


def reconstruction_report(x: np.ndarray, reconstruction: np.ndarray) -> dict[str, float]:
    """`reconstruction_mse`: the mean over items and dimensions of (x - reconstruction)^2;
    `input_variance`: the mean per-dimension variance of x; `reconstruction_rel`: their ratio,
    the share of the input's variance the codes do not explain (0 perfect, 1 no better than the
    mean vector)."""
    x = np.asarray(x, dtype=np.float64)
    mse = float(np.mean((x - reconstruction) ** 2))
    variance = float(np.mean(x.var(axis=0)))
    return {"reconstruction_mse": mse, "input_variance": variance,
            "reconstruction_rel": mse / variance if variance > 0 else 0.0}
