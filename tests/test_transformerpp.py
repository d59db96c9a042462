"""Transformer++ (models/seq/transformerpp.py): rotary embeddings on hand-checked properties, a
network that neither looks ahead nor at its padding, the arguments it refuses, and training that
learns a deterministic successor rule on a tiny catalogue."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers_models import assert_causal, contract_problems, padded_states, stride_rule_ndcg, torch_threads

from models.layers.collate import pad_histories
from models.seq.transformerpp import (SimpleRMSNorm, TransformerPP, TransformerPPNet, apply_rope, real_item_positions,
                                      rope_angles)

N_ITEMS = 40


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    with torch_threads(1):
        yield


def net(**kw) -> TransformerPPNet:
    torch.manual_seed(0)
    args = dict(n_items=N_ITEMS, hidden=16, blocks=2, heads=2, dropout=0.0)
    args.update(kw)
    return TransformerPPNet(**args).eval()


def test_registered_and_keeps_its_contract():
    assert contract_problems("transformerpp", TransformerPP) == []
    assert TransformerPP.meta.name == "Transformer++" and TransformerPP().window == 20


def test_rope_scores_depend_only_on_the_offset_and_position_zero_is_the_identity():
    torch.manual_seed(0)
    dim = 8
    q, k = torch.randn(dim, dtype=torch.float64), torch.randn(dim, dtype=torch.float64)

    def rotated(x, position):
        cos, sin = rope_angles(torch.tensor(position), dim)
        return apply_rope(x, cos.double(), sin.double())

    def score(i, j):
        return float(rotated(q, i) @ rotated(k, j))

    for i, j in [(0, 0), (5, 2), (2, 5), (7, 0), (11, 19)]:
        assert score(i, j) == pytest.approx(score(i + 3, j + 3), abs=1e-5)
    assert score(5, 2) != pytest.approx(score(5, 4), abs=1e-3)  # the offset does matter
    torch.testing.assert_close(rotated(q, 0), q)
    assert float(rotated(q, 9).norm()) == pytest.approx(float(q.norm()))  # a rotation keeps lengths
    # pairs are (k, k + dim/2) and the first pair turns by one radian per position
    cos, sin = rope_angles(torch.tensor(1), dim)
    assert float(cos[0]) == pytest.approx(np.cos(1.0)) and float(sin[dim // 2]) == pytest.approx(np.sin(1.0))


def test_positions_count_from_the_first_real_item():
    pad = N_ITEMS
    history = torch.tensor([[pad, pad, 3, 4, 5], [1, 2, 3, 4, 5]])
    assert real_item_positions(history == pad).tolist() == [[0, 0, 0, 1, 2], [0, 1, 2, 3, 4]]


def test_the_fallback_rmsnorm_matches_torchs():
    torch.manual_seed(0)
    x = torch.randn(3, 5, 8)
    ours = SimpleRMSNorm(8, eps=1e-6)
    with torch.no_grad():
        ours.weight.uniform_(0.5, 1.5)
    expected = x / x.pow(2).mean(-1, keepdim=True).add(1e-6).sqrt() * ours.weight
    torch.testing.assert_close(ours(x), expected)
    if hasattr(torch.nn, "RMSNorm"):
        theirs = torch.nn.RMSNorm(8, eps=1e-6)
        theirs.load_state_dict(ours.state_dict())
        torch.testing.assert_close(ours(x), theirs(x))


def test_an_output_does_not_depend_on_later_items():
    assert_causal(net(), N_ITEMS)


def test_real_positions_do_not_depend_on_the_padding():
    long, empty = padded_states(net(), N_ITEMS)
    assert torch.count_nonzero(long[0, :-4]) == 0  # pad states are zero
    assert torch.isfinite(empty).all()  # an empty history


def test_the_network_trains_every_weight_and_has_no_biases():
    model = net().train()
    assert not [name for name, _ in model.named_parameters() if name.endswith("bias")]
    out = model(pad_histories([[1, 2, 3], [4, 5, 6, 7, 8]], N_ITEMS, 6))
    model.logits(out[:, -1]).logsumexp(-1).sum().backward()
    silent = [name for name, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert silent == []


@pytest.mark.parametrize(("kw", "message"), [
    ({"hidden": 10, "heads": 4}, r"argument hidden \(10\) must be a multiple of heads \(4\)"),
    ({"hidden": 12, "heads": 4}, r"argument hidden \(12\) must be a multiple of 2 x heads \(8\)"),
    ({"blocks": 0}, "argument blocks must be"),
    ({"dropout": 1.0}, "argument dropout must be"),
    ({"window": 0}, "argument window must be"),
    ({"lr": -1.0}, "argument lr must be"),
])
def test_bad_arguments_name_the_model_and_the_argument(kw, message):
    with pytest.raises(ValueError, match="Transformer\\+\\+: " + message):
        TransformerPP(**kw)


@pytest.mark.parametrize(("strides", "epochs", "least"), [((1,), 8, 0.9), ((1, 2, 3), 25, 0.85)])
def test_learns_a_successor_rule_and_beats_most_popular(strides, epochs, least):
    """Both train in about a second; most-popular scores about 0.2 to 0.35 here."""
    model, ours, popular = stride_rule_ndcg(
        TransformerPP(hidden=32, blocks=1, heads=2, dropout=0.1, window=8, epochs=epochs, batch_size=32, lr=5e-3,
                      patience=epochs), strides, N_ITEMS)
    ndcg = {"transformerpp": ours, "popular": popular}
    assert ndcg["transformerpp"] > least, ndcg
    assert ndcg["transformerpp"] > ndcg["popular"] + 0.5, ndcg
    assert model.extra_stats()["valid_best"] > least
