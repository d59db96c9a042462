"""The DLRM zoo (RecBench groups A–C): every model in every item representation fits and scores,
learns beyond item popularity on synthetic data, says its representation in its metadata and in
results, and rejects bad arguments; the shared interaction layers match hand-worked cases."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pytest
import torch
from helpers_models import contract_problems, fitted, seq_fixture, torch_threads
from torch import nn

from benchmark.api import CTRFitData, ModelError
from benchmark.data.synthetic import generate
from benchmark.protocol import ProtocolSpec, build_task_data
from benchmark.registry import get_model
from benchmark.requests import ScoreRequest
from benchmark.stats import paired_test
from models.baselines.popularity import MostPopular
from models.layers.collate import pad_histories
from models.layers.cross import CrossAndDeep, CrossLayer, CrossLayerV2, CrossNetwork, GatedCrossLayer
from models.layers.fields import ItemVectors, UserItemFields
from models.layers.gating import BilinearFusion, FeatureSelection, MaskBlock
from models.layers.interaction import InteractingLayer, fm_second_order, pairwise_inner_products
from tasks.ctr import CTRTask

ZOO = ("dnn", "pnn", "deepfm", "dcn", "dcnv2", "autoint", "gdcn", "finalmlp", "masknet")
REPRS = ("id", "text", "both")
NAMES = {"dnn": "DNN", "pnn": "PNN", "deepfm": "DeepFM", "dcn": "DCN", "dcnv2": "DCNv2", "autoint": "AutoInt",
         "gdcn": "GDCN", "finalmlp": "FinalMLP", "masknet": "MaskNet"}
# On a split of 8k rows the defaults (batch 128, lr 1e-3) need about 20 epochs to get past the
# popularity plateau; larger batches at a higher rate get there in a few, at a fraction of the time.
FAST = {"batch_size": 256, "lr": 3e-3, "epochs": 8}


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    with torch_threads(1):
        yield


@dataclass
class Split:
    catalogue: object
    fit: CTRFitData
    test: list[ScoreRequest]
    labels: np.ndarray
    users: np.ndarray

    def table(self, scores: np.ndarray) -> dict[str, np.ndarray]:
        return {"user": self.users, "label": self.labels, "score": scores}


@lru_cache(maxsize=1)
def synthetic() -> Split:
    """The synthetic catalogue's CTR task on 1000 users and 100 items: 8k training rows, and 2.9k
    test rows from 245 users, enough for the paired bootstrap over users to separate a model a few
    AUC points above popularity; small enough to train nine models twice in about a minute. The item
    text names each item's category and brand, which MiniLM reads."""
    ds = generate(n_users=1000, n_items=100, seed=0)
    spec = ProtocolSpec.from_overrides({"ctr_positives_per_user": 4, "ctr_test_rows": 3000,
                                       "ctr_max_test_user_fraction": 0.25})
    td = build_task_data(ds, spec, ("ctr",), cache_dir=None)["ctr"]
    task = CTRTask()
    users = np.asarray(td.splits["test"]["user"], dtype=np.int64)
    return Split(td.catalogue, task.fit_data(td), task.requests(td), task.labels(td), users)


@lru_cache(maxsize=None)
def trained(key: str, item_repr: str):
    return fitted(get_model(key)(item_repr=item_repr, **FAST), synthetic().catalogue, synthetic().fit)


@pytest.mark.parametrize("item_repr", ["id", "text"])
@pytest.mark.parametrize("key", ZOO)
def test_learns_beyond_item_popularity(key, item_repr):
    data = synthetic()
    popular = fitted(MostPopular(), data.catalogue, data.fit).score(data.test)
    model = trained(key, item_repr)
    test = paired_test("ctr", "auc", data.table(model.score(data.test)), data.table(popular), n_boot=1000)
    assert test["diff"] > 0 and test["p"] < 0.05, test
    stats = model.extra_stats()
    assert 1 <= stats["best_epoch"] <= stats["epochs_run"] <= FAST["epochs"]


@pytest.mark.parametrize("item_repr", REPRS)
@pytest.mark.parametrize("key", ZOO)
def test_every_representation_fits_and_scores_probabilities(key, item_repr):
    data = synthetic()
    small = CTRFitData(data.fit.train[:600], data.fit.train_labels[:600], data.fit.valid[:200],
                       data.fit.valid_labels[:200])
    model = fitted(get_model(key)(item_repr=item_repr, epochs=1), data.catalogue, small)
    long = tuple(range(data.catalogue.n_items))[::-1]
    requests = data.test[:50] + [ScoreRequest(0, (), 5), ScoreRequest(1, long, 7)]
    scores = model.score(requests)
    assert scores.shape == (len(requests),) and scores.dtype == np.float64
    assert np.isfinite(scores).all() and ((scores >= 0) & (scores <= 1)).all()
    assert model.score([]).shape == (0,)
    assert model.extra_stats()["epochs_run"] == 1


