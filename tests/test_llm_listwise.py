"""Exact list-wise scoring: `continuation_logprobs` on a tiny random Llama built in the test,
checked against a reference computed here with the plain transformers model, one candidate at a
time over the whole prompt + continuation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import AutoModelForCausalLM

from benchmark.llm import BackendError, load_backend

HISTORY = "The user's history, oldest first: the dark knight, toy story, the matrix, finding nemo, kitchen garden."
PROMPTS = [
    f"{HISTORY} Which item comes next? Answer:",
    "Other user: fashion, toys, books music news. Next item:",
    f"{HISTORY} {HISTORY} Candidate item:",
]
WORDS = ["Yes", "No", " the matrix", " toy story", " space travel", " kitchen garden toys", " x", " fashion",
         " books music news fashion video games", " a movie about space travel. Category: movies.",
         " zqvwk jjx", " finding nemo", " the dark knight rises again and again", " garden", " Yes No",
         " video games", " news", " toys", " q", " studio brand of the year, 2024 edition"]


@pytest.fixture(scope="module")
def backend(checkpoint):
    return load_backend("hf", model_path=str(checkpoint), batch_size=3)


@pytest.fixture(scope="module")
def model(checkpoint):
    return AutoModelForCausalLM.from_pretrained(checkpoint, local_files_only=True).eval()


def prompts(backend) -> list[str]:
    return [backend.apply_chat(PROMPTS[0]), PROMPTS[1], backend.apply_chat(PROMPTS[2])]


def reference(backend, model, prompt: str, continuations: list[str]) -> np.ndarray:
    """Sum of log p(token | everything before it) over each continuation's tokens, from one full
    forward pass of prompt + continuation per candidate."""
    prompt_ids = backend.encode_prompt(prompt)
    out = []
    for c in continuations:
        cont = backend.tokenize(c)
        ids = torch.tensor([prompt_ids + cont])
        with torch.no_grad():
            logp = torch.log_softmax(model(ids).logits[0].double(), dim=-1)
        out.append(sum(logp[len(prompt_ids) + k - 1, t].item() for k, t in enumerate(cont)))
    return np.array(out)


def test_candidates_have_one_to_many_tokens(backend):
    lengths = [len(backend.tokenize(w)) for w in WORDS]
    assert min(lengths) == 1 and max(lengths) >= 8 and len(set(lengths)) >= 5, lengths


def test_matches_full_recomputation_per_candidate(backend, model):
    for prompt in prompts(backend):
        expected = reference(backend, model, prompt, WORDS)
        lengths = np.array([len(backend.tokenize(w)) for w in WORDS])
        np.testing.assert_allclose(backend.continuation_logprobs(prompt, WORDS, "sum"), expected, atol=1e-4, rtol=0)
        np.testing.assert_allclose(backend.continuation_logprobs(prompt, WORDS), expected / lengths, atol=1e-4, rtol=0)
        np.testing.assert_allclose(
            backend.continuation_logprobs(prompt, WORDS, "sum", naive=True), expected, atol=1e-4, rtol=0
        )
        # The values differ across candidates, so a mix-up of rows would show.
        assert np.unique(np.round(expected, 3)).size == len(WORDS)


def test_one_token_continuation_is_the_next_token_log_softmax(backend, model):
    prompt = prompts(backend)[0]
    token = backend.tokenize("Yes")
    assert len(token) == 1
    with torch.no_grad():
        last = model(torch.tensor([backend.encode_prompt(prompt)])).logits[0, -1].double()
    expected = torch.log_softmax(last, dim=-1)[token[0]].item()
    got_sum = backend.continuation_logprobs(prompt, ["Yes", " toy story"], "sum")[0]
    got_mean = backend.continuation_logprobs(prompt, ["Yes", " toy story"], "mean")[0]
    assert got_sum == pytest.approx(expected, abs=1e-5)
    assert got_mean == pytest.approx(expected, abs=1e-5)
    # and it agrees with eq. 6 over two one-token choices: the difference of log-probs is the same
    yes_no = backend.continuation_logprobs(prompt, ["Yes", "No"], "sum")
    eq6 = backend.choice_logprobs([prompt], ["Yes", "No"])[0]
    assert yes_no[0] - yes_no[1] == pytest.approx(eq6[0] - eq6[1], abs=1e-5)


def test_sum_is_mean_times_length(backend):
    prompt = prompts(backend)[1]
    lengths = np.array([len(backend.tokenize(w)) for w in WORDS])
    total = backend.continuation_logprobs(prompt, WORDS, "sum")
    np.testing.assert_allclose(total, backend.continuation_logprobs(prompt, WORDS, "mean") * lengths, atol=1e-9)
    assert (total < 0).all()


def test_prompt_runs_once_and_counts_say_so(checkpoint):
    backend = load_backend("hf", model_path=str(checkpoint), batch_size=4)
    prompt = prompts(backend)[2]
    p = len(backend.encode_prompt(prompt))
    lengths = [len(backend.tokenize(w)) for w in WORDS]
    backend.continuation_logprobs(prompt, WORDS)
    c = backend.counts
    assert c.prompts == len(WORDS)
    assert c.prompt_tokens == sum(p + n for n in lengths)
    # the prompt minus its last token once, then that token and the continuation per candidate
    assert c.computed_tokens == (p - 1) + sum(n + 1 for n in lengths)

    backend.reset_counts()
    backend.continuation_logprobs(prompt, WORDS, naive=True)
    assert backend.counts.computed_tokens == sum(p + n for n in lengths)


def test_batch_size_and_order_do_not_change_the_result(checkpoint, backend):
    prompt = prompts(backend)[0]
    one = load_backend("hf", model_path=str(checkpoint), batch_size=1)
    wide = load_backend("hf", model_path=str(checkpoint), batch_size=64)
    expected = one.continuation_logprobs(prompt, WORDS, "sum")
    np.testing.assert_allclose(wide.continuation_logprobs(prompt, WORDS, "sum"), expected, atol=1e-4, rtol=0)
    shuffled = np.random.default_rng(0).permutation(len(WORDS))
    got = backend.continuation_logprobs(prompt, [WORDS[i] for i in shuffled], "sum")
    np.testing.assert_allclose(got, expected[shuffled], atol=1e-4, rtol=0)


def test_one_token_prompt_has_no_prefix_to_share(backend, model):
    prompt = "Yes"
    assert len(backend.encode_prompt(prompt)) == 1
    np.testing.assert_allclose(
        backend.continuation_logprobs(prompt, WORDS, "sum"), reference(backend, model, prompt, WORDS), atol=1e-4, rtol=0
    )


def test_many_prompts_equal_one_call_each(backend):
    ps = prompts(backend)
    lists = [WORDS[:5], WORDS[5:12], WORDS]
    many = backend.continuation_logprobs_many(ps, lists, "sum")
    assert [m.shape for m in many] == [(5,), (7,), (len(WORDS),)]
    for p, c, m in zip(ps, lists, many):  # prompts 0 and 2 share a prefix: equal up to float rounding
        np.testing.assert_allclose(m, backend.continuation_logprobs(p, c, "sum"), atol=1e-4)
    with pytest.raises(BackendError, match="2 prompts but 1 lists"):
        backend.continuation_logprobs_many(ps[:2], lists[:1])


def test_many_prompts_run_their_shared_prefix_once(checkpoint, model):
    """A user's questions after one history: the history runs once, each question's own tokens
    extend it, and every option scores as it would after its whole prompt."""
    backend = load_backend("hf", model_path=str(checkpoint), batch_size=4)
    questions = [backend.apply_chat(f"{HISTORY} {HISTORY} Question {q}: which fits the user best?") for q in "ABC"]
    ps = [*questions, PROMPTS[1]]
    lists = [WORDS[:4], WORDS[4:8], WORDS[8:11], WORDS[:3]]
    many = backend.continuation_logprobs_many(ps, lists, "sum")
    for p, c, m in zip(ps, lists, many):
        np.testing.assert_allclose(m, reference(backend, model, p, c), atol=1e-4, rtol=0)
    shared = backend.counts.computed_tokens
    backend.reset_counts()
    for p, c in zip(ps, lists):
        backend.continuation_logprobs(p, c, "sum")
    alone = backend.counts.computed_tokens
    ids = [backend.encode_prompt(p) for p in questions]
    common = next(k for k in range(min(map(len, ids))) if len({seq[k] for seq in ids}) > 1)
    assert alone - shared == 2 * common  # the questions' common prefix ran once instead of three times


def test_bad_requests_are_refused(backend):
    with pytest.raises(BackendError, match="encodes to no tokens"):
        backend.continuation_logprobs("prompt", [" a", ""])
    with pytest.raises(BackendError, match="normalize must be 'sum' or 'mean'"):
        backend.continuation_logprobs("prompt", [" a"], normalize="max")
    with pytest.raises(BackendError, match="at least one continuation"):
        backend.continuation_logprobs("prompt", [])
    with pytest.raises(BackendError, match="exceed the model's 2048 positions"):
        backend.continuation_logprobs("prompt", [" the matrix" * 1000])
