"""The embedding-prompted LLMs (models/llm/emb_prompt.py) and their adapters (models/layers/
soft_prompt.py) on a tiny random Llama built in the test: soft-prompt scoring against a forward
done by hand, the adapters' shapes and masks, a frozen encoder, training that learns a rule, the
caches, and argument errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from helpers_models import contract_problems

from benchmark.api import ModelError, QAFitData
from benchmark.data.dataset import Catalogue
from benchmark.registry import get_model
from benchmark.requests import QARequest
from models.layers.soft_prompt import MeanAdapter, QFormerAdapter, build_adapter
from models.llm.emb_prompt import (ENCODERS, EmbHSTUMean, EmbHSTUQFormer, EmbPromptLLM, EmbSASRecMean, EmbSASRecQFormer,
                                   EmbTransformerPPMean, EmbTransformerPPQFormer, PLACEHOLDER)
from tasks import UQATask
from tasks.prompts import load

N_ITEMS = 30
CATEGORIES = ("cameras", "lenses", "bags")
QUESTION = "Which category comes up most often?"


@pytest.fixture(scope="module")
def catalogue():
    items = pd.DataFrame({"title": [f"Nikora item N{i}" for i in range(N_ITEMS)],
                          "category": list(CATEGORIES) * (N_ITEMS // 3),
                          "brand": ["Nikora"] * N_ITEMS, "description": [""] * N_ITEMS})
    return Catalogue(items=items, dataset_name="tiny")


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("RECBOARD_CACHE", str(tmp_path / "cache"))


def user_history(rng, category: int, n: int = 12) -> tuple[int, ...]:
    """Mostly items of one category (item i has category i % 3)."""
    items = [int(rng.integers(0, 10)) * 3 + (category if rng.random() < 0.9 else int(rng.integers(0, 3)))
             for _ in range(n)]
    return tuple(items)


def qa_data(n_train: int = 24, n_valid: int = 9, seed: int = 0) -> QAFitData:
    rng = np.random.default_rng(seed)
    reqs, answers = [], []
    for u in range(n_train + n_valid):
        c = u % 3
        reqs.append(QARequest(u, user_history(rng, c), QUESTION, CATEGORIES))
        answers.append(c)
    sequences = [user_history(rng, u % 3, 15) for u in range(60)]
    return QAFitData(train=reqs[:n_train], train_answers=np.array(answers[:n_train]), valid=reqs[n_train:],
                     valid_answers=np.array(answers[n_train:]), sequences=sequences, n_items=N_ITEMS)


def build(cls, checkpoint, catalogue, **kw) -> EmbPromptLLM:
    args = dict(model_path=str(checkpoint), dtype="float32", batch_size=4, window=8,
                encoder_args={"hidden": 16, "epochs": 2, "heads": 1},
                max_steps=6, train_batch_size=4, eval_every=3, lr=1e-2, valid_rows=9, heads=2, n_queries=16)
    args.update(kw)
    if "encoder" in kw and kw["encoder"] == "gru4rec":
        args["encoder_args"] = {"hidden": 16, "epochs": 2}
    model = cls(**args)
    model.prompts = {"uqa": load("uqa_answer__user_emb").to_order()}
    model.setup(catalogue, seed=0)
    return model


def test_registered_and_keep_their_contract():
    for key, cls in (("emb-sasrec-mean", EmbSASRecMean), ("emb-sasrec-qformer", EmbSASRecQFormer),
                     ("emb-transformerpp-mean", EmbTransformerPPMean),
                     ("emb-transformerpp-qformer", EmbTransformerPPQFormer),
                     ("emb-hstu-mean", EmbHSTUMean), ("emb-hstu-qformer", EmbHSTUQFormer)):
        assert contract_problems(key, cls) == [] and get_model(key) is cls
        assert cls.meta.paradigm == "llm" and cls.meta.item_repr == "user-emb" and cls.meta.scheme == "fine-tuned"
    assert get_model("emb-gru4rec-mean").encoder_name == "gru4rec"
    assert EmbSASRecQFormer().adapter_kind == "qformer"
    assert get_model("emb-transformerpp-mean").encoder_name == "transformerpp"
    assert get_model("emb-transformerpp-mean").meta.name == "Emb Transformer++ + mean (adapter)"
    assert EmbTransformerPPQFormer().meta.name == "Emb Transformer++ + Q-Former (adapter)"
    assert EmbPromptLLM(encoder="transformerpp", train="adapter+lora").meta.name == \
        "Emb Transformer++ + mean (adapter+lora)"
    assert get_model("emb-hstu-qformer").encoder_name == "hstu"
    assert EmbHSTUMean().meta.name == "Emb HSTU + mean (adapter)"


def test_the_task_hands_embedding_models_their_template_variant():
    task = UQATask()
    assert task.prompt_for("user-emb").name == "uqa_answer__user_emb"
    assert task.prompt_for("text").name == task.prompt.name == "uqa_answer"
    assert "{{ user_embedding }}" in task.prompt_for("user-emb").text


def test_mean_adapter_is_the_masked_mean_through_its_mlp():
    torch.manual_seed(0)
    adapter = MeanAdapter(4, 6, hidden=5)
    states = torch.randn(2, 3, 4)
    mask = torch.tensor([[False, True, True], [False, False, False]])
    out = adapter(states, mask)
    assert out.shape == (2, 1, 6)
    torch.testing.assert_close(out[0, 0], adapter.mlp(states[0, 1:].mean(0)))
    torch.testing.assert_close(out[1, 0], adapter.mlp(torch.zeros(4)))  # no item: the zero vector
    with torch.no_grad():  # a zero output layer leaves only its bias
        adapter.mlp[2].weight.zero_()
    torch.testing.assert_close(adapter(states, mask)[0, 0], adapter.mlp[2].bias)


def test_qformer_gives_16_tokens_and_ignores_padding():
    torch.manual_seed(0)
    adapter = QFormerAdapter(8, 6, n_queries=16, heads=2).eval()
    states = torch.randn(2, 5, 8)
    mask = torch.tensor([[False, False, True, True, True]] * 2)
    changed = states.clone()
    changed[:, :2] = torch.randn(2, 2, 8) * 100  # only padded positions differ
    out = adapter(states, mask)
    assert out.shape == (2, 16, 6)
    torch.testing.assert_close(out, adapter(changed, mask))
    empty = adapter(torch.zeros(1, 5, 8), torch.zeros(1, 5, dtype=torch.bool))
    assert torch.isfinite(empty).all()
    assert isinstance(build_adapter("qformer", 8, 6, heads=2), QFormerAdapter)
    with pytest.raises(ValueError, match="adapter must be one of"):
        build_adapter("lstm", 8, 6)


def test_bad_arguments_are_clear_errors():
    with pytest.raises(ValueError, match="argument encoder must be one of"):
        EmbPromptLLM(encoder="mamba")
    with pytest.raises(ValueError, match="argument adapter must be one of"):
        EmbPromptLLM(adapter="lstm")
    with pytest.raises(ValueError, match="argument train must be one of"):
        EmbPromptLLM(train="full")
    with pytest.raises(ValueError, match="hidden"):
        EmbPromptLLM(encoder_args={"hidden": 0})
    with pytest.raises(ValueError, match=r"Transformer\+\+: argument hidden \(18\) must be a multiple of 2 x heads"):
        EmbPromptLLM(encoder="transformerpp", encoder_args={"hidden": 18, "heads": 2})
    with pytest.raises(ValueError, match="HSTU: argument relative_bias must be true or false"):
        EmbPromptLLM(encoder="hstu", encoder_args={"relative_bias": 1})
    with pytest.raises(ValueError, match="n_queries"):
        EmbPromptLLM(n_queries=0)
    with pytest.raises(ValueError, match="argument backend must be 'hf' or 'vllm', got 'onnx'"):
        EmbPromptLLM(backend="onnx")
    with pytest.raises(ValueError, match="argument engine_args are vLLM's; backend 'hf' takes none"):
        EmbPromptLLM(engine_args={"enforce_eager": True})


def test_fit_needs_qa_data_and_answer_needs_fit(checkpoint, catalogue):
    model = build(EmbSASRecMean, checkpoint, catalogue)
    with pytest.raises(ModelError, match="call fit"):
        model.answer(qa_data().valid)
    with pytest.raises(ModelError, match="personalized-QA data"):
        model.fit(object())
    model.prompts = {"uqa": UQATask().prompt.to_order()}  # the text template has no placeholder
    with pytest.raises(ModelError, match="user_embedding"):
        model.setup(catalogue, seed=0)


def test_scores_equal_a_forward_by_hand_and_the_cache_restores_them(checkpoint, catalogue):
    data = qa_data()
    model = build(EmbSASRecQFormer, checkpoint, catalogue)
    before = {k: v.clone() for k, v in model.encoder.net.state_dict().items()}
    model.fit(data)
    assert not model.encoder_cached and not model.adapter_cached
    requests = data.valid[:3]
    scores = model.answer(requests)
    assert scores.shape == (3, 3)

    llm = model.backend.model
    embed = llm.get_input_embeddings()
    states, mask = model.user_states([r.history for r in requests])
    soft = model.adapter(states, mask)
    assert soft.shape[1] == 16
    for r, request in enumerate(requests):
        text = model.template.full_prompt(model.template.render(user_embedding=PLACEHOLDER, question=request.question,
                                                                options=list(request.options)), model.backend.apply_chat)
        head, tail = text.split(PLACEHOLDER)
        for j, option in enumerate(request.options):
            cont = model.backend.tokenize(option)
            rows = torch.cat([embed(torch.tensor(model.backend.encode_prompt(head))), soft[r].detach(),
                              embed(torch.tensor(model.backend.tokenize(tail) + cont))])
            with torch.no_grad():
                logp = torch.log_softmax(llm(inputs_embeds=rows.unsqueeze(0)).logits[0].double(), -1)
            n = rows.shape[0]
            expected = np.mean([float(logp[n - len(cont) - 1 + k, t]) for k, t in enumerate(cont)])
            assert scores[r, j] == pytest.approx(expected, abs=1e-4)

    # the encoder kept its pre-trained weights (trained, then frozen during adapter training)
    trained = model.encoder.net.state_dict()
    assert any(not torch.equal(before[k], trained[k]) for k in before)
    model2 = build(EmbSASRecQFormer, checkpoint, catalogue)
    model2.fit(data)
    assert model2.encoder_cached and model2.adapter_cached
    for k, v in model2.encoder.net.state_dict().items():
        torch.testing.assert_close(v, trained[k], rtol=0, atol=0)
    np.testing.assert_array_equal(model2.answer(requests), scores)
    stats = model2.extra_stats()
    assert stats["soft_tokens"] == 16 and stats["template"] == "uqa_answer__user_emb"


def test_adapter_training_moves_only_the_adapter(checkpoint, catalogue):
    """The adapter's weights train (gradients reach it through inputs_embeds) while the encoder
    and the LLM stay as they were. (The tiny random LLM's output hardly depends on its input, so
    no rule can be learnt through it here: its loss stays at log(vocab).)"""
    data = qa_data(n_train=12, n_valid=6)
    model = build(EmbSASRecMean, checkpoint, catalogue, max_steps=4, eval_every=2, lr=0.1, valid_rows=6)
    llm_before = {k: v.clone() for k, v in model.backend.model.state_dict().items()}
    encoder_key = model._pretrain_encoder(data.sequences)
    encoder_before = {k: v.clone() for k, v in model.encoder.net.state_dict().items()}
    torch.manual_seed(model.seed)
    initial = build_adapter("mean", 16, int(model.backend.model.config.hidden_size))
    model.fit(data)
    assert model.encoder_cached  # pre-trained above under the same key
    assert encoder_key and all(torch.equal(v, model.encoder.net.state_dict()[k]) for k, v in encoder_before.items())
    assert all(torch.equal(v, model.backend.model.state_dict()[k]) for k, v in llm_before.items())
    assert all(p.requires_grad for p in model.backend.model.parameters())  # unfrozen again after training
    trained = model.adapter.state_dict()
    assert all(not torch.equal(v, trained[k]) for k, v in initial.state_dict().items())
    assert model.train_log.steps >= 2 and np.isfinite(model.train_log.losses).all()


def test_adapter_plus_lora_trains_and_serves_the_lora(checkpoint, catalogue):
    model = build(EmbSASRecMean, checkpoint, catalogue, train="adapter+lora", lora_r=2, lora_alpha=4, max_steps=3)
    model.fit(qa_data())
    assert type(model.backend.model).__name__.startswith("PeftModel")
    assert model.answer(qa_data().valid[:2]).shape == (2, 3)
    assert model.meta.name.endswith("(adapter+lora)")


@pytest.mark.parametrize("encoder", sorted(ENCODERS))
def test_every_encoder_pretrains_and_prompts_the_llm(encoder, checkpoint, catalogue):
    """Each encoder trains on next item, gives states over the last `window` items with the padding
    masked, and the model answers after their soft tokens."""
    data = qa_data(n_train=6, n_valid=3)
    model = build(EmbPromptLLM, checkpoint, catalogue, encoder=encoder, adapter="mean", max_steps=2, eval_every=2,
                  valid_rows=3)
    assert isinstance(model.encoder, ENCODERS[encoder])
    before = {k: v.clone() for k, v in model.encoder.net.state_dict().items()}
    model.fit(data)
    assert any(not torch.equal(v, model.encoder.net.state_dict()[k]) for k, v in before.items())
    states, mask = model.user_states([(1, 2, 3), tuple(range(12))])
    assert states.shape == (2, 8, 16) and mask.sum(1).tolist() == [3, 8] and not mask[0, :5].any()
    scores = model.answer(data.valid)
    assert scores.shape == (3, 3) and np.isfinite(scores).all()
    assert model.extra_stats()["encoder"] == encoder


def test_the_loss_of_a_batch_is_the_mean_of_its_rows_whatever_their_widths(checkpoint):
    """Rows of very different widths run in separate groups; the loss is still the mean of each
    row's own loss, as if each ran alone."""
    from benchmark.llm import load_backend
    from models.llm.emb_prompt import soft_continuation_loss

    model = load_backend("hf", model_path=str(checkpoint), dtype="float32").model
    d = model.get_input_embeddings().weight.shape[1]
    gen = torch.Generator().manual_seed(0)
    rows = [torch.randn(n, d, generator=gen) * 0.1 for n in (5, 6, 20)]
    targets = [[3, 4], [7], [5, 6, 8]]
    with torch.no_grad():
        alone = [soft_continuation_loss(model, [r], [t]).item() for r, t in zip(rows, targets)]
        batch = soft_continuation_loss(model, rows, targets).item()
    assert batch == pytest.approx(np.mean(alone), abs=1e-5)