@pytest.mark.parametrize("key", ZOO)
def test_registered_and_keeps_its_contract(key):
    cls = get_model(key)
    assert contract_problems(key, cls) == []
    with pytest.raises(ModelError, match="CTR"):
        fitted(cls(), seq_fixture().catalogue, seq_fixture().fit)


@pytest.mark.parametrize("key", ZOO)
def test_metadata_names_the_item_representation(key):
    cls, name = get_model(key), NAMES[key]
    assert (cls.meta.name, cls.meta.item_repr, cls.meta.group) == (name, "id", "A")
    expected = {"id": (name, "id", "A"), "text": (f"{name} (text)", "text", "B"),
                "both": (f"{name} (text+id)", "emb", "C")}
    for item_repr, want in expected.items():
        meta = cls.meta_for({"item_repr": item_repr, "epochs": 3})
        assert (meta.name, meta.item_repr, meta.group) == want
        assert cls(item_repr=item_repr).meta == meta
        assert meta.paradigm == "dlrm" and meta.supports == ("score",) and "RecBench" in meta.citation
    assert cls.meta_for({}) == cls.meta
    assert cls.meta_for({"item_repr": ["text"]}) == cls.meta  # a bad value fails when the run starts


def test_text_vectors_are_frozen_and_counted():
    data = synthetic()
    n, d = data.catalogue.n_items, 8
    sizes = {}
    for item_repr in REPRS:
        model = get_model("dnn")(item_repr=item_repr, embed_dim=d, hidden=())
        model.setup(data.catalogue, 0)
        sizes[item_repr] = model.num_parameters()
        frozen = [p for p in model.net.parameters() if not p.requires_grad]
        assert [tuple(p.shape) for p in frozen] == ([] if item_repr == "id" else [(n + 1, 384)])
    mlp = 3 * d + 1
    assert sizes == {"id": (n + 1) * d + mlp, "text": (n + 1) * 384 + 384 * d + mlp,
                     "both": (n + 1) * (d + 384) + 384 * d + mlp}


def test_same_seed_same_scores_in_text_representation():
    data = synthetic()
    small = CTRFitData(data.fit.train[:1000], data.fit.train_labels[:1000], data.fit.valid, data.fit.valid_labels)

    def run(seed):
        model = get_model("dcnv2")(item_repr="both", epochs=2, batch_size=512)
        return fitted(model, data.catalogue, small, seed).score(data.test)

    first = run(3)
    assert np.array_equal(first, run(3)) and not np.array_equal(first, run(4))


def test_the_runner_records_and_the_leaderboard_shows_the_representation(tmp_path):
    from benchmark.results import read_result
    from benchmark.runner.config import parse_config
    from benchmark.runner.run import run_plan
    from leaderboard.build import build

    config = parse_config({
        "name": "zoo", "results_dir": str(tmp_path / "results"), "cache_dir": str(tmp_path / "cache"),
        "protocol": {"ctr_test_rows": 200, "ctr_finetune_rows": 1000, "latency_sample": 2, "latency_warmup": 1},
        "datasets": {"syn": {"adapter": "synthetic", "n_users": 1000, "n_items": 100, "seed": 0}},
        "tasks": ["ctr"],
        "models": [{"key": "deepfm", "args": {"item_repr": "text", "epochs": 1}},
                   {"key": "deepfm", "args": {"epochs": 1}}],
    })
    assert run_plan(config).ok
    results = [read_result(p) for p in sorted((tmp_path / "results").glob("*.json"))]
    assert sorted((r["model"]["meta"]["name"], r["model"]["meta"]["item_repr"], r["model"]["meta"]["group"])
                  for r in results) == [("DeepFM", "id", "A"), ("DeepFM (text)", "text", "B")]
    page = build(tmp_path / "results", tmp_path / "site").index.read_text()
    assert "DeepFM (text)" in page


