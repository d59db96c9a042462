"""The QA text baselines (no-history, text20, text50) on a tiny random Llama built in the test, and
a tiny plan with the uqa task through `recboard run` and the leaderboard's QA table."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
import yaml
from helpers_models import contract_problems

from benchmark.api import ModelError, QAFitData
from benchmark.cli import main
from benchmark.data.dataset import Catalogue
from benchmark.registry import get_model
from benchmark.requests import QARequest
from models.llm import lora
from models.llm.qa_lora import Text20LoRA, Text50LoRA
from models.llm.qa_text import NoHistory, QATextLLM, Text20, Text50
from tasks import UQATask

pytestmark = pytest.mark.usefixtures("isolated_llm_cache")  # conftest: own cache, one torch thread

N_ITEMS = 30
OPTIONS = ("cameras", "camera lenses", "from cameras to bags", "3")


@pytest.fixture(scope="module")
def catalogue():
    items = pd.DataFrame({"title": [f"Nikora camera N{i}" for i in range(N_ITEMS)],
                          "category": ["cameras", "lenses", "bags"] * (N_ITEMS // 3),
                          "brand": ["Nikora"] * N_ITEMS, "description": [""] * N_ITEMS})
    return Catalogue(items=items, dataset_name="tiny")


def build(cls: type[QATextLLM], checkpoint, catalogue, **kwargs) -> QATextLLM:
    model = cls(model_path=str(checkpoint), batch_size=3, **kwargs)
    model.prompts = {"uqa": UQATask().prompt.to_order()}
    model.setup(catalogue, seed=0)
    return model


REQUESTS = [QARequest(0, tuple(range(25)), "Which category comes up most often?", OPTIONS),
            QARequest(0, tuple(range(25)), "Which category will the next item have?", OPTIONS),
            QARequest(1, (3, 4), "What is the brand of the most recent item?", OPTIONS)]


@pytest.mark.parametrize("key, cls, shown, scheme", [
    ("text50", Text50, 50, "zero-shot"), ("text20", Text20, 20, "zero-shot"), ("no-history", NoHistory, 0, "zero-shot"),
    ("text50-lora", Text50LoRA, 50, "fine-tuned"), ("text20-lora", Text20LoRA, 20, "fine-tuned")])
def test_registered_keep_their_contract_and_differ_only_in_history(key, cls, shown, scheme):
    assert contract_problems(key, cls) == [] and get_model(key) is cls
    assert cls.shown == shown and cls.meta.supports == ("answer",) and cls.meta.scheme == scheme
    assert cls.meta_for({"backend": "vllm"}).backend == "vllm"


def test_prompts_show_the_last_items_the_question_and_the_options(checkpoint, catalogue):
    text20, none = build(Text20, checkpoint, catalogue), build(NoHistory, checkpoint, catalogue)
    prompt = text20.qa_prompt(REQUESTS[0])
    assert prompt.startswith("<|user|>These are the items a user interacted with, oldest first:\n")
    assert "1. Nikora camera N5 (category: bags; brand: Nikora)\n" in prompt
    assert "20. Nikora camera N24 (category: cameras; brand: Nikora)\n" in prompt and "N4 " not in prompt
    assert "Question about this user: Which category comes up most often?\nOptions:\n- cameras\n- camera lenses\n" in prompt
    assert prompt.endswith("Answer with one of the options, exactly as written.<|end|><|assistant|>")
    assert "(not shown)" in none.qa_prompt(REQUESTS[0]) and "Nikora camera" not in none.qa_prompt(REQUESTS[0])


def test_answers_are_each_options_loglikelihood_after_the_prompt(checkpoint, catalogue):
    model = build(Text50, checkpoint, catalogue)
    scores = model.answer(REQUESTS)
    assert scores.shape == (len(REQUESTS), len(OPTIONS))
    for row, request in zip(scores, REQUESTS):
        expected = model.backend.continuation_logprobs(model.qa_prompt(request), list(OPTIONS))
        np.testing.assert_allclose(row, expected, atol=1e-4)
    stats = model.extra_stats()
    tokens = model.backend.count_tokens([model.qa_prompt(r) for r in REQUESTS])
    assert stats["requests_answered"] == 3 and stats["prompt_tokens_per_request"] == pytest.approx(np.mean(tokens))
    assert stats["history_shown"] == 50 and stats["chat_template_applied"] is True


def test_refuses_other_tasks_and_mixed_option_counts(checkpoint, catalogue):
    model = build(Text20, checkpoint, catalogue)
    with pytest.raises(ModelError, match="does not support score"):
        model.score([])
    with pytest.raises(ModelError, match="same number of options"):
        model.answer([REQUESTS[0], QARequest(0, (1,), "q?", ("a", "b"))])
    bare = Text20(model_path=str(checkpoint))
    bare.prompts = {"ctr": UQATask().prompt.to_order()}
    with pytest.raises(ModelError, match=r"no 'uqa' prompt template"):
        bare.setup(catalogue, seed=0)


def test_a_qa_plan_runs_end_to_end_and_the_leaderboard_shows_its_table(tmp_path, checkpoint):
    tiny = {"model_path": str(checkpoint), "batch_size": 4}
    plan = {
        "name": "uqa-tiny", "results_dir": str(tmp_path / "results"), "cache_dir": str(tmp_path / "cache"),
        "threads": 1,
        "protocol": {"uqa_test_users": 12, "uqa_valid_users": 4, "uqa_train_users": 4, "uqa_min_history": 6,
                     "latency_sample": 2, "latency_warmup": 1},
        "datasets": {"syn": {"adapter": "synthetic", "n_users": 120, "n_items": 150, "seed": 1}},
        "tasks": ["uqa"],
        "models": ["random", {"key": "text20", "args": tiny}, {"key": "no-history", "args": tiny},
                   {"key": "text20-lora", "args": {**tiny, **FAST}}],
    }
    (tmp_path / "plan.yaml").write_text(yaml.safe_dump(plan))
    assert main(["run", str(tmp_path / "plan.yaml")]) == 0
    results = [json.loads(p.read_text()) for p in sorted((tmp_path / "results").glob("*.json"))]
    assert sorted(r["model"]["key"] for r in results) == ["no-history", "random", "text20", "text20-lora"]
    for r in results:
        assert r["status"] == "ok" and r["main_metric"] == "acc_overall" and r["task"]["name"] == "uqa"
        assert {"acc_df", "acc_it", "acc_understanding", "acc_interest", "acc_overall"} <= set(r["metrics"])
        assert r["task"]["details"]["skipped_subtasks"] == {} and r["task"]["counts"]["test"] == 12 * 7
        assert r["efficiency"]["latency_ms"]["n"] == 2
    llm = next(r for r in results if r["model"]["key"] == "text20")
    assert llm["task"]["template"]["name"] == "uqa_answer" and llm["efficiency"]["extra"]["prompt_tokens_per_request"] > 0
    site = tmp_path / "site"
    assert main(["leaderboard", "--results", str(tmp_path / "results"), "--out", str(site)]) == 0
    html = (site / "index.html").read_text()
    table = html[html.index('data-task="uqa"'):]
    header = table[: table.index("</thead>")]
    labels = re.findall(r'<span class="sub">([^<]+?) [↑↓]</span>', header)
    assert labels[:11] == ["Accuracy", "Understanding", "Prediction", "Interest", "DF", "MF", "IP", "AP", "LI", "SI", "IT"]
    assert "Personalized QA (UQABench)" in html and html.count('data-task="') == 1  # the plan's only table
    assert table.count('<tbody class="entry"') == 4 and table.count("<dt>Task details</dt>") == 4
    tuned = next(r for r in results if r["model"]["key"] == "text20-lora")
    assert tuned["efficiency"]["fit_s"] > 0 and tuned["efficiency"]["extra"]["train_examples"] > 0


def qa_fit_data() -> QAFitData:
    """A learnable rule: the answer is the category of the user's last item."""
    categories = ["cameras", "lenses", "bags"]

    def questions(users: range) -> tuple[list[QARequest], np.ndarray]:
        requests, answers = [], []
        for u in users:
            history = tuple((u + k) % N_ITEMS for k in range(3))
            order = np.random.default_rng(u).permutation(3)
            options = tuple(categories[j] for j in order)
            requests.append(QARequest(u, history, "Which category will the next item have?", options))
            answers.append(options.index(categories[history[-1] % 3]))
        return requests, np.array(answers)

    train, valid = questions(range(24)), questions(range(100, 106))
    return QAFitData(*train, *valid, sequences=[tuple(range(k, k + 4)) for k in range(10)], n_items=N_ITEMS,
                     train_subtasks=["ap"] * 24, valid_subtasks=["ap"] * 6)


