"""llm-zeroshot-text on a tiny random Llama built in the test (never the real SmolLM2)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch
from helpers_models import contract_problems
from transformers import AutoModelForCausalLM, AutoTokenizer

from benchmark.api import ModelError
from benchmark.data.dataset import Catalogue
from benchmark.llm.testing import make_tiny_adapter
from benchmark.requests import ScoreRequest
from models.llm.zeroshot_text import LLMZeroShotText
from tasks import CTRTask

TITLES = ["The Dark Knight", "Toy Story", "The Matrix", "Finding Nemo", "Garden Hose", "Space Travel Guide", ""]
CATEGORIES = ["movies", "movies", "movies", "movies", "garden", "books", "toys"]
BRANDS = ["", "", "", "", "AcmeGarden", "", ""]


@pytest.fixture(scope="module")
def catalogue():
    items = pd.DataFrame(
        {"title": TITLES, "category": CATEGORIES, "brand": BRANDS, "description": [""] * len(TITLES)}
    )
    return Catalogue(items=items, dataset_name="tiny")


CTR_PROMPT = CTRTask().prompt.to_order()


def build(checkpoint, catalogue, prompt=None, **kwargs):
    """As the worker does: construct, hand over the task's template, then set up."""
    m = LLMZeroShotText(model_path=str(checkpoint), **({"batch_size": 3, "max_history": 3} | kwargs))
    m.prompts = {"ctr": prompt or CTR_PROMPT}
    m.setup(catalogue, seed=0)
    return m


def variant(**front) -> dict:
    """The CTR template with front-matter fields changed."""
    text = CTR_PROMPT["text"]
    for key, value in front.items():
        text, n = __import__("re").subn(rf"(?m)^{key}: .*$", f"{key}: {value}", text)
        assert n == 1, key
    return {**CTR_PROMPT, "text": text}


@pytest.fixture(scope="module")
def model(checkpoint, catalogue):
    return build(checkpoint, catalogue)


REQUESTS = [
    ScoreRequest(0, (0, 1, 2, 3), 4),
    ScoreRequest(0, (0, 1, 2, 3), 5),
    ScoreRequest(0, (0, 1, 2, 3), 6),
    ScoreRequest(1, (5,), 0),
    ScoreRequest(1, (5,), 2),
    ScoreRequest(2, (), 1),
]


def test_registered_and_keeps_its_contract():
    assert contract_problems("llm-zeroshot-text", LLMZeroShotText) == []
    assert LLMZeroShotText().backend_name == LLMZeroShotText.meta.backend  # the meta names the default engine


def test_prompt_lists_recent_history_oldest_first_then_the_candidate(model):
    prompt = model.prompt(REQUESTS[0])
    assert prompt.startswith("<|user|>") and prompt.endswith("<|end|><|assistant|>")
    assert "1. Toy Story\n2. The Matrix\n3. Finding Nemo\n" in prompt
    assert "The Dark Knight" not in prompt
    assert "Candidate item: Garden Hose (category: garden; brand: AcmeGarden)" in prompt
    assert "Answer Yes or No." in prompt
    assert "Candidate item: item 6 (category: toys)" in model.prompt(REQUESTS[2])
    assert "(no history)" in model.prompt(REQUESTS[5])
    assert model.answers == ("Yes", "No")


def test_prompt_is_the_task_template_rendered_exactly_as_before(model):
    expected = (
        "<|user|>You are a recommender system. These are the items a user interacted with, oldest first:\n"
        "1. Toy Story\n2. The Matrix\n3. Finding Nemo\n\n"
        "Candidate item: Garden Hose (category: garden; brand: AcmeGarden)\n"
        "Will the user interact with the candidate item? Answer Yes or No.<|end|><|assistant|>"
    )
    assert model.prompt(REQUESTS[0]) == expected
    assert model.prompt(REQUESTS[5]) == (
        "<|user|>You are a recommender system. These are the items a user interacted with, oldest first:\n"
        "(no history)\n\nCandidate item: Toy Story (category: movies)\n"
        "Will the user interact with the candidate item? Answer Yes or No.<|end|><|assistant|>"
    )
    # the documented cue: the chat template's assistant turn, then the template's answer_prefix ("")
    assert model.template("ctr").chat == "tokenizer" and model.template("ctr").answer_prefix == ""
    assert model.prompt(REQUESTS[0]).endswith("<|end|><|assistant|>" + model.template("ctr").answer_prefix)
    assert model.extra_stats()["chat_template_applied"] is True


