"""Top-K list kernels against the dense kernels on the equivalent score rows."""

import numpy as np
import pytest

from benchmark.metrics import rank_positions, top_k
from benchmark.metrics.topk import topk_lists, topk_rank_positions


def random_lists(seed: int, n: int = 300, c: int = 40, max_k: int = 12):
    """Lists over c candidates with few distinct scores (ties), some rows short or empty, a random
    mask that sometimes covers the target, and the dense rows they stand for."""
    rng = np.random.default_rng(seed)
    items = np.full((n, max_k), -1, dtype=np.int64)
    scores = np.full((n, max_k), -np.inf)
    dense = np.full((n, c), -np.inf)
    for row in range(n):
        k = int(rng.integers(0, max_k + 1))
        items[row, :k] = rng.choice(c, size=k, replace=False)
        scores[row, :k] = np.sort(rng.integers(0, 4, size=k).astype(float))[::-1]
        dense[row, items[row, :k]] = scores[row, :k]
    picked = items[np.arange(n), rng.integers(0, max_k, size=n)]
    target = np.where((rng.random(n) < 0.5) & (picked >= 0), picked, rng.integers(0, c, size=n))
    mask = rng.random((n, c)) < 0.3
    return items, scores, dense, target, mask


def excluded_of(mask: np.ndarray, items: np.ndarray) -> np.ndarray:
    return np.take_along_axis(mask, np.maximum(items, 0), axis=1) & (items >= 0)


@pytest.mark.parametrize("seed", range(4))
def test_rank_positions_match_the_dense_rows(seed):
    items, scores, dense, target, mask = random_lists(seed)
    n, c = dense.shape
    assert (items == target[:, None]).any(axis=1).sum() > 50  # both ranked and unranked targets occur
    others = c - 1 - (mask.sum(axis=1) - mask[np.arange(n), target])
    excluded = excluded_of(mask, items) & (items != target[:, None])
    got = topk_rank_positions(items, scores, target, others, excluded)
    want = rank_positions(dense, target, mask)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])
    no_mask = topk_rank_positions(items, scores, target, np.full(n, c - 1))
    np.testing.assert_array_equal(np.stack(no_mask), np.stack(rank_positions(dense, target)))


@pytest.mark.parametrize(("seed", "k"), [(0, 5), (1, 12), (2, 20)])
def test_lists_match_top_k_of_the_dense_rows(seed, k):
    items, scores, dense, _, mask = random_lists(seed)
    np.testing.assert_array_equal(topk_lists(items, scores, k, excluded_of(mask, items)), top_k(dense, k, mask))
    np.testing.assert_array_equal(topk_lists(items, scores, k), top_k(dense, k))


def test_a_target_listed_among_ties_and_an_unlisted_one():
    items = np.array([[4, 2, 7, -1], [4, 2, 7, -1]])
    scores = np.array([[3.0, 2.0, 2.0, -np.inf], [3.0, 2.0, 2.0, -np.inf]])
    greater, equal = topk_rank_positions(items, scores, np.array([7, 9]), np.array([9, 9]))
    # row 0: item 4 above, item 2 tied; row 1: all three listed above, the 9 - 3 unlisted others tied
    assert greater.tolist() == [1, 3] and equal.tolist() == [1, 6]
    skip = np.array([[True, False, False, False], [False, False, False, False]])
    greater, equal = topk_rank_positions(items, scores, np.array([7, 9]), np.array([8, 9]), skip)
    assert greater.tolist() == [0, 3] and equal.tolist() == [1, 6]


def test_inconsistent_inputs_are_refused():
    items = np.array([[1, 2, 3]])
    scores = np.array([[3.0, 2.0, 1.0]])
    with pytest.raises(ValueError, match="row 0: 3 kept ranked items but only 2 other candidates"):
        topk_rank_positions(items, scores, np.array([0]), np.array([2]))
    with pytest.raises(ValueError, match="one shape"):
        topk_lists(items, scores[:, :2], 2)
    with pytest.raises(ValueError, match="integer item ids"):
        topk_lists(items.astype(float), scores, 2)
