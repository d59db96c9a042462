"""llm-lora-text (LoRA fine-tuning on the HF engine) on a tiny random Llama built in the test, never
the real SmolLM2; adapters go to a cache folder of the test's own."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from helpers_models import contract_problems
from sklearn.metrics import roc_auc_score

from benchmark.api import CTRFitData, ModelError, SeqFitData
from benchmark.data.dataset import Catalogue
from benchmark.llm import load_backend
from benchmark.requests import RankRequest, ScoreRequest
from models.llm import listwise, lora
from models.llm.finetuned_text import LLMLoRAText
from models.llm.lora import LoRASettings, continuation_loss
from models.llm.zeroshot_text import LLMZeroShotText
from tasks import CTRTask, SeqRecTask

pytestmark = pytest.mark.usefixtures("isolated_llm_cache")  # conftest: own cache, one torch thread

TITLES = ["The Dark Knight", "Toy Story", "The Matrix", "Finding Nemo", "Garden Hose", "Garden Rake",
          "Space Travel Guide", "Kitchen Knife", "News Weekly", "Video Games"]
CATEGORIES = ["movies"] * 4 + ["garden"] * 2 + ["books", "kitchen", "news", "games"]
PROMPTS = {"ctr": CTRTask().prompt.to_order(), "seqrec": SeqRecTask().prompt.to_order()}
# Small and fast; the pair loss and a high learning rate learn the toy rule in a few dozen steps.
FAST = dict(batch_size=8, max_history=3, lora_r=8, lora_alpha=16, lr=1e-2, loss="pair", train_batch_size=8,
            eval_every=10, patience=50, valid_rows=40, max_steps=120, epochs=4)


@pytest.fixture(scope="module")
def catalogue():
    items = pd.DataFrame({"title": TITLES, "category": CATEGORIES, "brand": [""] * len(TITLES),
                          "description": [""] * len(TITLES)})
    return Catalogue(items=items, dataset_name="toy")


def ctr_rows(users: range, seed: int) -> tuple[list[ScoreRequest], np.ndarray]:
    """A learnable rule: the user clicks garden items and items already in the history."""
    rng = np.random.default_rng(seed)
    requests, labels = [], []
    for u in users:
        history = tuple(int(i) for i in rng.choice(len(TITLES), 3, replace=False))
        for item in rng.choice(len(TITLES), 4, replace=False):
            requests.append(ScoreRequest(u, history, int(item)))
            labels.append(int(CATEGORIES[item] == "garden" or item in history))
    return requests, np.array(labels)


CTR = CTRFitData(*ctr_rows(range(60), 0), *ctr_rows(range(100, 110), 1))
SEQ = SeqFitData(
    sequences=[tuple((s + k) % len(TITLES) for k in range(2 + s % 4)) for s in range(40)],
    valid=[RankRequest(100 + s, tuple((s + k) % len(TITLES) for k in range(3))) for s in range(6)],
    valid_targets=np.array([(s + 3) % len(TITLES) for s in range(6)]),
    valid_seen=[tuple((s + k) % len(TITLES) for k in range(3)) for s in range(6)],
    n_items=len(TITLES),
)


def build(checkpoint, catalogue, task="ctr", **kwargs):
    m = LLMLoRAText(model_path=str(checkpoint), **(FAST | kwargs))
    m.prompts = {task: PROMPTS[task]}
    m.setup(catalogue, seed=0)
    return m


def zero_shot(checkpoint, catalogue):
    m = LLMZeroShotText(model_path=str(checkpoint), batch_size=8, max_history=FAST["max_history"])
    m.prompts = {"ctr": PROMPTS["ctr"]}
    m.setup(catalogue, seed=0)
    return m


@pytest.fixture(scope="module")
def ctr_model(checkpoint, catalogue):
    m = build(checkpoint, catalogue)
    m.fit(CTR)
    return m


def test_registered_and_keeps_its_contract():
    assert contract_problems("llm-lora-text", LLMLoRAText) == []
    assert LLMLoRAText().backend_name == LLMLoRAText.meta.backend


@pytest.mark.parametrize("kwargs, match", [
    ({"lora_r": 0}, "lora_r"), ({"lora_alpha": -1}, "lora_alpha"), ({"lora_dropout": 1.0}, "lora_dropout"),
    ({"target_modules": "q_proj"}, "target_modules"), ({"target_modules": []}, "target_modules"),
    ({"lora_layers": 0}, "lora_layers"), ({"lr": 0}, "lr"), ({"max_steps": 0}, "max_steps"),
    ({"epochs": -1}, "epochs"), ({"train_batch_size": 0}, "train_batch_size"), ({"grad_accum": 1.5}, "grad_accum"),
    ({"eval_every": 0}, "eval_every"), ({"patience": 0}, "patience"), ({"valid_rows": -1}, "valid_rows"),
    ({"loss": "mse"}, "loss"), ({"normalize": "max"}, "normalize"), ({"backend": "onnx"}, "backend"),
    ({"seq_valid_candidates": 1}, "seq_valid_candidates"), ({"batch_size": 0}, "batch_size"),
])
def test_arguments_are_checked(kwargs, match):
    with pytest.raises(ValueError, match=match):
        LLMLoRAText(**kwargs)


def test_more_adapted_layers_than_the_model_has_is_refused(checkpoint, catalogue):
    with pytest.raises(ValueError, match="lora_layers=3 but the model has 2"):
        build(checkpoint, catalogue, lora_layers=3, max_steps=1).fit(CTR)


def test_the_loss_falls_and_the_adapter_learns_the_rule(ctr_model, checkpoint, catalogue):
    log = ctr_model.train_log
    assert log.steps == 120 and log.examples == 120 * 8 and len(log.losses) == 120
    assert np.mean(log.losses[-20:]) < np.mean(log.losses[:20]) - 0.05
    train, labels = CTR.train, CTR.train_labels
    before = roc_auc_score(labels, zero_shot(checkpoint, catalogue).score(train))
    after = roc_auc_score(labels, ctr_model.score(train))
    assert after > before + 0.1, (before, after)
    steps = [s for s, _ in log.evals]
    assert steps == list(range(10, 121, 10))
    assert log.best_step == steps[int(np.argmax([v for _, v in log.evals]))]
    stats = ctr_model.extra_stats()
    assert stats["valid_metric"] == "auc" and stats["train_steps"] == 120 and stats["adapter_cached"] is False
    assert stats["lora"] == {"r": 8, "alpha": 16.0, "dropout": 0.05, "target_modules": ["q_proj", "v_proj"],
                             "layers": None}


def test_the_adapter_is_served_and_changes_the_scores(ctr_model, checkpoint, catalogue):
    base = zero_shot(checkpoint, catalogue)
    assert ctr_model.backend.adapter_path is not None
    assert str(ctr_model.backend.adapter_path) == ctr_model.adapter_dir
    assert np.abs(ctr_model.score(CTR.valid) - base.score(CTR.valid)).max() > 1e-3
    assert ctr_model.num_parameters() > base.num_parameters()
    scores = ctr_model.score(CTR.valid)
    assert ((scores > 0) & (scores < 1)).all()


def test_training_and_test_prompts_are_the_same_strings(checkpoint, catalogue, tmp_path, monkeypatch):
    monkeypatch.setenv("RECBOARD_CACHE", str(tmp_path))
    model = build(checkpoint, catalogue, max_steps=3)
    seen: list[str] = []
    encode = model.backend.encode_prompt
    monkeypatch.setattr(model.backend, "encode_prompt", lambda p: seen.append(p) or encode(p))
    model.fit(CTR)
    base = zero_shot(checkpoint, catalogue)
    train_prompts = {base.prompt(r) for r in CTR.train}
    valid_prompts = {base.prompt(r) for r in CTR.valid}
    trained = set(seen) & train_prompts
    assert len(trained) >= 3 * 8 // 4 and set(seen) <= train_prompts | valid_prompts
    seen.clear()
    model.score(CTR.train)
    assert set(seen) == train_prompts and trained <= set(seen)
    assert all(model.prompt(r) == base.prompt(r) for r in CTR.train)


def test_prefix_sharing_is_exact_under_autograd(checkpoint, catalogue):
    """The training pass shares a user's prompt prefix; logits and LoRA gradients match running
    every prompt whole."""
    from peft import get_peft_model

    backend = load_backend("hf", model_path=str(checkpoint), batch_size=2)
    torch.manual_seed(0)
    peft = get_peft_model(backend.model, LoRASettings(4, 8, 0.0, ("q_proj", "v_proj")).peft_config(2))
    for name, p in peft.named_parameters():
        if "lora_B" in name:
            torch.nn.init.normal_(p, std=0.1)
    base = zero_shot(checkpoint, catalogue)
    seqs = [backend.encode_prompt(base.prompt(r)) for r in CTR.train[:8]]
    assert backend._plan(seqs)[0], "the prompts share prefixes"
    results = []
    for share in (True, False):
        backend.share_prefixes = share
        peft.zero_grad()
        logits = torch.zeros(len(seqs), backend.config.vocab_size)
        for chunk, rows in backend.next_token_logits(seqs):
            logits[chunk] = rows
        assert logits.requires_grad
        (logits.log_softmax(-1)[:, :50].sum()).backward()
        grads = {n: p.grad.clone() for n, p in peft.named_parameters() if p.requires_grad}
        results.append((logits.detach(), grads))
    torch.testing.assert_close(results[0][0], results[1][0], atol=1e-4, rtol=1e-4)
    for name in results[0][1]:
        torch.testing.assert_close(results[0][1][name], results[1][1][name], atol=1e-4, rtol=1e-3)
    peft.unload()


def test_a_second_fit_with_the_same_inputs_loads_the_adapter(ctr_model, checkpoint, catalogue, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("trained although the adapter is cached")

    monkeypatch.setattr(lora, "train_adapter", refuse)
    again = build(checkpoint, catalogue)
    again.fit(CTR)
    assert again.adapter_cached and again.adapter_dir == ctr_model.adapter_dir
    np.testing.assert_array_equal(again.score(CTR.valid), ctr_model.score(CTR.valid))
    assert again.train_log.to_dict() == ctr_model.train_log.to_dict()
    assert again.extra_stats()["adapter_cached"] is True
    other_labels = CTRFitData(CTR.train, 1 - CTR.train_labels, CTR.valid, CTR.valid_labels)
    for model, data in ((build(checkpoint, catalogue, lr=2e-2), CTR), (build(checkpoint, catalogue), other_labels),
                        (build(checkpoint, catalogue, max_history=2), CTR)):
        with pytest.raises(AssertionError, match="trained although"):
            model.fit(data)


def test_the_worker_fits_and_scores(ctr_model, checkpoint, catalogue):
    from benchmark.runner.spec import ModelRef
    from benchmark.runner.worker import Job, WorkOrder, collect

    ref = ModelRef("llm-lora-text", {"model_path": str(checkpoint), **FAST})
    job = Job("r", "score", CTR.valid, np.array([], dtype=np.int64), np.array([0]))
    [out] = collect(WorkOrder(ref, catalogue, 0, [job], fit_data=CTR, prompts={"ctr": PROMPTS["ctr"]}))
    assert out.ok and out.error is None, out.error
    np.testing.assert_allclose(out.responses, ctr_model.score(CTR.valid), atol=1e-6)
    assert out.efficiency["extra"]["adapter_cached"] is True


def test_next_item_target_is_the_title_tokens_only(checkpoint, catalogue):
    model = build(checkpoint, catalogue, task="seqrec")
    prompt = model._seq_prompt((0, 1, 2))
    ids, labels = listwise.title_target(model.backend, prompt, "Garden Hose")
    prompt_ids, title_ids = model.backend.encode_prompt(prompt), model.backend.tokenize("Garden Hose")
    assert ids == prompt_ids + title_ids and len(title_ids) > 1
    assert labels == [-100] * len(prompt_ids) + title_ids
    assert prompt.endswith("<|end|><|assistant|>") and "1. The Dark Knight\n2. Toy Story\n3. The Matrix\n" in prompt


def test_the_title_loss_is_the_negative_of_the_ranking_score(checkpoint, catalogue):
    """Training and ranking see the same tokens: the loss of one example is minus the mean
    log-likelihood that ranking gives its title; a batch of unequal lengths averages them."""
    model = build(checkpoint, catalogue, task="seqrec")
    backend = model.backend
    prompts = [model._seq_prompt(h) for h in ((0, 1, 2), (5,), ())]
    titles = ["Garden Hose", "Space Travel Guide", "Toy Story"]
    pairs = [listwise.title_target(backend, p, t) for p, t in zip(prompts, titles)]
    expected = [-backend.continuation_logprobs(p, [t])[0] for p, t in zip(prompts, titles)]
    scored = [len(backend.tokenize(t)) for t in titles]
    with torch.no_grad():
        for (ids, _), n, e in zip(pairs, scored, expected):
            assert continuation_loss(backend.model, backend.tokenizer.pad_token_id, [ids], [n]).item() == pytest.approx(e, abs=1e-4)
        batch = continuation_loss(backend.model, backend.tokenizer.pad_token_id, [p[0] for p in pairs], scored)
    assert batch.item() == pytest.approx(np.mean(expected), abs=1e-4)


def test_next_item_fit_and_rank(checkpoint, catalogue):
    model = build(checkpoint, catalogue, task="seqrec", max_steps=4, train_batch_size=4, eval_every=2,
                  seq_valid_users=4, seq_valid_candidates=5, loss="lm", lora_r=None)
    model.fit(SEQ)
    log = model.train_log
    assert log.steps == 4 and log.metric == "ndcg@10" and [s for s, _ in log.evals] == [2, 4]
    assert model.lora_used.r == 128  # RecBench's list-wise rank when lora_r is left unset
    requests = [RankRequest(0, (0, 1), np.array([2, 5, 7])), RankRequest(1, (4,), np.array([5, 5, 0]))]
    scores = model.rank(requests)
    assert scores.shape == (2, 3) and np.isfinite(scores).all()
    assert scores[1, 0] == scores[1, 1]  # the same title is one score
    prompts = [model._seq_prompt(r.history) for r in requests]
    expected = [model.backend.continuation_logprobs(p, [TITLES[i] for i in r.candidates]) for p, r in zip(prompts, requests)]
    np.testing.assert_allclose(scores, np.stack(expected), atol=1e-6)
    full = model.rank([RankRequest(0, (0, 1)), RankRequest(1, (4,))])
    assert full.shape == (2, len(TITLES))
    np.testing.assert_allclose(full[0, [2, 5, 7]], scores[0], atol=1e-6)


def test_width_groups_cut_rows_of_similar_width_together():
    assert lora.width_groups([294, 98, 137, 101, 92, 97, 115, 103]) == [[4, 5, 1, 3, 7, 6], [2], [0]]
    assert lora.width_groups([10, 10, 12]) == [[0, 1, 2]]
    assert lora.width_groups([10, 13], slack=1.25) == [[0], [1]]
    assert lora.width_groups([]) == []


def test_training_forward_runs_eager_attention_on_short_rows_only_and_restores_sdpa(checkpoint, monkeypatch):
    """The loss above (eager: short rows) equals the ranking score (SDPA); here the switch itself:
    eager inside the forward for rows up to EAGER_TRAINING_WIDTH, SDPA after it and for wider rows."""
    model = load_backend("hf", model_path=str(checkpoint), dtype="float32").model
    seen = []
    monkeypatch.setattr(type(model), "forward", lambda self, **kw: seen.append(self.config._attn_implementation))
    assert model.config._attn_implementation == "sdpa"
    lora.training_forward(model, lora.EAGER_TRAINING_WIDTH, input_ids=None)
    lora.training_forward(model, lora.EAGER_TRAINING_WIDTH + 1, input_ids=None)
    assert seen == ["eager", "sdpa"] and model.config._attn_implementation == "sdpa"


def test_rank_by_title_loglik_shapes_and_errors(checkpoint):
    backend = load_backend("hf", model_path=str(checkpoint), batch_size=4)
    prompts = ["Next item:", "Other user. Next item:"]
    shared = listwise.rank_by_title_loglik(backend, prompts, ["Toy Story", "Garden Hose", "Toy Story"])
    assert shared.shape == (2, 3) and (shared[:, 0] == shared[:, 2]).all()
    own = listwise.rank_by_title_loglik(backend, prompts, [["Toy Story", "News"], ["News", "Toy Story"]], normalize="sum")
    np.testing.assert_allclose(own[1], backend.continuation_logprobs(prompts[1], ["News", "Toy Story"], "sum"), atol=1e-6)
    assert listwise.rank_by_title_loglik(backend, [], []).shape == (0, 0)
    with pytest.raises(ModelError, match="same number of candidates"):
        listwise.rank_by_title_loglik(backend, prompts, [["a"], ["a", "b"]])
    with pytest.raises(ModelError, match="2 prompts but 1 lists"):
        listwise.rank_by_title_loglik(backend, prompts, [["a"]])


def test_misuse_is_reported(ctr_model, checkpoint, catalogue):
    unfitted = build(checkpoint, catalogue)
    with pytest.raises(ModelError, match="fit"):
        unfitted.score(CTR.valid)
    with pytest.raises(ModelError, match="'seqrec' prompt template"):
        unfitted.fit(SEQ)
    with pytest.raises(ModelError, match="'seqrec' prompt template"):
        unfitted.rank([RankRequest(0, (1,))])
    with pytest.raises(ModelError, match="setup"):
        LLMLoRAText(model_path=str(checkpoint)).fit(CTR)
    once = build(checkpoint, catalogue)
    once.fit(CTR)  # loads the adapter ctr_model stored
    with pytest.raises(ModelError, match="already fitted"):
        once.fit(CTR)
    bare = LLMLoRAText(model_path=str(checkpoint))
    bare.prompts = {"uqa": {"text": "x"}}
    with pytest.raises(ModelError, match="no 'ctr' or 'seqrec' prompt template"):
        bare.setup(catalogue, seed=0)


def test_result_identity_covers_the_llm_modules(monkeypatch):
    """A result of an LLM model changes when the shared LLM modules (ranking, LoRA training) change."""
    import inspect
    from pathlib import Path

    from benchmark.runner import spec

    captured = []
    monkeypatch.setattr(spec, "_files_hash", lambda files: captured.append(files) or "x")
    spec.code_hash(spec.ModelRef("llm-lora-text"), inspect.getsourcefile(LLMLoRAText), LLMLoRAText.meta)
    names = [Path(p).relative_to(root).as_posix() for root, p in captured[0]]
    assert {"models/llm/finetuned_text.py", "models/llm/lora.py", "models/llm/listwise.py",
            "models/llm/zeroshot_text.py", "benchmark/llm/hf.py", "models/layers/train.py"} <= set(names)
    assert len(names) == len(set(names))
