"""Text baselines of personalized QA (UQABench's Text20 and Text50, and a no-history control): a
zero-shot LLM reads the user's last 20 or 50 items as text, or none, and picks an option.

The prompt is the task's template (tasks/prompts/uqa_answer.j2): the history shown (each item's
title and its "category: ...; brand: ..." details, oldest first), the question and its options.
Each option is scored by its log-likelihood as the answer right after the prompt, teacher-forced on
its own tokens and divided by its token count (`normalize: mean`; `sum` keeps the total), the
engine's `continuation_logprobs`; the answer is the option with the highest score (the scores go
to the task, which takes the top one). The engine runs the prompt once per request and its
options batched on it, and a user's questions, which share the history, run that history once
(HF engine; vLLM with prefix caching does the same on its own).

The three models share everything but how much history they show: one class here, three thin
registered subclasses. Engine loading, titles and details come from the zero-shot text model
(models/llm/zeroshot_text.py); `prompt_tokens_per_request` in the result's extra efficiency
figures is the mean prompt length in tokens (UQABench Table 7's "Avg. Tokens")."""

from __future__ import annotations

from typing import Any, ClassVar, Sequence

import numpy as np

from benchmark.api import Model, ModelError, ModelMeta
from benchmark.data.dataset import Catalogue
from benchmark.prompts import PromptError
from benchmark.registry import register_model
from benchmark.requests import QARequest
from models.layers.citations import UQABENCH
from models.llm.finetuned_text import TALLREC
from models.llm.zeroshot_text import LLMZeroShotText

TASK = "uqa"
ENGINE_ARGS = ("model_path", "backend", "device", "batch_size", "dtype", "adapter_path", "engine_args", "normalize")
SMOLLM2 = "Allal et al., SmolLM2: When Smol Goes Big, arXiv:2502.02737"


def qa_meta(shown: int, scheme: str = "zero-shot") -> ModelMeta:
    """The metadata of the text baseline that shows the last `shown` items (0: the no-history
    control), zero-shot or fine-tuned."""
    tuned = scheme == "fine-tuned"
    context = (f"The user's last {shown} items as text in the prompt" if shown else
               "The control: the same LLM and prompt with no history shown, so it answers from the question and "
               "the options alone")
    return ModelMeta(
        name=(f"Text{shown}" if shown else "No history") + (" (LoRA)" if tuned else " (zero-shot)"),
        paradigm="llm",
        item_repr="text",
        scheme=scheme,
        backend="hf",
        supports=("answer",),
        license="Apache-2.0",
        citation=f"{UQABENCH}; {SMOLLM2}" + (f"; {TALLREC}" if tuned else ""),
        description=context + ("; a LoRA adapter trained on the QA training users' questions (the correct "
                               "option's tokens after the prompt)" if tuned else "")
        + "; each option scored by its length-normalised log-likelihood as the answer.",
    )


def same_option_count(model: str, requests: Sequence[QARequest]) -> None:
    """Refuse a call whose questions have different numbers of options: scores come back as one
    (requests, options) array."""
    widths = {len(r.options) for r in requests}
    if len(widths) > 1:
        raise ModelError(f"{model}: the requests of one call must have the same number of options, got {sorted(widths)}")


class QATextLLM(LLMZeroShotText):
    """A zero-shot text LLM answering QA requests with the last `shown` history items in its
    prompt. Its arguments are the zero-shot text model's engine arguments (`ENGINE_ARGS`:
    `backend` "hf" or "vllm", `model_path`, `adapter_path`, `engine_args`, `device`, `dtype`,
    `batch_size`) and `normalize`, the options' length normalisation ("mean" or "sum"); the
    history shown is the class's."""

    shown: ClassVar[int] = 50
    meta = qa_meta(50)
    takes: ClassVar[tuple[str, ...]] = ENGINE_ARGS

    def __init__(self, **kwargs: Any) -> None:
        unknown = sorted(set(kwargs) - set(self.takes))
        if unknown:
            raise TypeError(f"{type(self).__name__} takes no arguments {unknown}; it takes {sorted(self.takes)}")
        super().__init__(max_history=self.shown, **kwargs)
        self._requests = self._prompt_tokens = 0

    # QA only: the CTR and next-item methods of the zero-shot model it builds on are refused
    score = Model.score
    rank = Model.rank

    def setup(self, catalogue: Catalogue, seed: int) -> None:
        if TASK not in self.prompts:
            raise ModelError(f"{self.meta.name}: no {TASK!r} prompt template was given (the runner sets model.prompts "
                             f"from the task; got templates for {sorted(self.prompts)})")
        super().setup(catalogue, seed)
        self._requests = self._prompt_tokens = 0

    def qa_prompt(self, request: QARequest) -> str:
        """The exact text after which the options are scored: the task's template rendered with
        the history shown, the question and the options, wrapped as the template says."""
        shown = request.history[-self.shown:] if self.shown else ()
        history = [{"title": self._titles[i], "details": self._details[i]} for i in shown]
        template = self.template(TASK)
        try:
            message = template.render(history=history, question=request.question, options=list(request.options))
        except PromptError as e:
            raise ModelError(f"{self.meta.name}: {e}") from None
        return template.full_prompt(message, self.backend.apply_chat)

    def answer(self, requests: list[QARequest]) -> np.ndarray:
        """Scores, shape (len(requests), n_options): each option's log-likelihood after the prompt."""
        self._ready("answer()")
        return self.option_scores(requests)

    def option_scores(self, requests: list[QARequest]) -> np.ndarray:
        """What `answer` returns, for any requests (a fine-tuned subclass validates with it)."""
        same_option_count(self.meta.name, requests)
        if not requests:
            return np.empty((0, 0))
        prompts = [self.qa_prompt(r) for r in requests]
        self._requests += len(prompts)
        self._prompt_tokens += sum(self.backend.count_tokens(prompts))
        return np.stack(self.backend.continuation_logprobs_many(prompts, [list(r.options) for r in requests],
                                                                self.normalize))

    def extra_stats(self) -> dict[str, Any]:
        """The zero-shot model's engine figures that apply to QA, with prompt tokens counted per QA
        request (the engine counts one prompt per option)."""
        stats = super().extra_stats()
        if not stats:
            return {}
        kept = {k: stats[k] for k in ("llm_backend", "chat_template_applied", "computed_tokens", "engine_args")}
        return kept | {
            "history_shown": self.shown,
            "requests_answered": self._requests,
            "prompt_tokens": self._prompt_tokens,
            "prompt_tokens_per_request": self._prompt_tokens / self._requests if self._requests else 0.0,
            "option_normalization": self.normalize,
        }


@register_model("text50")
class Text50(QATextLLM):
    shown = 50
    meta = qa_meta(50)


@register_model("text20")
class Text20(QATextLLM):
    shown = 20
    meta = qa_meta(20)


@register_model("no-history")
class NoHistory(QATextLLM):
    shown = 0
    meta = qa_meta(0)
