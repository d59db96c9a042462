"""HSTU (models/seq/hstu.py): the relative bias and the SiLU attention on hand-checked values, a
network that neither looks ahead nor at its padding, the arguments it refuses, and training that
learns a deterministic successor rule on a tiny catalogue."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from helpers_models import assert_causal, contract_problems, padded_states, stride_rule_ndcg, torch_threads

from models.layers.collate import pad_histories
from models.seq.hstu import HSTU, HSTUBlock, HSTUNet, RelativePositionBias

N_ITEMS = 40


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    with torch_threads(1):
        yield


def net(**kw) -> HSTUNet:
    torch.manual_seed(0)
    args = dict(n_items=N_ITEMS, hidden=16, blocks=2, heads=2, dropout=0.0, max_length=12)
    args.update(kw)
    model = HSTUNet(**args).eval()
    with torch.no_grad():  # a bias large enough to matter in the comparisons below
        for block in model.blocks:
            if block.rab is not None:
                block.rab.weight.normal_(std=1.0)
    return model


def test_registered_and_keeps_its_contract():
    assert contract_problems("hstu", HSTU) == []
    model = HSTU()
    assert HSTU.meta.name == "HSTU" and model.window == 20
    assert (model.hidden, model.blocks, model.heads, model.dropout, model.relative_bias) == (64, 2, 1, 0.2, True)


def test_the_relative_bias_depends_only_on_the_offset():
    rab = RelativePositionBias(6)
    with torch.no_grad():
        rab.weight.copy_(torch.arange(6.0) * 10)
    bias = rab(8).detach()
    assert bias.shape == (8, 8)
    for i in range(8):
        for j in range(i + 1):
            assert float(bias[i, j]) == 10 * min(i - j, 5)  # offsets past the table share its last entry
    # a longer sequence sees the same bias on its first rows and columns
    torch.testing.assert_close(rab(12)[:8, :8].detach(), bias)


def test_attention_weights_are_silu_over_the_max_length_and_masked():
    torch.manual_seed(0)
    block = HSTUBlock(dim=8, heads=2, dropout=0.0, max_length=10)
    q, k = torch.randn(1, 2, 4, 4), torch.randn(1, 2, 4, 4)
    allowed = torch.ones(1, 1, 4, 4).tril()
    allowed[..., 1] = 0  # a masked key
    weights = block.attention_weights(q, k, allowed)
    scores = q @ k.transpose(-1, -2) + block.rab(4)
    expected = scores * torch.sigmoid(scores) / 10 * allowed
    torch.testing.assert_close(weights, expected)
    assert torch.count_nonzero(weights[..., 1]) == 0 and torch.count_nonzero(weights.triu(1)) == 0
    assert (weights < 0).any()  # SiLU, not a softmax: weights may be negative and need not sum to one
    assert not torch.allclose(weights.sum(-1)[..., 1:], torch.ones(1, 2, 3))


def test_the_block_is_eqs_1_to_3():
    """U, V, Q, K = Split(SiLU(f1(LN(x)))); y = x + f2(LN(A V) * U), one head, by hand."""
    torch.manual_seed(0)
    dim, length = 6, 5
    block = HSTUBlock(dim=dim, heads=1, dropout=0.0, max_length=8).eval()
    x = torch.randn(1, length, dim)
    allowed = torch.ones(1, 1, length, length).tril()
    u, v, q, k = F.silu(F.layer_norm(x, (dim,), eps=1e-6) @ block.uvqk.weight.T).split(dim, -1)
    offset = torch.arange(length).unsqueeze(1) - torch.arange(length).unsqueeze(0)
    scores = q @ k.transpose(-1, -2) + block.rab.weight[offset.clamp(min=0)]
    av = (F.silu(scores) / 8 * allowed[0]) @ v
    expected = x + F.layer_norm(av, (dim,), eps=1e-6) * u @ block.out.weight.T + block.out.bias
    torch.testing.assert_close(block(x, allowed, torch.ones(1, length, 1)), expected)


def test_an_output_does_not_depend_on_later_items():
    assert_causal(net(), N_ITEMS)


def test_states_do_not_depend_on_the_padding():
    long, empty = padded_states(net(), N_ITEMS)
    assert torch.count_nonzero(long[0, :-4]) == 0  # pad states are zero
    assert torch.isfinite(empty).all() and torch.count_nonzero(empty) == 0  # an empty history


def test_the_bias_matters_and_can_be_switched_off():
    with torch.no_grad():
        history = pad_histories([[3, 7, 1, 9, 12]], N_ITEMS, 8)
        with_bias = net()(history)
        without = net(relative_bias=False)
    assert all(block.rab is None for block in without.blocks)
    assert not torch.allclose(with_bias, without(history))


def test_the_network_trains_every_weight():
    model = net().train()
    out = model(pad_histories([[1, 2, 3], [4, 5, 6, 7, 8]], N_ITEMS, 6))
    model.logits(out[:, -1]).logsumexp(-1).sum().backward()
    silent = [name for name, p in model.named_parameters()
              if p.grad is None or not p.grad.abs().sum() > 0]
    assert silent == []


@pytest.mark.parametrize(("kw", "message"), [
    ({"hidden": 10, "heads": 4}, r"argument hidden \(10\) must be a multiple of heads \(4\)"),
    ({"blocks": 0}, "argument blocks must be"),
    ({"heads": 0}, "argument heads must be"),
    ({"dropout": 1.0}, "argument dropout must be"),
    ({"relative_bias": "yes"}, "argument relative_bias must be true or false"),
    ({"window": 0}, "argument window must be"),
    ({"lr": -1.0}, "argument lr must be"),
])
def test_bad_arguments_name_the_model_and_the_argument(kw, message):
    with pytest.raises(ValueError, match="HSTU: " + message):
        HSTU(**kw)


@pytest.mark.parametrize(("strides", "epochs", "least"), [((1,), 8, 0.9), ((1, 2, 3), 25, 0.85)])
def test_learns_a_successor_rule_and_beats_most_popular(strides, epochs, least):
    """Most-popular scores about 0.2 to 0.35 here."""
    model, ours, popular = stride_rule_ndcg(
        HSTU(hidden=32, blocks=1, heads=2, dropout=0.1, window=8, epochs=epochs, batch_size=32, lr=5e-3,
             patience=epochs), strides, N_ITEMS)
    ndcg = {"hstu": ours, "popular": popular}
    assert ndcg["hstu"] > least, ndcg
    assert ndcg["hstu"] > ndcg["popular"] + 0.5, ndcg
    assert model.extra_stats()["valid_best"] > least
