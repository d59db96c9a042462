"""Item text embeddings for the LLM sequential-recommendation models: the shared MiniLM vectors
(benchmark.text), reduced by PCA as in the study (Boz et al., Sections 3.2 and 5.2), where PCA is
the reduction that "always results in the best configuration" for LLMSeqSim and "usually" for the
LLM2Sequential models.

PCA here is sklearn's exact PCA: the vectors are centred on the catalogue mean and projected on
the leading principal axes (sign-fixed by sklearn, so the result is deterministic), not whitened:
component j keeps its own variance, the j-th largest eigenvalue of the covariance. It runs on one
BLAS thread: the same numbers on any machine, and a tenth of a second for the default catalogue,
where OpenBLAS's two threads on a busy 2-core machine spun for 16 seconds.
"""

from __future__ import annotations

import numpy as np
from sklearn.decomposition import PCA
from threadpoolctl import threadpool_limits

from benchmark.api import ModelError
from benchmark.data.dataset import Catalogue
from benchmark.text import encode_catalogue
from models.layers import args


def pca(vectors: np.ndarray, dims: int) -> np.ndarray:
    """(n, dims) float64 projections of the centred rows of `vectors` on their `dims` leading
    principal axes."""
    n, width = vectors.shape
    if dims > min(n, width):
        raise ModelError(f"PCA to {dims} dimensions needs at least {dims} items and text dimensions, "
                         f"got {n} items of {width}")
    with threadpool_limits(1):
        return PCA(n_components=dims, svd_solver="full").fit_transform(np.asarray(vectors, dtype=np.float64))


def item_text_vectors(catalogue: Catalogue, pca_dims: int | None) -> np.ndarray:
    """Every item's text embedding, reduced to min(pca_dims, n_items, 384) principal components
    (unreduced when pca_dims is None)."""
    vectors = encode_catalogue(catalogue)
    if pca_dims is None:
        return vectors.astype(np.float64)
    return pca(vectors, min(pca_dims, *vectors.shape))


def pca_item_table(vectors: np.ndarray, dims: int, std: float) -> np.ndarray:
    """The initial item-embedding table of an LLM2Sequential model: the `dims` principal components
    of the items' text embeddings, all multiplied by one factor so that the table's root mean
    square is `std`, the standard deviation of the random initialisation it replaces. The single
    factor keeps the text geometry (relative distances, the components' variance ratios) and puts
    the table on the scale the network's other initial weights were chosen for."""
    table = pca(vectors, dims)
    rms = float(np.sqrt(np.mean(table**2)))
    if rms == 0.0:
        raise ModelError("the item texts' embeddings are all equal, so PCA has nothing to initialise from")
    return table * (std / rms)


class ItemTextVectors:
    """Mixin for a model that works on the items' text embeddings (list it before the Model
    class): `set_pca_dims` checks the reduction, and `setup` keeps `item_vectors`, the catalogue's
    embeddings reduced by `item_text_vectors`."""

    item_vectors: np.ndarray

    def set_pca_dims(self, pca_dims: int | None) -> None:
        self.pca_dims = None if pca_dims is None else args.positive_int(self.meta.name, "pca_dims", pca_dims)

    def setup(self, catalogue: Catalogue, seed: int) -> None:
        super().setup(catalogue, seed)
        self.item_vectors = item_text_vectors(catalogue, self.pca_dims)

    def num_parameters(self) -> int:
        return int(self.item_vectors.size)