@pytest.mark.parametrize(("key", "kwargs", "message"), [
    ("deepfm", {"item_repr": "emb"}, "DeepFM: argument item_repr must be one of ['id', 'text', 'both'], got 'emb'"),
    ("dnn", {"item_repr": None}, "DNN: argument item_repr must be one of"),
    ("pnn", {"hidden": (64, 0)}, "PNN: argument hidden must be a list of positive integers, got [64, 0]"),
    ("masknet", {"dropout": 1.0}, "MaskNet: argument dropout must be a probability in [0, 1)"),
    ("dcn", {"cross_layers": 0}, "DCN: argument cross_layers must be a positive integer, got 0"),
    ("dcnv2", {"structure": "serial"}, "DCNv2: argument structure must be one of ['parallel', 'stacked']"),
    ("gdcn", {"cross_layers": 2.5}, "GDCN: argument cross_layers must be a positive integer"),
    ("autoint", {"layers": 0}, "AutoInt: argument layers must be a positive integer"),
    ("autoint", {"attention_dim": 60, "heads": 8},
     "AutoInt: argument attention_dim (60) must be a multiple of heads (8)"),
    ("finalmlp", {"hidden": ()}, "FinalMLP: argument hidden must be a non-empty list of positive integers, got []"),
    ("finalmlp", {"hidden2": (30,), "heads": 4},
     "FinalMLP: argument hidden2[-1] (30) must be a multiple of heads (4)"),
    ("masknet", {"reduction_ratio": 0}, "MaskNet: argument reduction_ratio must be a finite number > 0"),
    ("masknet", {"block_dim": -1}, "MaskNet: argument block_dim must be a positive integer"),
    ("dcnv2", {"embed_dim": 0}, "DCNv2: argument embed_dim must be a positive integer"),
    ("gdcn", {"epochs": 0}, "GDCN: argument epochs must be a positive integer"),
])
def test_bad_arguments_name_the_model_the_argument_and_the_value(key, kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        get_model(key)(**kwargs)


def test_an_unknown_argument_lists_the_known_ones():
    with pytest.raises(TypeError, match=r"DCN takes no argument\(s\) \['cross_num'\]; its arguments are "
                                        r"\['cross_layers', 'structure', 'hidden', 'dropout', 'item_repr', "):
        get_model("dcn")(cross_num=3)


# The shared layers against hand-worked cases.

def _set(param: torch.Tensor, values) -> None:
    with torch.no_grad():
        param.copy_(torch.as_tensor(values, dtype=param.dtype))


V = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]])  # one example, three 2-d fields


def test_fm_second_order_is_the_sum_over_field_pairs():
    # <v1,v2> = 11, <v1,v3> = 17, <v2,v3> = 39
    assert pairwise_inner_products(V).tolist() == [[11.0, 17.0, 39.0]]
    assert fm_second_order(V).tolist() == [67.0]
    v = torch.randn(4, 5, 3)
    brute = sum((v[:, i] * v[:, j]).sum(-1) for i in range(5) for j in range(i + 1, 5))
    torch.testing.assert_close(fm_second_order(v), brute)
    torch.testing.assert_close(pairwise_inner_products(v).sum(-1), brute)


def test_dcn_cross_layer_on_a_2d_example():
    layer = CrossLayer(2)
    _set(layer.weight.weight, [[0.5, -1.0]])
    _set(layer.bias, [0.1, 0.2])
    x0 = torch.tensor([[1.0, 2.0]])
    # x0 xᵀw + b + x with x = x0: xᵀw = -1.5 → [-1.5, -3] + [0.1, 0.2] + [1, 2]
    torch.testing.assert_close(layer(x0, x0), torch.tensor([[-0.4, -0.8]]))


def test_dcnv2_cross_layer_is_the_matrix_form():
    layer = CrossLayerV2(2)
    _set(layer.linear.weight, [[1.0, 2.0], [0.0, -1.0]])
    _set(layer.linear.bias, [0.5, 0.0])
    x0, x = torch.tensor([[1.0, 2.0]]), torch.tensor([[3.0, -1.0]])
    # W x + b = [1.5, 1]; x0 ⊙ that = [1.5, 2]; + x
    torch.testing.assert_close(layer(x0, x), torch.tensor([[4.5, 1.0]]))
    gated = GatedCrossLayer(2)
    _set(gated.cross.weight, layer.linear.weight)
    _set(gated.cross.bias, layer.linear.bias)
    _set(gated.gate.weight, torch.zeros(2, 2))  # σ(0) = ½ halves every cross feature
    torch.testing.assert_close(gated(x0, x), torch.tensor([[3.75, 0.0]]))


def test_cross_network_feeds_x0_to_every_layer():
    layers = [CrossLayerV2(2), CrossLayerV2(2)]
    for layer in layers:
        _set(layer.linear.weight, torch.eye(2))
        _set(layer.linear.bias, torch.zeros(2))
    # x1 = x0 ⊙ x0 + x0 = [2, 6]; x2 = x0 ⊙ x1 + x1 = [4, 18]
    torch.testing.assert_close(CrossNetwork(layers)(torch.tensor([[1.0, 2.0]])), torch.tensor([[4.0, 18.0]]))
    fields = torch.randn(3, 2, 4)
    for structure in ("parallel", "stacked"):
        head = CrossAndDeep(CrossNetwork([CrossLayer(8)]), 8, (5,), 0.0, structure)
        assert head(fields).shape == (3,)
    assert CrossAndDeep(CrossNetwork([]), 8, (), 0.0, "parallel").out.in_features == 16
    with pytest.raises(ValueError, match="structure"):
        CrossAndDeep(CrossNetwork([]), 8, (), 0.0, "serial")


