import os

import numpy as np
import pytest
import torch
from torch import nn

from benchmark.api import ModelError, candidate_matrix
from benchmark.requests import RankRequest
from models.layers.attention import SelfAttentionBlock, causal_padding_mask
from models.layers.collate import IGNORE, next_item_windows, pad_histories
from models.layers.determinism import deterministic
from models.layers.embedding import ItemEmbedding, MeanPooledHistory, masked_mean
from models.layers.mlp import MLP
from models.layers.ranking import mask_seen, ndcg_at_k
from models.layers.train import train_early_stopping

PAD = 9


def test_pad_histories_left_pads_and_keeps_most_recent():
    out = pad_histories([(1, 2), (), (1, 2, 3, 4, 5)], PAD, 3)
    assert out.tolist() == [[PAD, 1, 2], [PAD, PAD, PAD], [3, 4, 5]]
    assert out.dtype == torch.int64


def test_next_item_windows_cover_every_target_once():
    inputs, targets = next_item_windows([(0, 1, 2, 3, 4, 5, 6), (7,), (7, 8)], PAD, 3)
    assert inputs.tolist() == [[3, 4, 5], [0, 1, 2], [PAD, PAD, 7]]
    assert targets.tolist() == [[4, 5, 6], [1, 2, 3], [IGNORE, IGNORE, 8]]


def test_mean_pooling_ignores_padding_and_empty_history_is_zero():
    items = ItemEmbedding(PAD, 4)
    pooled = MeanPooledHistory(items)(pad_histories([(1, 3), ()], PAD, 4))
    torch.testing.assert_close(pooled[0], (items.weight[1] + items.weight[3]) / 2)
    assert torch.equal(pooled[1], torch.zeros(4))
    assert torch.equal(items.weight[PAD], torch.zeros(4)) and items.items.shape == (PAD, 4)
    assert torch.equal(masked_mean(torch.ones(1, 2, 3), torch.tensor([[False, False]])), torch.zeros(1, 3))


def test_mlp_shapes():
    mlp = MLP(6, (8, 4), out_dim=1, dropout=0.5)
    assert mlp(torch.randn(5, 6)).shape == (5, 1)
    assert MLP(6, (8,))(torch.randn(2, 6)).shape == (2, 8)


def test_attention_is_causal_and_never_fully_masked():
    is_pad = torch.tensor([[True, True, False, False], [True, True, True, True]])
    mask = causal_padding_mask(is_pad)
    assert not mask.all(-1).any()
    assert mask[0, 3].tolist() == [True, True, False, False]
    torch.manual_seed(0)
    block = SelfAttentionBlock(8, 2, 0.0).eval()
    x = torch.randn(1, 5, 8)
    changed = x.clone()
    changed[0, 3:] = torch.randn(2, 8)
    no_pad = torch.zeros(1, 5, dtype=torch.bool)
    keep = torch.ones(1, 5, 1)
    a = block(x, causal_padding_mask(no_pad), keep)
    b = block(changed, causal_padding_mask(no_pad), keep)
    torch.testing.assert_close(a[0, :3], b[0, :3])
    assert not torch.allclose(a[0, 3:], b[0, 3:])
    assert torch.isfinite(block(x, causal_padding_mask(torch.ones(1, 5, dtype=torch.bool)), keep * 0)).all()


def test_mask_seen_and_ndcg():
    scores = torch.tensor([[0.1, 0.9, 0.5, 0.3], [0.4, 0.3, 0.2, 0.1]])
    masked = mask_seen(scores, torch.tensor([[4, 1], [4, 4]]))
    assert masked[0].tolist() == [pytest.approx(0.1), float("-inf"), 0.5, pytest.approx(0.3)]
    assert torch.equal(masked[1], scores[1])
    ndcg = ndcg_at_k(masked, torch.tensor([3, 0]), k=10)
    torch.testing.assert_close(ndcg, torch.tensor([1 / np.log2(3), 1.0], dtype=torch.float32))
    assert ndcg_at_k(masked, torch.tensor([0, 3]), k=1).tolist() == [0.0, 0.0]


def test_candidate_matrix():
    assert candidate_matrix([RankRequest(0, ())]) is None and candidate_matrix([]) is None
    stacked = candidate_matrix([RankRequest(0, (), np.array([3, 1])), RankRequest(1, (), [2, 0])])
    assert stacked.tolist() == [[3, 1], [2, 0]] and stacked.dtype == np.int64
    with pytest.raises(ModelError):
        candidate_matrix([RankRequest(0, ()), RankRequest(1, (), np.array([1]))])


def test_early_stopping_restores_best_epoch():
    net = nn.Linear(2, 1)
    x, y = torch.randn(32, 2), torch.randn(32, 1)
    metrics = iter([0.1, 0.5, 0.3, 0.2, 0.9])
    weights = []

    def evaluate():
        weights.append(net.weight.detach().clone())
        return next(metrics)

    log = train_early_stopping(
        net, 32, lambda idx: ((net(x[idx]) - y[idx]) ** 2).mean(), evaluate,
        epochs=5, batch_size=8, lr=1e-2, patience=2, seed=0,
    )
    assert (log.best_epoch, len(log.losses), log.history) == (2, 4, [0.1, 0.5, 0.3, 0.2])
    assert torch.equal(net.weight, weights[1]) and not net.training
    assert log.stats()["valid_best"] == 0.5

    log = train_early_stopping(
        net, 32, lambda idx: ((net(x[idx]) - y[idx]) ** 2).mean(), None,
        epochs=3, batch_size=8, lr=1e-2, patience=1, seed=0,
    )
    assert (log.best_epoch, len(log.losses), log.best) == (3, 3, None)


def _determinism_settings():
    return (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled(),
            torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)


@pytest.mark.parametrize("warn_only", [False, True])
def test_deterministic_flips_torch_only_for_cuda_and_restores_it(warn_only):
    torch.use_deterministic_algorithms(False, warn_only=warn_only)
    torch.backends.cudnn.benchmark = True
    before = _determinism_settings()
    try:
        with deterministic("cpu"):
            assert _determinism_settings() == before
        with pytest.raises(KeyError):
            with deterministic(torch.device("cuda", 0)):  # only flips flags: no GPU is touched
                assert torch.are_deterministic_algorithms_enabled() and not torch.is_deterministic_algorithms_warn_only_enabled()
                assert torch.backends.cudnn.deterministic and not torch.backends.cudnn.benchmark
                raise KeyError("restored on the way out of an error too")
        assert _determinism_settings() == before
    finally:
        torch.use_deterministic_algorithms(False)
        torch.backends.cudnn.benchmark = False
    assert "CUBLAS_WORKSPACE_CONFIG" in os.environ  # set on import, before cuBLAS can be used