def test_without_a_template_scoring_fails_clearly(checkpoint, catalogue):
    bare = LLMZeroShotText(model_path=str(checkpoint))
    with pytest.raises(ModelError, match="no prompt template was given"):
        bare.setup(catalogue, seed=0)
    bare = LLMZeroShotText(model_path=str(checkpoint))
    bare.prompts = {"seqrec": CTRTask().prompt.to_order()}
    bare.setup(catalogue, seed=0)
    with pytest.raises(ModelError, match=r"got templates for \['seqrec'\]"):
        bare.score(REQUESTS)
    broken = {**CTR_PROMPT, "text": CTR_PROMPT["text"].replace("{{ candidate }}", "{{ candidate_title }}")}
    with pytest.raises(ModelError, match="candidate_title"):
        build(checkpoint, catalogue, broken).prompt(REQUESTS[0])


def test_the_answer_prefix_is_where_the_answer_is_scored(model, checkpoint, catalogue):
    cued = build(checkpoint, catalogue, variant(answer_prefix='"Answer: "'))
    prompt = cued.prompt(REQUESTS[0])
    assert prompt == model.prompt(REQUESTS[0]) + "Answer: "
    tokenizer = AutoTokenizer.from_pretrained(checkpoint, local_files_only=True)
    lm = AutoModelForCausalLM.from_pretrained(checkpoint, local_files_only=True).eval()
    yes, no = (tokenizer(a, add_special_tokens=False).input_ids[0] for a in ("Yes", "No"))
    scores = cued.score(REQUESTS)
    for request, score in zip(REQUESTS, scores):
        ids = tokenizer(cued.prompt(request), add_special_tokens=False, return_tensors="pt").input_ids
        with torch.no_grad():
            last = lm(ids).logits[0, -1].double()
        assert score == pytest.approx(torch.softmax(last[[yes, no]], 0)[0].item(), abs=1e-5)
    assert np.abs(scores - model.score(REQUESTS)).max() > 1e-4


def test_chat_none_uses_the_rendered_text_as_is(model, checkpoint, catalogue):
    raw = build(checkpoint, catalogue, variant(chat="none"))
    assert raw.prompt(REQUESTS[0]) == raw.message(REQUESTS[0]) == model.message(REQUESTS[0])
    assert not raw.prompt(REQUESTS[0]).startswith("<|user|>")
    assert raw.extra_stats()["chat_template_applied"] is False
    assert np.abs(raw.score(REQUESTS) - model.score(REQUESTS)).max() > 1e-4


def test_score_is_eq6_probability_of_yes(model, checkpoint):
    scores = model.score(REQUESTS)
    assert scores.dtype == np.float64 and scores.shape == (len(REQUESTS),)
    assert ((scores > 0) & (scores < 1)).all()

    tokenizer = AutoTokenizer.from_pretrained(checkpoint, local_files_only=True)
    lm = AutoModelForCausalLM.from_pretrained(checkpoint, local_files_only=True).eval()
    yes, no = (tokenizer(a, add_special_tokens=False).input_ids[0] for a in ("Yes", "No"))
    for request, score in zip(REQUESTS, scores):
        ids = tokenizer(model.prompt(request), add_special_tokens=False, return_tensors="pt").input_ids
        with torch.no_grad():
            last = lm(ids).logits[0, -1].double()
        assert score == pytest.approx(torch.softmax(last[[yes, no]], 0)[0].item(), abs=1e-5)


def test_scores_are_deterministic_batch_independent_and_in_request_order(model):
    scores = model.score(REQUESTS)
    np.testing.assert_array_equal(scores, model.score(REQUESTS))
    np.testing.assert_allclose(scores, [model.score([r])[0] for r in REQUESTS], atol=1e-4)
    reverse = model.score(REQUESTS[::-1])
    np.testing.assert_allclose(reverse, scores[::-1], atol=1e-4)
    assert model.score([]).shape == (0,)


def test_efficiency_figures(model, checkpoint):
    model.backend.reset_counts()
    model.score(REQUESTS)
    expected = model.backend.count_tokens([model.prompt(r) for r in REQUESTS])
    stats = model.extra_stats()
    assert stats["requests_scored"] == len(REQUESTS)
    assert stats["prompt_tokens"] == sum(expected)
    assert stats["prompt_tokens_per_request"] == pytest.approx(sum(expected) / len(REQUESTS))
    assert 0 < stats["computed_tokens"] < stats["prompt_tokens"]
    lm = AutoModelForCausalLM.from_pretrained(checkpoint, local_files_only=True)
    assert model.num_parameters() == sum(p.numel() for p in lm.parameters())


def test_adapter_changes_the_scores(model, checkpoint, catalogue, tmp_path):
    adapter = make_tiny_adapter(checkpoint, tmp_path / "lora")
    tuned = build(checkpoint, catalogue, adapter_path=str(adapter))
    assert np.abs(tuned.score(REQUESTS) - model.score(REQUESTS)).max() > 1e-4
    assert tuned.num_parameters() > model.num_parameters()