def test_autoint_interacting_layer_with_uniform_attention():
    layer = InteractingLayer(2, 2, heads=1)
    _set(layer.query.weight, torch.zeros(2, 2))  # equal scores: each field attends to the mean
    _set(layer.key.weight, torch.zeros(2, 2))
    _set(layer.value.weight, torch.eye(2))
    _set(layer.residual.weight, torch.eye(2))
    e = torch.tensor([[[1.0, -2.0], [3.0, 0.0]]])
    # ReLU(mean(e) + e_m): mean = [2, -1]
    torch.testing.assert_close(layer(e), torch.tensor([[[3.0, 0.0], [5.0, 0.0]]]))
    multi = InteractingLayer(4, 8, heads=4).eval()
    assert multi(torch.randn(5, 2, 4)).shape == (5, 2, 8)
    with pytest.raises(ValueError, match="multiple of heads"):
        InteractingLayer(4, 6, heads=4)


def test_finalmlp_bilinear_fusion_and_feature_selection():
    o1, o2 = torch.tensor([[1.0, 2.0]]), torch.tensor([[3.0, 4.0]])
    one = BilinearFusion(2, 2, heads=1)
    two = BilinearFusion(2, 2, heads=2)
    for fusion in (one, two):
        _set(fusion.linear1.weight, torch.zeros(1, 2))
        _set(fusion.linear1.bias, [0.0])
        _set(fusion.linear2.weight, torch.zeros(1, 2))
    _set(one.bilinear, [[[1.0, 0.0], [0.0, 2.0]]])
    _set(two.bilinear, [[[1.0]], [[2.0]]])
    # o1ᵀ diag(1, 2) o2 = 1·3 + 2·2·4 = 19, the same split into two heads
    assert one(o1, o2).tolist() == [19.0] and two(o1, o2).tolist() == [19.0]
    select = FeatureSelection(3, (4,), context_dim=2)
    for param in select.gate.parameters():
        _set(param, torch.zeros_like(param))
    x = torch.randn(2, 3)
    torch.testing.assert_close(select(x), x)  # 2σ(0) = 1: the gate starts open


def test_masknet_block_multiplies_by_the_instance_mask():
    block = MaskBlock(4, 4, 3).eval()
    emb, hidden = torch.randn(2, 4), torch.randn(2, 4)
    out = block(emb, hidden)
    assert out.shape == (2, 3) and (out >= 0).all()
    final = block.mask[-1]
    _set(final.weight, torch.zeros_like(final.weight))
    _set(final.bias, torch.zeros_like(final.bias))
    assert torch.equal(block(emb, hidden), torch.zeros(2, 3))  # a zero mask lets nothing through


@pytest.mark.parametrize("item_repr", REPRS)
def test_user_field_is_the_mean_of_the_history_items_vectors(item_repr):
    n, pad = 6, 6
    text = None if item_repr == "id" else np.random.default_rng(0).normal(size=(n, 5)).astype(np.float32)
    items = ItemVectors(n, 3, item_repr, text)
    history = pad_histories([(1, 4), ()], pad, 3)
    fields = UserItemFields(items)(history, torch.tensor([2, 5]))
    assert fields.shape == (2, 2, 3)
    torch.testing.assert_close(fields[0, 0], (items(torch.tensor(1)) + items(torch.tensor(4))) / 2)
    assert torch.equal(fields[1, 0], torch.zeros(3)) and torch.equal(items(torch.tensor(pad)), torch.zeros(3))
    torch.testing.assert_close(fields[:, 1], items(torch.tensor([2, 5])))
    assert isinstance(items.text, nn.Embedding) == (item_repr != "id")


def test_item_vectors_need_text_exactly_when_they_read_it():
    with pytest.raises(ValueError, match="needs item text"):
        ItemVectors(4, 2, "text")
    with pytest.raises(ValueError, match="takes no item text"):
        ItemVectors(4, 2, "id", np.zeros((4, 3), dtype=np.float32))
    with pytest.raises(ValueError, match="for 4 items"):
        ItemVectors(4, 2, "both", np.zeros((3, 3), dtype=np.float32))
    with pytest.raises(ValueError, match="item_repr"):
        ItemVectors(4, 2, "emb")