FAST = {"lora_r": 4, "lora_alpha": 8, "lora_layers": 1, "lr": 5e-3, "max_steps": 4, "train_batch_size": 4,
        "eval_every": 2, "valid_questions": 4}


def test_lora_fits_validates_serves_and_caches_its_adapter(checkpoint, catalogue, monkeypatch):
    data = qa_fit_data()
    model = build(Text20LoRA, checkpoint, catalogue, **FAST)
    with pytest.raises(ModelError, match="call fit"):
        model.answer(data.valid)
    zero_shot = build(Text20, checkpoint, catalogue).answer(data.valid)
    model.fit(data)
    stats = model.extra_stats()
    assert stats["train_steps"] == 4 and stats["valid_metric"] == "accuracy" and stats["adapter_cached"] is False
    assert [s for s, _ in stats["valid_history"]] == [2, 4] and stats["requests_answered"] == 0
    assert str(model.backend.adapter_path) == stats["adapter_dir"]
    tuned = model.answer(data.valid)
    assert tuned.shape == zero_shot.shape and not np.allclose(tuned, zero_shot)
    with pytest.raises(ModelError, match="already fitted"):
        model.fit(data)

    def refuse(*args, **kwargs):
        raise AssertionError("trained although the adapter is cached")

    monkeypatch.setattr(lora, "train_adapter", refuse)
    again = build(Text20LoRA, checkpoint, catalogue, **FAST)
    again.fit(data)
    assert again.extra_stats()["adapter_cached"] is True
    np.testing.assert_allclose(again.answer(data.valid), tuned, atol=1e-6)
    other = build(Text50LoRA, checkpoint, catalogue, **FAST)  # another prompt: another adapter
    with pytest.raises(AssertionError, match="trained although"):
        other.fit(data)
    with pytest.raises(ModelError, match="trains on the QA fine-tune split"):
        build(Text20LoRA, checkpoint, catalogue, **FAST).fit(object())