def test_misuse_is_reported(checkpoint, catalogue, tmp_path):
    fresh = LLMZeroShotText(model_path=str(checkpoint))
    with pytest.raises(ModelError, match="setup"):
        fresh.score(REQUESTS)
    assert fresh.num_parameters() is None and fresh.extra_stats() == {}
    missing = LLMZeroShotText(model_path=str(tmp_path / "nowhere"))
    missing.prompts = {"ctr": CTR_PROMPT}
    with pytest.raises(ModelError, match="nowhere"):
        missing.setup(catalogue, seed=0)


def test_importing_the_package_and_the_model_never_imports_vllm():
    """A fresh interpreter records every attempt to import vllm, installed or not."""
    code = (
        "import sys\n"
        "tried = []\n"
        "class Spy:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] == 'vllm':\n"
        "            tried.append(name)\n"
        "sys.meta_path.insert(0, Spy())\n"
        "import benchmark.llm, models.llm.zeroshot_text\n"
        "assert not tried, tried\n"
        "assert 'benchmark.llm.vllm_backend' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_worker_hands_over_the_template_before_setup(model, checkpoint, catalogue):
    from benchmark.runner.spec import ModelRef
    from benchmark.runner.worker import Job, WorkOrder, collect

    ref = ModelRef("llm-zeroshot-text", {"model_path": str(checkpoint), "batch_size": 3, "max_history": 3})
    job = Job("r", "score", REQUESTS, np.array([], dtype=np.int64), np.array([0]))
    [out] = collect(WorkOrder(ref, catalogue, 0, [job], prompts={"ctr": CTR_PROMPT}))
    assert out.ok and out.error is None, out.error
    np.testing.assert_allclose(out.responses, model.score(REQUESTS), atol=1e-6)
    [failed] = collect(WorkOrder(ref, catalogue, 0, [job]))
    assert not failed.ok and failed.error["stage"] == "setup" and failed.error["type"] == "ModelError"
    assert "no prompt template was given" in failed.error["message"]


SEQ_PROMPT = __import__("tasks").SeqRecTask().prompt.to_order()


def test_next_item_with_candidates_scores_each_title_by_its_mean_log_likelihood(checkpoint, catalogue):
    from benchmark.requests import RankRequest

    m = build(checkpoint, catalogue)
    m.prompts = {"seqrec": SEQ_PROMPT}
    m.setup(catalogue, seed=0)
    requests = [RankRequest(0, (0, 1), np.array([2, 3, 4])), RankRequest(1, (), np.array([5, 0, 1]))]
    scores = m.rank(requests)
    assert scores.shape == (2, 3)
    prompt = m.next_item_prompt(requests[0])
    assert "1. The Dark Knight\n2. Toy Story\n" in prompt and "next" in prompt
    expected = m.backend.continuation_logprobs(prompt, ["The Matrix", "Finding Nemo", "Garden Hose"], "mean")
    np.testing.assert_allclose(scores[0], expected, atol=1e-6)
    summed = build(checkpoint, catalogue, normalize="sum")
    summed.prompts = {"seqrec": SEQ_PROMPT}
    summed.setup(catalogue, seed=0)
    lengths = np.array([len(m.backend.tokenize(t)) for t in ["The Matrix", "Finding Nemo", "Garden Hose"]])
    np.testing.assert_allclose(summed.rank(requests)[0], expected * lengths, atol=1e-5)
    assert m.extra_stats()["listwise_normalization"] == "mean"


def test_next_item_over_the_catalogue_is_generated_then_grounded(checkpoint, catalogue, tmp_path, monkeypatch):
    from benchmark.requests import RankRequest, TopK

    monkeypatch.setenv("RECBOARD_CACHE", str(tmp_path))
    m = build(checkpoint, catalogue, num_beams=3, max_new_tokens=4, depth=5)
    m.prompts = {"seqrec": SEQ_PROMPT}
    m.setup(catalogue, seed=0)
    answer = m.rank([RankRequest(0, (0, 1), None), RankRequest(1, (), None)])
    assert isinstance(answer, TopK) and answer.items.shape == (2, 5)
    assert not {0, 1} & set(answer.items[0].tolist())  # the history is never recommended
    assert all(len(set(row.tolist())) == 5 for row in answer.items)
    stats = m.extra_stats()["grounding"]
    assert stats["generated_titles"] == 6 and stats["num_beams"] == 3


def test_engine_and_next_item_args_are_checked():
    with pytest.raises(ValueError, match="engine_args are vLLM's"):
        LLMZeroShotText(engine_args={"max_model_len": 512})
    with pytest.raises(ValueError, match="normalize must be one of"):
        LLMZeroShotText(normalize="max")
    with pytest.raises(ValueError, match="backend must be"):
        LLMZeroShotText(backend="onnx")
    assert LLMZeroShotText.meta_for({"backend": "vllm"}).backend == "vllm"
    assert LLMZeroShotText(backend="vllm").meta.backend == "vllm"
