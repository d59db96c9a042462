"""The QA text baselines fine-tuned with LoRA on the QA training split (UQABench fine-tunes its
Text20 and Text50 as well): `text20-lora` and `text50-lora`.

Training: every training question is one example, its prompt exactly the zero-shot model's
(`QATextLLM.qa_prompt`: the last 20 or 50 items, the question, the options) and its target the
correct option's text; the loss is the mean cross-entropy of the option's tokens after the prompt
(`listwise.answer_loss`, the language-modelling loss the next-item LoRA model trains on titles).
The answers are the zero-shot model's (each option's length-normalised log-likelihood), with the
adapter on. Validation: accuracy on `valid_questions` validation questions (a seeded draw);
training keeps the best adapter, stops after `patience` evaluations without a better one, and
caches adapters by content hash (models/llm/lora.py). The QA training, validation and test users
are disjoint (benchmark/protocol/uqa.py).

Defaults: LoRA rank 32 and alpha 128 (RecBench's pair-wise setting), learning rate 1e-4, batch
64; a CPU cannot afford them on these prompt lengths, so the plans set smaller budgets."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from benchmark.api import FitData, ModelError, QAFitData
from benchmark.data.dataset import Catalogue
from benchmark.llm import BACKENDS
from benchmark.registry import register_model
from benchmark.requests import QARequest
from models.layers import args
from models.llm import listwise
from models.llm.lora import TRAINING_ARGS, Digest, FittedAdapter, fit_adapter, schedule, training_settings
from models.llm.qa_text import TASK, QATextLLM, qa_meta


class QATextLoRA(QATextLLM):
    """A QA text baseline with a LoRA adapter trained on the QA training split; `backend` "hf"
    or "vllm" serves it (training always runs on the HF engine, on `device`, "cpu" by default).
    Arguments: `model_path`, `backend`, `device`, `dtype`, `batch_size` (inference) and
    `normalize` as for the zero-shot baselines; the LoRA and training arguments of llm-lora-text
    (`lora.TRAINING_ARGS`: lora_r, lora_alpha, lora_dropout, target_modules, lora_layers, lr,
    max_steps, epochs, train_batch_size, grad_accum, eval_every, patience, weight_decay); and
    `valid_questions`, 0 to turn validation off (the last adapter is then kept)."""

    meta = qa_meta(50, "fine-tuned")
    takes = ("model_path", "backend", "device", "batch_size", "dtype", "normalize")

    def __init__(self, valid_questions: int = 200, **kwargs: Any) -> None:
        training = {k: kwargs.pop(k) for k in list(kwargs) if k in TRAINING_ARGS}
        super().__init__(**{"device": "cpu", **kwargs})
        name = self.meta.name
        if self.backend_name not in BACKENDS:
            raise ValueError(f"{name}: argument backend must be one of {sorted(BACKENDS)}, got {self.backend_name!r}")
        self.lora, self.train_settings = training_settings(name, training)
        self.valid_questions = args.non_negative_int(name, "valid_questions", valid_questions)
        self.fitted: FittedAdapter | None = None

    def setup(self, catalogue: Catalogue, seed: int) -> None:
        """As the zero-shot model, on the HF engine whatever the serving backend: it trains there."""
        serving, self.backend_name = self.backend_name, "hf"
        try:
            super().setup(catalogue, seed)
        finally:
            self.backend_name = serving
        torch.manual_seed(seed)
        self.fitted = None

    def fit(self, data: FitData) -> None:
        self._ready("fit()")
        if self.fitted is not None:
            raise ModelError(f"{self.meta.name}: already fitted; call setup() again before another fit()")
        if not isinstance(data, QAFitData):
            raise ModelError(f"{self.meta.name} trains on the QA fine-tune split, got {type(data).__name__}")
        if not data.train:
            raise ModelError(f"{self.meta.name}: the QA fine-tune split has no training questions")
        steps = self.train_settings.steps_for(len(data.train))
        batches = schedule([[i] for i in range(len(data.train))], steps, self.train_settings, self.seed)
        used = sorted({i for b in batches for i in b})
        prompts = {i: self.qa_prompt(data.train[i]) for i in used}
        targets = {i: data.train[i].options[int(data.train_answers[i])] for i in used}
        valid, truth = self._valid_subset(data)
        digest = Digest().add(TASK, [[prompts[i], targets[i]] for b in batches for i in b],
                              [self.qa_prompt(r) for r in valid], truth.tolist())

        def accuracy() -> float:
            return float((self.option_scores(valid).argmax(axis=1) == truth).mean())

        self.fitted = fit_adapter(
            self, self.lora, self.train_settings, batches, digest.hexdigest(),
            listwise.answer_loss(self.backend, prompts, targets), accuracy if valid else None, metric="accuracy",
            desc=f"{self.meta.name} qa", extra={"task": TASK, "shown": self.shown, "loss": "option",
                                                 "normalize": self.normalize, "dtype": self.dtype,
                                                 "device": torch.device(self.device).type})
        self._requests = self._prompt_tokens = 0  # validation answers are not the run's

    def _valid_subset(self, data: QAFitData) -> tuple[list[QARequest], np.ndarray]:
        """Up to `valid_questions` validation questions, drawn with the model's seed."""
        take = np.sort(np.random.default_rng([self.seed, 3]).permutation(len(data.valid))[: self.valid_questions])
        return [data.valid[i] for i in take], np.asarray(data.valid_answers, dtype=np.int64)[take]

    def answer(self, requests: list[QARequest]) -> np.ndarray:
        if self.fitted is None:
            raise ModelError(f"{self.meta.name}: call fit() before answer()")
        return super().answer(requests)

    def extra_stats(self) -> dict[str, Any]:
        stats = super().extra_stats()
        return stats if self.fitted is None else stats | self.fitted.stats()


@register_model("text50-lora")
class Text50LoRA(QATextLoRA):
    shown = 50
    meta = qa_meta(50, "fine-tuned")


@register_model("text20-lora")
class Text20LoRA(QATextLoRA):
    shown = 20
    meta = qa_meta(20, "fine-tuned")
