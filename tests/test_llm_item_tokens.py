"""llm-id and llm-sid (models/llm/item_token_model.py, item_tokens.py) on a tiny random Llama
built in the test, never the real SmolLM2; adapters and codes go to a cache folder of the test's
own.

Generated rankings only hold real items; with a beam at least the catalogue size the full-
catalogue top-K is the brute-force ranking of every item's sequence log-likelihood, exactly;
sampled candidates score their teacher-forced sums; new rows start at their titles' means; a
cached adapter restores the model; training learns a plain successor pattern."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from helpers_models import contract_problems
from safetensors import safe_open

from benchmark.api import CTRFitData, ModelError, SeqFitData
from benchmark.data.dataset import Catalogue
from benchmark.llm import load_backend
from benchmark.registry import get_model
from benchmark.requests import RankRequest, ScoreRequest, TopK
from models.llm import lora
from models.llm.llm_id import LLMID
from models.llm.llm_sid import LLMSID
from tasks import CTRTask, SeqRecTask

pytestmark = pytest.mark.usefixtures("isolated_llm_cache")  # conftest: own cache, one torch thread

TITLES = ["The Dark Knight", "Toy Story", "The Matrix", "Finding Nemo", "Garden Hose", "Garden Rake",
          "Space Travel Guide", "Kitchen Knife", "News Weekly", "Video Games"]
N = len(TITLES)
SID = {"kind": "sid-rqkmeans", "levels": 2, "codebook_size": 3}  # 3 x 3 codes plus disambiguation
VARIANTS = {"llm-id": {}, "llm-id-number": {"tokenizer": "number-id"}, "llm-sid": {"tokenizer": SID}}
# Small and fast: float32 so that scores compare tightly, a high learning rate, a short history.
FAST = dict(dtype="float32", max_history=3, lora_r=8, lora_alpha=16, lr=1e-2, train_batch_size=8, max_steps=60,
            epochs=20, eval_every=20, patience=10, seq_valid_users=6, seq_valid_candidates=5, valid_rows=20,
            beam_width=N, top_k=N, batch_size=32)


def successor_data(n_sequences: int = 60) -> SeqFitData:
    """Item x is followed by item x + 1 (mod N), except at random jumps (a quarter of the
    steps), so only the last item tells the next one, not the first item or the position."""
    rng = np.random.default_rng(0)

    def seq(s: int) -> tuple[int, ...]:
        items = [int(rng.integers(N))]
        while len(items) < 2 + s % 4:
            items.append(int(rng.integers(N)) if rng.random() < 0.25 and len(items) < 1 + s % 4 else (items[-1] + 1) % N)
        return tuple(items)

    sequences = [seq(s) for s in range(n_sequences + 6)]
    return SeqFitData(sequences=sequences[:n_sequences],
                      valid=[RankRequest(100 + s, q[:-1]) for s, q in enumerate(sequences[n_sequences:])],
                      valid_targets=np.array([q[-1] for q in sequences[n_sequences:]]),
                      valid_seen=[q[:-1] for q in sequences[n_sequences:]], n_items=N)


SEQ = successor_data()
REQUESTS = [RankRequest(0, (0, 1)), RankRequest(1, (4,)), RankRequest(2, ()), RankRequest(3, (7, 8, 9, 2, 3))]


@pytest.fixture(scope="module")
def catalogue():
    items = pd.DataFrame({"title": TITLES, "category": [""] * N, "brand": [""] * N, "description": [""] * N})
    return Catalogue(items=items, dataset_name="toy")


def build(checkpoint, catalogue, variant="llm-id", tasks=("seqrec",), **kwargs):
    key = variant.removesuffix("-number")
    cls = get_model(key)
    arguments = {"model_path": str(checkpoint), **FAST, **VARIANTS[variant], **kwargs}
    model = cls(**arguments)
    meta = cls.meta_for(arguments)
    model.prompts = {t: (SeqRecTask() if t == "seqrec" else CTRTask()).prompt_for(meta.item_repr).to_order() for t in tasks}
    model.setup(catalogue, seed=0)
    return model


@pytest.fixture(scope="module")
def fitted(checkpoint, catalogue):
    """One fitted model per variant, fitted once for the module."""
    out = {}

    def get(variant):
        if variant not in out:
            out[variant] = build(checkpoint, catalogue, variant)
            out[variant].fit(SEQ)
        return out[variant]

    return get


def brute_force(model, request):
    """Every item's summed log-probability after the request's prompt, each prompt + item run
    whole on its own (no KV cache, no batching): the reference the beam search must equal."""
    prompt = model._seq_prompt(request.history)
    return model.backend.sequence_logprobs(prompt, model.vocab.sequences, "sum", naive=True)


# -- the contract and the arguments ----------------------------------------------------------------

@pytest.mark.parametrize(("key", "cls", "repr_", "group"), [("llm-id", LLMID, "id", "I"), ("llm-sid", LLMSID, "sid", "J")])
def test_registered_and_keeps_its_contract(key, cls, repr_, group):
    assert contract_problems(key, cls) == []
    meta = cls.meta
    assert (meta.item_repr, meta.group, meta.paradigm, meta.scheme, meta.backend) == (repr_, group, "llm", "fine-tuned", "hf")
    assert cls().dtype == "bfloat16"


def test_names_follow_the_tokenizer():
    assert LLMID.meta_for({}).name == "LLM-ID" and LLMID.meta_for({"tokenizer": "number-id"}).name == "LLM-ID (number-id)"
    assert LLMSID.meta_for({"tokenizer": {"kind": "sid-rqvae"}}).name == "LLM-SID (sid-rqvae)"
    assert LLMSID.meta_for({"tokenizer": 3}).name == "LLM-SID"


@pytest.mark.parametrize(("key", "kwargs", "message"), [
    ("llm-id", {"tokenizer": "sid-rqkmeans"}, "LLM-ID: argument tokenizer kind must be one of ['unique-id', 'number-id']"),
    ("llm-sid", {"tokenizer": "unique-id"}, "LLM-SID: argument tokenizer kind must be one of ['sid-rqvae', 'sid-rqkmeans']"),
    ("llm-sid", {"tokenizer": {"kind": "sid-rqkmeans", "levels": 0}}, "LLM-SID: argument tokenizer is not a valid item tokenizer"),
    ("llm-sid", {"tokenizer": {"kind": "sid-rqkmeans", "width": 3}}, "unknown settings ['width']"),
    ("llm-id", {"tokenizer": 3}, "LLM-ID: argument tokenizer must be a kind name or a config dict, got 3"),
    ("llm-id", {"top_k": 30}, "LLM-ID: argument top_k (30) must not exceed beam_width (20)"),
    ("llm-id", {"beam_width": 0}, "LLM-ID: argument beam_width must be a positive integer, got 0"),
    ("llm-sid", {"top_k": -1}, "LLM-SID: argument top_k must be a positive integer, got -1"),
    ("llm-id", {"backend": "onnx"}, "LLM-ID: argument backend must be 'hf', got 'onnx'"),
    ("llm-sid", {"lora_r": 0}, "lora_r"),
    ("llm-sid", {"max_history": -1}, "max_history"),
])
def test_bad_arguments_name_the_model_the_argument_and_the_value(key, kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        get_model(key)(**kwargs)


def test_vllm_is_refused_with_the_reason():
    with pytest.raises(ModelError, match=r"LLM-SID runs on the HF engine only \(backend: hf\): vLLM 0.32 cannot"):
        LLMSID(backend="vllm")


# -- the vocabulary -----------------------------------------------------------------------------

def test_new_rows_start_at_the_title_token_mean(checkpoint, catalogue):
    base = load_backend("hf", model_path=str(checkpoint))
    model = build(checkpoint, catalogue, "llm-id")
    embed_in = model.backend.model.get_input_embeddings().weight
    embed_out = model.backend.model.get_output_embeddings().weight
    assert embed_in is not embed_out  # the tiny model's LM head is untied: both are set
    for item, title in enumerate(TITLES):
        row = model.vocab.new_token_ids[item]
        assert model.vocab.sequences[item] == (row,) and model.vocab.texts[item] == f"<item_{item}>"
        tokens = base.tokenize(title)
        for weight, reference in ((embed_in, base.model.get_input_embeddings().weight),
                                  (embed_out, base.model.get_output_embeddings().weight)):
            torch.testing.assert_close(weight[row], reference[tokens].mean(dim=0), rtol=1e-6, atol=1e-6)
    old = base.model.get_input_embeddings().weight.shape[0]
    torch.testing.assert_close(embed_in[:old], base.model.get_input_embeddings().weight)  # the rest untouched


def test_semantic_id_rows_start_at_their_items_centroid(checkpoint, catalogue):
    base = load_backend("hf", model_path=str(checkpoint))
    model = build(checkpoint, catalogue, "llm-sid")
    codes, vocab = model.vocab.codes, model.vocab
    weight = model.backend.model.get_input_embeddings().weight
    title_means = torch.stack([base.model.get_input_embeddings().weight[base.tokenize(t)].mean(dim=0) for t in TITLES])
    assert codes.level_sizes[:2] == (3, 3) and len(vocab.new_token_ids) == codes.vocab_size
    for level, size in enumerate(codes.level_sizes):
        for code in range(size):
            users = np.flatnonzero(codes.codes[:, level] == code)
            row = vocab.new_token_ids[codes.level_offsets[level] + code]
            expected = title_means[users].mean(dim=0) if len(users) else title_means.mean(dim=0)
            torch.testing.assert_close(weight[row], expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("variant", VARIANTS)
def test_prompts_show_items_as_exactly_their_answer_tokens(checkpoint, catalogue, variant):
    model = build(checkpoint, catalogue, variant)
    prompt = model._seq_prompt((2, 5))
    texts = model.vocab.texts
    assert prompt == f"A user's items, oldest first: {texts[2]} {texts[5]} "
    assert model._seq_prompt(()) == "A user's items, oldest first: "
    for item in range(N):
        ids = model.backend.tokenize(texts[item])
        end = () if model.vocab.end_token is None else (model.vocab.end_token,)
        assert tuple(ids) + end == model.vocab.sequences[item]
    assert model.templates["seqrec"].name == "seqrec_next_item__item_tokens"


@pytest.mark.parametrize("variant", VARIANTS)
def test_one_pass_trains_every_next_item_of_a_sequence_as_ranking_scores_it(checkpoint, catalogue, variant):
    """A training sequence is one example that scores each item after the first given the
    prompt of the items before it: its loss is minus the mean, over the scored tokens, of the
    log-likelihoods that ranking gives those items after those prompts."""
    from models.llm.lora import token_loss

    model = build(checkpoint, catalogue, variant)
    items = (3, 0, 7, 7 if variant == "llm-sid" else 9)
    ids, labels = model._seq_example(items)
    answers = [model.vocab.sequences[i] for i in items[1:]]
    assert [t for t in labels if t != -100] == [t for a in answers for t in a]
    assert ids[: len(model.backend.encode_prompt(model._seq_prompt(items[:1])))] == \
        model.backend.encode_prompt(model._seq_prompt(items[:1]))
    scores = [model.backend.sequence_logprobs(model._seq_prompt(items[:k]), [answers[k - 1]], "sum")[0]
              for k in range(1, len(items))]
    with torch.no_grad():
        loss = token_loss(model.backend.model, model.backend.tokenizer.pad_token_id, [ids, ids[:5] + ids[5:]],
                          [labels, labels]).item()
    assert loss == pytest.approx(-sum(scores) / sum(map(len, answers)), abs=1e-4)
    units = model._seq_units(SeqFitData([tuple(range(8)), (1,), (4, 2)], [], np.zeros(0), [], N))
    assert units == [(4, 5, 6, 7), (4, 2)]  # the last max_history + 1 items; one-item sequences dropped


def test_the_runner_hands_item_token_models_their_template():
    from benchmark.runner.spec import PlannedRun

    def prompts(key):
        cls = get_model(key)
        run = PlannedRun(ref=None, meta=cls.meta, code="", task=SeqRecTask("full"), dataset="d", seed=0, protocol=None)
        return run.prompts()["seqrec"]["name"], run.template["name"]

    assert prompts("llm-sid") == prompts("llm-id") == ("seqrec_next_item__item_tokens",) * 2
    assert prompts("llm-zeroshot-text") == ("seqrec_next_item",) * 2
    assert CTRTask().prompt_for(LLMSID.meta.item_repr).name == "ctr_yes_no"


# -- ranking ------------------------------------------------------------------------------------

@pytest.mark.parametrize("variant", VARIANTS)
def test_every_generated_item_is_real_unseen_and_ranked_by_its_likelihood(fitted, variant):
    model = fitted(variant)
    top = model.rank(REQUESTS)
    assert isinstance(top, TopK) and top.items.shape == (len(REQUESTS), N)
    for row, request in enumerate(REQUESTS):
        listed = top.items[row][top.items[row] >= 0]
        assert len(listed) == N - len(set(request.history))  # every unseen item, once: valid-item rate 100%
        assert set(listed.tolist()) == set(range(N)) - set(request.history)
        scores = top.scores[row][: len(listed)]
        assert np.isfinite(scores).all() and (np.diff(scores) <= 0).all()


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("batch_size", [1, 64])
def test_full_ranking_equals_brute_force_enumeration(checkpoint, catalogue, fitted, variant, batch_size):
    """Beam width = catalogue size: the top-K is every item's exact log-likelihood, sorted; one
    request per forward pass, or several left-padded prompts of different lengths in one."""
    model = fitted(variant)
    model.backend.batch_size = batch_size
    try:
        top = model.rank(REQUESTS)
    finally:
        model.backend.batch_size = FAST["batch_size"]
    for row, request in enumerate(REQUESTS):
        scores = brute_force(model, request)
        scores[list(request.history)] = -np.inf
        order = np.argsort(-scores, kind="stable")[: N - len(set(request.history))]
        listed = top.items[row][top.items[row] >= 0]
        assert listed.tolist() == order.tolist()
        np.testing.assert_allclose(top.scores[row][: len(listed)], scores[order], rtol=0, atol=1e-5)


def test_a_narrow_beam_finds_real_items_only(fitted):
    model = fitted("llm-sid")
    model.beam_width, model.top_k = 3, 2
    try:
        top = model.rank(REQUESTS)
    finally:
        model.beam_width, model.top_k = N, N
    assert top.items.shape == (len(REQUESTS), 2) and ((top.items >= 0) & (top.items < N)).all()
    for row, request in enumerate(REQUESTS):
        np.testing.assert_allclose(top.scores[row], brute_force(model, request)[top.items[row]], atol=1e-5)


@pytest.mark.parametrize("variant", VARIANTS)
def test_sampled_candidates_score_their_teacher_forced_sums(fitted, variant):
    model = fitted(variant)
    rng = np.random.default_rng(0)
    requests = [RankRequest(r.user, r.history, rng.permutation(N)[:6]) for r in REQUESTS]
    scores = model.rank(requests)
    assert scores.shape == (len(REQUESTS), 6)
    for row, request in enumerate(requests):
        np.testing.assert_allclose(scores[row], brute_force(model, request)[request.candidates], rtol=0, atol=1e-5)
    assert (scores <= 0).all()


def test_empty_and_unfitted_requests(checkpoint, catalogue, fitted):
    assert fitted("llm-sid").rank([]).items.shape == (0, N)
    with pytest.raises(ModelError, match="call fit"):
        build(checkpoint, catalogue, "llm-id").rank(REQUESTS)
    with pytest.raises(ModelError, match="'ctr' prompt template"):
        fitted("llm-id").score([ScoreRequest(0, (1,), 2)])


# -- training and the adapter cache ---------------------------------------------------------------

def test_training_learns_the_successor_pattern(checkpoint, catalogue, fitted):
    model = fitted("llm-id")
    log = model.train_log
    assert log.steps == 60 and np.mean(log.losses[-10:]) < np.mean(log.losses[:10]) - 1.0
    requests = [RankRequest(u, ((u + 5) % N, u)) for u in range(N)]
    before = build(checkpoint, catalogue, "llm-id")  # the initial rows, no adapter
    untrained = before.backend.trie_beam_search([before._seq_prompt(r.history) for r in requests], before.vocab.trie,
                                                N, 1, exclude=[r.history for r in requests])
    hits = {name: np.mean([items[0] == (u + 1) % N for u, items in enumerate(top.items)])
            for name, top in (("before", untrained), ("after", model.rank(requests)))}
    assert hits["after"] >= 0.9 and hits["before"] < 0.5, hits


def test_the_saved_adapter_holds_the_trained_rows(fitted):
    from pathlib import Path

    model = fitted("llm-id")
    with safe_open(Path(model.adapter_dir) / "adapter_model.safetensors", "pt") as f:
        keys = list(f.keys())
        rows = {k: f.get_tensor(k) for k in keys if "trainable_tokens_delta" in k}
    assert {k.split(".token_adapter")[0].rsplit(".", 1)[-1] for k in rows} == {"embed_tokens", "lm_head"}
    assert all(v.shape == (N, 32) and v.dtype == torch.float32 for v in rows.values())
    assert any("lora_A" in k for k in keys) and not any(k.endswith("embed_tokens.weight") for k in keys)
    ids = list(model.vocab.new_token_ids)
    for name, weight in (("embed_tokens", model.backend.model.get_input_embeddings().weight),
                         ("lm_head", model.backend.model.get_output_embeddings().weight)):
        stored = next(v for k, v in rows.items() if name in k)
        torch.testing.assert_close(weight[ids], stored)  # served from the matrix itself (merged)
    assert model.train_log.steps > 0 and ids == list(range(ids[0], ids[0] + N))


@pytest.mark.parametrize("variant", ["llm-id", "llm-sid"])
def test_a_cache_hit_restores_identical_scores(checkpoint, catalogue, fitted, variant, monkeypatch):
    first = fitted(variant)

    def refuse(*args, **kwargs):
        raise AssertionError("trained although the adapter is cached")

    monkeypatch.setattr(lora, "train_adapter", refuse)
    again = build(checkpoint, catalogue, variant)
    again.fit(SEQ)
    assert again.adapter_cached and again.adapter_dir == first.adapter_dir
    full_a, full_b = first.rank(REQUESTS), again.rank(REQUESTS)
    np.testing.assert_array_equal(full_a.items, full_b.items)
    np.testing.assert_array_equal(full_a.scores, full_b.scores)
    sampled = [RankRequest(r.user, r.history, np.arange(N)) for r in REQUESTS]
    np.testing.assert_array_equal(first.rank(sampled), again.rank(sampled))
    assert again.extra_stats()["adapter_cached"] is True
    other = build(checkpoint, catalogue, variant, max_history=2)
    with pytest.raises(AssertionError, match="trained although"):
        other.fit(SEQ)


def test_the_cache_key_holds_the_tokenizer_and_its_codes(checkpoint, catalogue):
    a = build(checkpoint, catalogue, "llm-sid")
    b = build(checkpoint, catalogue, "llm-sid", tokenizer={**SID, "seed": 1})
    extra_a, extra_b = a._adapter_extra("seqrec"), b._adapter_extra("seqrec")
    assert extra_a["item_tokens"]["config"] == {**SID, "seed": 0}
    assert extra_a["item_tokens"]["codes_sha256"] == a.vocab.digest and len(a.vocab.digest) == 64
    assert extra_a["item_tokens"]["config"] != extra_b["item_tokens"]["config"]


def test_ctr_trains_and_scores_yes_no_on_item_token_prompts(checkpoint, catalogue):
    rng = np.random.default_rng(0)

    def rows(users):
        requests, labels = [], []
        for u in users:
            history = tuple(int(i) for i in rng.choice(N, 3, replace=False))
            for item in rng.choice(N, 4, replace=False):
                requests.append(ScoreRequest(u, history, int(item)))
                labels.append(int(item < 4))
        return requests, np.array(labels)

    data = CTRFitData(*rows(range(40)), *rows(range(100, 110)))
    model = build(checkpoint, catalogue, "llm-sid", tasks=("ctr",), loss="pair", max_steps=30)
    model.fit(data)
    prompt = model.prompt(data.train[0])
    assert model.vocab.texts[data.train[0].item] in prompt and "(category" not in prompt
    assert all(TITLES[i] not in prompt for i in range(N))
    scores = model.score(data.valid)
    assert scores.shape == (len(data.valid),) and ((scores > 0) & (scores < 1)).all()
    log = model.train_log
    assert log.metric == "auc" and np.mean(log.losses[-5:]) < np.mean(log.losses[:5])
    stats = model.extra_stats()
    assert stats["tokenizer"]["config"] == {**SID, "seed": 0} and stats["lora"]["r"] == 8


def test_records_the_tokenizer_report_the_beam_and_training(fitted):
    stats = fitted("llm-sid").extra_stats()
    tok = stats["tokenizer"]
    assert stats["beam_width"] == N and stats["top_k"] == N and stats["llm_backend"] == "hf"
    assert tok["kind"] == "sid-rqkmeans" and tok["config"] == {**SID, "seed": 0} and tok["init"] == "title-mean"
    assert {"utilisation", "collision_rate", "reconstruction_rel", "reconstruction_mse"} <= set(tok["report"])
    assert tok["new_tokens"] == sum(tok["level_sizes"]) and tok["answer_tokens"] == 3
    assert stats["train_steps"] == 60 and stats["valid_metric"] == "ndcg@10" and "grounding" not in stats


# -- in a plan ----------------------------------------------------------------------------------

def test_recboard_run_with_item_token_llms_in_the_plan(tmp_path, checkpoint):
    from test_runner import raw_plan

    from benchmark.cli import main
    from benchmark.results import read_result
    from leaderboard.build import build as build_site

    small = {"model_path": str(checkpoint), "max_history": 3, "lora_r": 4, "lora_alpha": 8, "max_steps": 3,
             "train_batch_size": 4, "eval_every": 3, "seq_valid_users": 4, "seq_valid_candidates": 5,
             "valid_rows": 8, "dtype": "float32"}
    raw = raw_plan(tmp_path, ["most-popular", {"key": "llm-id", "args": small},
                              {"key": "llm-sid", "args": {**small, "tokenizer": {"kind": "sid-rqkmeans", "levels": 2,
                                                                                  "codebook_size": 8}}}])
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump(raw))
    assert main(["run", str(path)]) == 0
    results = [read_result(p) for p in sorted((tmp_path / "results").glob("*.json"))]
    assert len(results) == 9 and all(r["status"] == "ok" for r in results), [r.get("error") for r in results]
    for r in results:
        if r["model"]["key"] == "most-popular":
            continue
        template = r["task"]["template"]["name"]
        assert template == ("ctr_yes_no" if r["task"]["name"] == "ctr" else "seqrec_next_item__item_tokens")
        assert r["efficiency"]["extra"]["tokenizer"]["n_items"] == 200
    page = build_site(tmp_path / "results", tmp_path / "site").index.read_text()
    assert "LLM-SID" in page and "LLM-ID" in page and "utilisation" in page


@pytest.mark.parametrize("key", ["llm-sid", "tiger"])
def test_result_identity_covers_the_item_tokenizers_and_the_beam_search(key, monkeypatch):
    import inspect
    from pathlib import Path

    from benchmark.runner import spec

    captured = []
    monkeypatch.setattr(spec, "_files_hash", lambda files: captured.append(files) or "x")
    cls = get_model(key)
    spec.code_hash(spec.ModelRef(key), inspect.getsourcefile(cls), cls.meta)
    names = [Path(p).relative_to(root).as_posix() for root, p in captured[0]]
    assert {"benchmark/itemtok/beam.py", "benchmark/itemtok/trie.py", "benchmark/itemtok/build.py"} <= set(names)
    assert key == "tiger" or {"models/llm/item_tokens.py", "models/llm/item_token_model.py"} <= set(names)
    assert len(names) == len(set(names))
