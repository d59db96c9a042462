"""An LLM that sees items as tokens of its own, fine-tuned with LoRA plus the new token rows: the
shared body of llm-id (unique IDs, RecBench groups D and I) and llm-sid (semantic IDs, groups F
and J; LC-Rec, TIGER's IDs in an LLM).

- Setup: the item tokenizer's codes (benchmark.itemtok) for the catalogue, added to the HF
  engine's vocabulary (models/llm/item_tokens.py: rows start as title-embedding means). Prompts
  are the task's templates with each item's token string where a text LLM shows its title: the
  next-item task hands these models its item-token template (tasks/prompts/
  seqrec_next_item__item_tokens.j2, chosen by item_repr), CTR its yes/no template (ctr_yes_no.j2, the
  candidate's details left empty: the tokens are all the model sees of an item).
- Fit: LoRA plus the new tokens' embedding rows (peft's trainable_token_indices; a tied LM head
  shares them), through the text model's trainer and adapter cache (models/llm/lora.py). Next
  item: one example per training sequence, the prompt listing its history, the target the last
  item's tokens, cross-entropy over the whole vocabulary on those tokens only; validation
  NDCG@10 on sampled candidates. CTR: the text model's yes/no training, prompts in item tokens.
  The cache key holds the tokenizer's config and a hash of every item's tokens, and the saved
  adapter holds the trained rows, so a cache hit restores the same model.
- Rank, whole catalogue: exact constrained beam search over the prefix trie of every item's
  tokens (`beam_width`, `top_k`), the user's history excluded, on the HF engine with the prompt
  run once into a KV cache (HFBackend.trie_beam_search); the answer is a sparse TopK scored by
  each item's log-likelihood. Rank, sampled candidates: each candidate's exact log-likelihood
  (the sum over its tokens, teacher-forced) after the shared prompt (HFBackend.
  sequence_logprobs). Score (CTR): RecBench eq. 6, the softmax over the yes/no logits.

Only the HF engine serves these models (see VLLM_UNSUPPORTED and the README). Defaults follow
RecBench §4 (LoRA 128/128 list-wise, 32/128 pair-wise, learning rate 1e-4, batch 64) except the
dtype, bfloat16 (3.3 times faster than float32 on a CPU with avx512_bf16; peft keeps the adapter
and the trained rows in float32); a plan sets a CPU budget through the training arguments.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Sequence

import numpy as np

from benchmark.api import ModelError, ModelMeta, SeqFitData, candidate_matrix
from benchmark.data.dataset import Catalogue
from benchmark.itemtok import TokenizerConfig, item_codes
from benchmark.llm import DEFAULT_MODEL
from benchmark.requests import RankRequest, TopK
from models.layers import args
from models.llm import item_tokens, listwise
from models.llm.finetuned_text import SEQ, LLMLoRAText

VLLM_UNSUPPORTED = (
    "runs on the HF engine only (backend: hf): vLLM 0.32 cannot serve LoRA adapters with added-token "
    "embeddings, and its batch-level logits processors cannot run this exact beam search (see the README, "
    "'Item-token LLMs on vLLM')")


class LLMItemTokens(LLMLoRAText):
    """`tokenizer`: an item tokenizer kind of `tokenizer_kinds` or a config dict (benchmark.
    itemtok.TokenizerConfig; None takes `default_tokenizer`); `beam_width` and `top_k` the
    full-catalogue beam search (top_k <= beam_width items per request); the other arguments
    are llm-lora-text's (LoRA shape, training budget, CTR loss, validation)."""

    tokenizer_kinds: ClassVar[tuple[str, ...]]
    default_tokenizer: ClassVar[str | dict[str, Any]]

    def __init__(
        self,
        tokenizer: str | dict[str, Any] | None = None,
        model_path: str = DEFAULT_MODEL,
        backend: str = "hf",
        device: str = "cpu",
        batch_size: int = 16,
        max_history: int = 20,
        dtype: str = "bfloat16",
        lora_r: int | None = None,
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
        valid_rows: int = 600,
        loss: str = "lm",
        seq_valid_users: int = 50,
        seq_valid_candidates: int = 20,
        beam_width: int = 20,
        top_k: int = 20,
    ) -> None:
        name = self.meta.name
        if backend == "vllm":
            raise ModelError(f"{name} {VLLM_UNSUPPORTED}")
        if backend != "hf":
            raise ValueError(f"{name}: argument backend must be 'hf', got {backend!r}")
        self.item_tokenizer = self.tokenizer_config(tokenizer)
        super().__init__(model_path=model_path, backend=backend, device=device, batch_size=batch_size,
                         max_history=max_history, dtype=dtype, lora_r=lora_r, lora_alpha=lora_alpha,
                         lora_dropout=lora_dropout, target_modules=target_modules, lora_layers=lora_layers, lr=lr,
                         max_steps=max_steps, epochs=epochs, train_batch_size=train_batch_size,
                         grad_accum=grad_accum, eval_every=eval_every, patience=patience, weight_decay=weight_decay,
                         valid_rows=valid_rows, loss=loss, normalize="sum", seq_valid_users=seq_valid_users,
                         seq_valid_candidates=seq_valid_candidates)
        self.beam_width = args.positive_int(name, "beam_width", beam_width)
        self.top_k = args.positive_int(name, "top_k", top_k)
        if self.top_k > self.beam_width:
            raise ValueError(f"{name}: argument top_k ({top_k}) must not exceed beam_width ({beam_width})")
        self.vocab: item_tokens.ItemVocabulary | None = None

    @classmethod
    def tokenizer_config(cls, tokenizer: Any) -> TokenizerConfig:
        """The item tokenizer `tokenizer` names, checked against `tokenizer_kinds`."""
        name = cls.meta.name
        value = cls.default_tokenizer if tokenizer is None else tokenizer
        if not isinstance(value, (str, dict)):
            raise ValueError(f"{name}: argument tokenizer must be a kind name or a config dict, got {tokenizer!r}")
        try:
            config = TokenizerConfig.parse(value)
        except ValueError as e:
            raise ValueError(f"{name}: argument tokenizer is not a valid item tokenizer ({e})") from None
        args.choice(name, "tokenizer kind", config.kind, cls.tokenizer_kinds)
        return config

    @classmethod
    def meta_for(cls, arguments: dict[str, Any]) -> ModelMeta:
        try:
            kind = cls.tokenizer_config(arguments.get("tokenizer")).kind
        except ValueError:
            return cls.meta  # the constructor reports the bad value when the run starts
        default = cls.tokenizer_config(None).kind
        return cls.meta if kind == default else dataclasses.replace(cls.meta, name=f"{cls.meta.name} ({kind})")

    # -- setup ------------------------------------------------------------------------------------

    def setup(self, catalogue: Catalogue, seed: int) -> None:
        """The text model's setup (templates, engine), then the item tokens added to the engine;
        prompts show items by their token strings, with no details."""
        super().setup(catalogue, seed)
        codes = item_codes(catalogue, self.item_tokenizer)
        self.vocab = item_tokens.add_item_tokens(self.backend, codes, self._titles, number_end=self._number_end())
        self._titles = list(self.vocab.texts)
        self._details = [""] * catalogue.n_items

    def _number_end(self) -> int | None:
        """The token that closes a plain number's digits: in next-item prompts, the one the
        template puts after a history item, so that an answer reads the same inside a longer
        history; without a next-item template, None (the end-of-sequence token)."""
        if SEQ not in self.templates:
            return None
        prompt = listwise.next_item_prompt(self.templates[SEQ], self.backend.apply_chat, ["0"], [0], 1)
        return self.backend.encode_prompt(prompt)[-1]

    def _adapter_extra(self, task: str) -> dict[str, Any]:
        vocab = self.vocab
        return super()._adapter_extra(task) | {
            "loss": self.loss if task != SEQ else "item-tokens",
            "item_tokens": {"config": vocab.codes.config, "codes_sha256": vocab.digest, "init": item_tokens.INIT,
                            "new_token_ids": list(vocab.new_token_ids), "end_token": vocab.end_token}}

    def _serve(self, path: Any) -> None:
        """The adapter on the HF engine, its trained rows written into the embeddings."""
        super()._serve(path)
        item_tokens.merge_token_rows(self.backend.model)

    def _trainable_tokens(self) -> Any:
        if not self.vocab.new_token_ids:
            return None  # plain numbers: the LLM's own digits, LoRA alone
        return item_tokens.trainable_rows(self.backend.model, self.vocab.new_token_ids)

    # -- next item --------------------------------------------------------------------------------

    def _answer(self, item: int) -> Any:
        return list(self.vocab.sequences[item])

    def _seq_units(self, data: SeqFitData) -> list[tuple[int, ...]]:
        """Each training sequence's last max_history + 1 items (at least two): one example that
        scores every item after its first, each given the prompt of the items before it."""
        keep = max(self.max_history, 1) + 1
        return [tuple(s[-keep:]) for s in data.sequences if len(s) >= 2]

    def _seq_example(self, items: tuple[int, ...]) -> tuple[list[int], list[int]]:
        """The prompt for the unit's history followed by its last item's tokens; labelled: the
        tokens of every item after the first, each of which must follow exactly the prompt of
        its own history (the item-token template continues the history list, so one pass
        trains every next-item target of the sequence)."""
        encode, answers = self.backend.encode_prompt, self.vocab.sequences
        ids = encode(self._seq_prompt(items[:-1])) + list(answers[items[-1]])
        labels = [-100] * len(ids)
        for k in range(1, len(items)):
            prompt = encode(self._seq_prompt(items[:k])) if k < len(items) - 1 else ids[: len(ids) - len(answers[items[k]])]
            answer = list(answers[items[k]])
            if ids[: len(prompt)] != prompt or ids[len(prompt) : len(prompt) + len(answer)] != answer:
                raise ModelError(f"{self.meta.name}: the next-item template {self.templates[SEQ].name!r} does not continue "
                                 "a history with its next item (the prompt for items[:k] followed by item k must start "
                                 f"the prompt for a longer history), at item {k} of {list(items)}")
            labels[len(prompt) : len(prompt) + len(answer)] = answer
        return ids, labels

    def _score_candidates(self, prompts: list[str], candidates: list[list[int]], desc: str) -> np.ndarray:
        """(len(prompts), n_candidates): each candidate's summed token log-likelihood after its
        prompt, the prompt run once per request."""
        scores = np.empty((len(prompts), len(candidates[0]) if candidates else 0), dtype=np.float64)
        for row, (prompt, items) in enumerate(zip(prompts, candidates)):
            scores[row] = self.backend.sequence_logprobs(prompt, self.vocab.answers(items), "sum")
        return scores

    def rank(self, requests: list[RankRequest]) -> np.ndarray | TopK:
        self._need(SEQ, "rank()")
        if self.adapter_dir is None:
            raise ModelError(f"{self.meta.name}: call fit() before rank()")
        candidates = candidate_matrix(requests)
        prompts = [self._seq_prompt(r.history) for r in requests]
        if candidates is not None:
            return self._score_candidates(prompts, candidates.tolist(), f"{self.meta.name} rank")
        if not requests:
            return TopK(np.zeros((0, self.top_k), dtype=np.int64), np.zeros((0, self.top_k)))
        found = self.backend.trie_beam_search(prompts, self.vocab.trie, self.beam_width, self.top_k,
                                              exclude=[r.history for r in requests])
        return found.topk()

    def extra_stats(self) -> dict[str, Any]:
        stats = super().extra_stats()
        stats.pop("grounding", None)  # the text model's generative full ranking, not used here
        if self.vocab is None:
            return stats
        return stats | {"tokenizer": self.vocab.to_dict(), "beam_width": self.beam_width, "top_k": self.top_k,
                        "max_history": self.max_history}
