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

import dataclasses
from typing import Any, Sequence

import numpy as np
import torch

from benchmark.api import FitData, ModelError, QAFitData
from benchmark.data.dataset import Catalogue
from benchmark.llm import BACKENDS, DEFAULT_MODEL
from benchmark.registry import register_model
from benchmark.requests import QARequest
from models.layers import args
from models.llm import listwise
from models.llm.lora import Digest, FittedAdapter, LoRASettings, TrainSettings, fit_adapter, schedule
from models.llm.finetuned_text import TALLREC
from models.llm.qa_text import TASK, QATextLLM


class QATextLoRA(QATextLLM):
    """A QA text baseline with a LoRA adapter trained on the QA training split; `backend` "hf"
    or "vllm" serves it (training always runs on the HF engine). LoRA and training arguments as
    for llm-lora-text; `valid_questions` 0 turns validation off (the last adapter is kept)."""

    meta = dataclasses.replace(
        QATextLLM.meta, name="Text50 (LoRA)", scheme="fine-tuned", citation=f"{QATextLLM.meta.citation}; {TALLREC}",
        description="The Text50 baseline with a LoRA adapter trained on the QA training users' questions (the "
        "correct option's tokens after the prompt); options scored by length-normalised log-likelihood.")

    def __init__(
        self,
        model_path: str = DEFAULT_MODEL,
        backend: str = "hf",
        device: str = "cpu",
        batch_size: int = 16,
        dtype: str = "float32",
        normalize: str = "mean",
        lora_r: int = 32,
        lora_alpha: float = 128,
        lora_dropout: float = 0.05,
        target_modules: Sequence[str] = ("q_proj", "v_proj"),
        lora_layers: int | None = None,
        lr: float = 1e-4,
        max_steps: int = 1000,
        epochs: float = 1.0,
        train_batch_size: int = 64,
        grad_accum: int = 1,
        eval_every: int = 50,
        patience: int = 3,
        weight_decay: float = 0.0,
        valid_questions: int = 200,
    ) -> None:
        super().__init__(model_path=model_path, backend=backend, device=device, batch_size=batch_size, dtype=dtype,
                         normalize=normalize)
        name = self.meta.name
        if backend not in BACKENDS:
            raise ValueError(f"{name}: argument backend must be one of {sorted(BACKENDS)}, got {backend!r}")
        self.lora = LoRASettings.checked(name, lora_r, lora_alpha, lora_dropout, target_modules, lora_layers)
        self.train_settings = TrainSettings.checked(
            name, lr=lr, max_steps=max_steps, epochs=epochs, batch_size=train_batch_size, grad_accum=grad_accum,
            eval_every=eval_every, patience=patience, weight_decay=weight_decay)
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


@register_model("text20-lora")
class Text20LoRA(QATextLoRA):
    shown = 20
    meta = dataclasses.replace(
        QATextLoRA.meta, name="Text20 (LoRA)",
        description="The Text20 baseline with a LoRA adapter trained on the QA training users' questions (the "
        "correct option's tokens after the prompt); options scored by length-normalised log-likelihood.")
