"""A text LLM fine-tuned with LoRA (RecBench group E, fine-tuned; TALLRec-style instruction
tuning), on either task.

CTR: the training prompt is exactly the zero-shot model's (tasks/prompts/ctr_yes_no.j2 rendered
by `LLMZeroShotText.prompt`, chat wrapping and answer_prefix included) and the target is the
answer word, "Yes" for a click and "No" otherwise: the loss is the cross-entropy of that answer's
first token at the prompt's last position, over the whole vocabulary (`loss="lm"`, the language-
modelling loss TALLRec trains) or over the two answers only (`loss="pair"`, the logistic loss of
the eq. 6 score itself). Scores are the zero-shot model's, RecBench eq. 6, with the adapter on.
A user's rows share the prompt up to the candidate, so a training pass runs that prefix once for
all of them (exactly; see HFBackend.next_token_logits). Validation: AUC on `valid_rows` rows of
the validation users.

Next item: each training sequence gives one example, its last item as the target and the items
before it as the history (the prompt shows the last `max_history` of them, as at test time); the
loss is the mean cross-entropy of the target title's tokens after the task's next-item prompt,
the prompt's tokens masked out (models/llm/listwise.py). Ranking scores every candidate by its
title's length-normalised log-likelihood (`rank_by_title_loglik`, the adapter on). Validation:
NDCG@10 of `seq_valid_users` validation users, each ranking its target among
`seq_valid_candidates - 1` sampled items it never touched (cheap, and the same ranking code).

Training evaluates every `eval_every` optimizer steps, keeps the best adapter and stops after
`patience` evaluations without a better one. Adapters are cached by content hash (models/llm/
lora.py): a second fit with the same inputs loads the stored adapter; `adapter_dir` names it,
which is also how the vLLM engine serves it (training always runs on the HF engine).

Defaults (RecBench §4: LoRA rank 32 and alpha 128 for CTR, 128 and 128 for next item, learning
rate 1e-4 and batch size 64 for LLMs under 7B) hold where a CPU can afford them; see the
`__init__` docstring for the budget-driven ones."""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import roc_auc_score

from benchmark.api import CTRFitData, FitData, Model, ModelError, ModelMeta, SeqFitData
from benchmark.data.dataset import Catalogue
from benchmark.llm import BACKENDS, DEFAULT_MODEL, load_backend
from benchmark.prompts import PromptError, PromptTemplate
from benchmark.registry import register_model
from benchmark.requests import RankRequest, ScoreRequest
from models.layers import args
from models.layers.citations import RECBENCH
from models.layers.ranking import ndcg_at_k
from models.llm import listwise
from models.llm.lora import (Digest, FittedAdapter, LoRASettings, TrainLog, TrainSettings, fit_adapter, schedule,
                             serve_adapter, token_loss)
from models.llm.zeroshot_text import MAX_TITLE_CHARS, LLMZeroShotText, _details, pick_answers

CTR, SEQ = "ctr", listwise.TASK
RECBENCH_RANK = {CTR: 32, SEQ: 128}  # RecBench §4: LoRA (rank, alpha) = (32, 128) pair-wise, (128, 128) list-wise
LOSSES = ("lm", "pair")
TALLREC = "Bao et al., TALLRec: An Effective and Efficient Tuning Framework to Align Large Language Model with " \
          "Recommendation, RecSys 2023; Hu et al., LoRA: Low-Rank Adaptation of Large Language Models, ICLR 2022"


@register_model("llm-lora-text")
class LLMLoRAText(LLMZeroShotText):
    meta = ModelMeta(
        name="LLM LoRA (text)",
        paradigm="llm",
        item_repr="text",
        scheme="fine-tuned",
        backend="hf",
        supports=("score", "rank"),
        license="Apache-2.0",
        citation=f"{RECBENCH}; {TALLREC}; Allal et al., SmolLM2: When Smol Goes Big, arXiv:2502.02737",
        group="E",
        description="The zero-shot text LLM with a LoRA adapter trained on the fine-tune split: yes/no answer "
        "tokens for CTR (scored by eq. 6), the next item's title for next item (ranked by title likelihood).",
    )

    def __init__(
        self,
        model_path: str = DEFAULT_MODEL,
        backend: str = "hf",
        device: str = "cpu",
        batch_size: int = 16,
        max_history: int = 20,
        dtype: str = "float32",
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
        normalize: str = "mean",
        seq_valid_users: int = 50,
        seq_valid_candidates: int = 20,
    ) -> None:
        """`lora_r` None takes RecBench's rank for the task being fitted (32 CTR, 128 next item);
        `lora_layers` adapts only the last that many decoder layers (None: all); `batch_size` is
        the inference batch, `train_batch_size` x `grad_accum` the examples of one optimizer step;
        `valid_rows` 0 turns validation off (the last adapter is kept)."""
        super().__init__(model_path=model_path, backend=backend, device=device, batch_size=batch_size,
                         max_history=max_history, dtype=dtype)
        name = self.meta.name
        if backend not in BACKENDS:
            raise ValueError(f"{name}: argument backend must be one of {sorted(BACKENDS)}, got {backend!r}")
        if loss not in LOSSES:
            raise ValueError(f"{name}: argument loss must be one of {list(LOSSES)}, got {loss!r}")
        if normalize not in ("mean", "sum"):
            raise ValueError(f"{name}: argument normalize must be 'mean' or 'sum', got {normalize!r}")
        self._lora_args = (lora_r, lora_alpha, lora_dropout, target_modules, lora_layers)
        for task in (CTR, SEQ):
            self._lora_for(task)  # checks the arguments now
        self.train_settings = TrainSettings.checked(
            name, lr=lr, max_steps=max_steps, epochs=epochs, batch_size=train_batch_size, grad_accum=grad_accum,
            eval_every=eval_every, patience=patience, weight_decay=weight_decay)
        self.valid_rows = args.non_negative_int(name, "valid_rows", valid_rows)
        self.seq_valid_users = args.non_negative_int(name, "seq_valid_users", seq_valid_users)
        self.seq_valid_candidates = args.positive_int(name, "seq_valid_candidates", seq_valid_candidates)
        if self.seq_valid_candidates < 2:
            raise ValueError(f"{name}: argument seq_valid_candidates must be at least 2, got {seq_valid_candidates!r}")
        self.loss, self.normalize = loss, normalize
        self.adapter_dir: str | None = None
        self.adapter_cached = False
        self.train_log: TrainLog | None = None
        self.lora_used: LoRASettings | None = None
        self.fitted: FittedAdapter | None = None

    # -- setup ------------------------------------------------------------------------------------

    def setup(self, catalogue: Catalogue, seed: int) -> None:
        """The task's template (CTR or next item, whichever the run hands over), the catalogue's
        titles, and the HF engine that trains (and, with backend "hf", serves) the adapter."""
        self.templates: dict[str, PromptTemplate] = {}
        for task in (CTR, SEQ):
            if task in self.prompts:
                try:
                    self.templates[task] = PromptTemplate.from_dict(self.prompts[task])
                except PromptError as e:
                    raise ModelError(f"{self.meta.name}: bad {task!r} prompt template: {e}") from None
        if not self.templates:
            raise ModelError(f"{self.meta.name}: no {CTR!r} or {SEQ!r} prompt template was given (the runner sets "
                             f"model.prompts from the task; got templates for {sorted(self.prompts)})")
        Model.setup(self, catalogue, seed)
        torch.manual_seed(seed)
        items = catalogue.items
        self._titles = [(str(t).strip()[:MAX_TITLE_CHARS] or f"item {i}") for i, t in enumerate(items["title"].tolist())]
        self._details = [_details(c, b) for c, b in zip(items["category"].tolist(), items["brand"].tolist())]
        self.backend = load_backend("hf", model_path=self.model_path, device=self.device, dtype=self.dtype,
                                    batch_size=self.batch_size)
        self.answers = pick_answers(self.backend)
        self.adapter_dir, self.adapter_cached, self.train_log = None, False, None

    def _need(self, task: str, what: str) -> PromptTemplate:
        if self.backend is None:
            raise ModelError(f"{self.meta.name}: call setup() before {what}")
        if task not in self.templates:
            raise ModelError(f"{self.meta.name}: {what} needs the {task!r} prompt template, which the run did not "
                             f"hand over (got {sorted(self.templates)})")
        return self.templates[task]

    # -- fit --------------------------------------------------------------------------------------

    def fit(self, data: FitData) -> None:
        if self.adapter_dir is not None:
            raise ModelError(f"{self.meta.name}: already fitted; call setup() again before another fit()")
        if isinstance(data, CTRFitData):
            self._need(CTR, "fit on CTR data")
            job = self._ctr_job(data)
        elif isinstance(data, SeqFitData):
            self._need(SEQ, "fit on next-item data")
            job = self._seq_job(data)
        else:
            raise ModelError(f"{self.meta.name} trains on CTR or next-item data, got {type(data).__name__}")
        task, lora, batches, data_hash, batch_loss, evaluate, metric = job
        fitted = fit_adapter(self, lora, self.train_settings, batches, data_hash, batch_loss, evaluate, metric=metric,
                             desc=f"{self.meta.name} {task}", extra=self._adapter_extra(task),
                             trainable_tokens=self._trainable_tokens(), serve=self._serve)
        self.fitted = fitted
        self.adapter_dir, self.adapter_cached, self.train_log, self.lora_used = (
            str(fitted.path), fitted.cached, fitted.log, fitted.lora)

    def _adapter_extra(self, task: str) -> dict[str, Any]:
        """What else shapes the adapter, for its cache key (see lora.adapter_key)."""
        return {"task": task, "loss": self.loss if task == CTR else "title", "dtype": self.dtype,
                "device": torch.device(self.device).type, "answers": list(self.answers)}

    def _trainable_tokens(self) -> Any:
        """Embedding rows trained beside the adapter (see lora.train_adapter); none for text."""
        return None

    def _serve(self, path: Any) -> None:
        serve_adapter(self, path)

    def _lora_for(self, task: str) -> LoRASettings:
        r, alpha, dropout, modules, layers = self._lora_args
        return LoRASettings.checked(self.meta.name, RECBENCH_RANK[task] if r is None else r, alpha, dropout, modules, layers)

    def _ctr_job(self, data: CTRFitData):
        """The schedule (a user's rows kept together), the exact prompts it uses, the loss and
        the validation AUC."""
        if len(data.train) == 0:
            raise ModelError(f"{self.meta.name}: the CTR fine-tune split has no training rows")
        labels = np.asarray(data.train_labels, dtype=np.int64)
        steps = self.train_settings.steps_for(len(data.train))
        batches = schedule(_by_user(data.train), steps, self.train_settings, self.seed)
        prompts = {i: self.prompt(data.train[i]) for i in sorted({i for b in batches for i in b})}
        ids = {i: self.backend.encode_prompt(p) for i, p in prompts.items()}
        valid = self._valid_subset(data)
        valid_prompts = [self.prompt(data.valid[i]) for i in valid]
        valid_labels = np.asarray(data.valid_labels, dtype=np.int64)[valid]
        digest = Digest().add(CTR, [[prompts[i], int(labels[i])] for b in batches for i in b],
                              valid_prompts, valid_labels.tolist())
        yes, no = self.backend.choice_token_ids(list(self.answers))
        pair = self.loss == "pair"

        def batch_loss(idx: list[int]) -> torch.Tensor:
            total = torch.zeros(())
            for chunk, logits in self.backend.next_token_logits([ids[i] for i in idx]):
                clicked = torch.as_tensor(labels[[idx[c] for c in chunk]] == 1, device=logits.device)
                if pair:  # cross-entropy over the two answers: class 0 is yes
                    total = total + F.cross_entropy(logits[:, [yes, no]], (~clicked).long(), reduction="sum").cpu()
                else:
                    target = torch.where(clicked, yes, no)
                    total = total + F.cross_entropy(logits, target, reduction="sum").cpu()
            return total / len(idx)

        def valid_auc() -> float:
            p = np.exp(self.backend.choice_logprobs(valid_prompts, list(self.answers))[:, 0])
            return float(roc_auc_score(valid_labels, p))

        evaluate = valid_auc if len(np.unique(valid_labels)) == 2 else None
        return CTR, self._lora_for(CTR), batches, digest.hexdigest(), batch_loss, evaluate, "auc"

    def _valid_subset(self, data: CTRFitData) -> np.ndarray:
        """Up to `valid_rows` validation rows, whole users drawn in a seeded order."""
        if not self.valid_rows or not data.valid:
            return np.zeros(0, dtype=np.int64)
        rng = np.random.default_rng([self.seed, 1])
        groups = _by_user(data.valid)
        rows: list[int] = []
        for g in rng.permutation(len(groups)):
            if len(rows) >= self.valid_rows:
                break
            rows.extend(groups[g])
        return np.asarray(sorted(rows[: self.valid_rows]), dtype=np.int64)

    def _seq_prompt(self, history: Sequence[int]) -> str:
        return listwise.next_item_prompt(self.templates[SEQ], self.backend.apply_chat, self._titles, history,
                                         self.max_history)

    def _answer(self, item: int) -> Any:
        """What the model answers for `item` (its title), as the adapter's data hash records it."""
        return self._titles[item]

    def _seq_units(self, data: SeqFitData) -> list[tuple[int, ...]]:
        """The item sequences that make one training example each: every training sequence of
        two or more items, its last item the target."""
        return [tuple(s) for s in data.sequences if len(s) >= 2]

    def _seq_example(self, items: tuple[int, ...]) -> tuple[list[int], list[int]]:
        """A unit's token ids and labels (-100 where not scored): the prompt for its history,
        then its last item's title, the title's tokens scored."""
        return listwise.title_target(self.backend, self._seq_prompt(items[:-1]), self._titles[items[-1]])

    def _score_candidates(self, prompts: list[str], candidates: list[list[int]], desc: str) -> np.ndarray:
        """(len(prompts), n_candidates): each candidate's answer log-likelihood after its prompt."""
        return listwise.rank_by_title_loglik(self.backend, prompts, [[self._titles[i] for i in row] for row in candidates],
                                             normalize=self.normalize, desc=desc)

    def _seq_job(self, data: SeqFitData):
        """One example per training unit (`_seq_units`, `_seq_example`), the loss of its scored
        tokens, and validation NDCG@10 over sampled candidates (listwise.valid_candidates)."""
        units = self._seq_units(data)
        if not units:
            raise ModelError(f"{self.meta.name}: no next-item training sequence has two or more items")
        steps = self.train_settings.steps_for(len(units))
        batches = schedule([[i] for i in range(len(units))], steps, self.train_settings, self.seed)
        examples = {i: self._seq_example(units[i]) for i in sorted({i for b in batches for i in b})}
        valid = listwise.valid_candidates(data, self.catalogue.n_items, self.seq_valid_users,
                                          self.seq_valid_candidates, self.seed)
        valid_prompts = [self._seq_prompt(history) for history, _ in valid]
        digest = Digest().add(SEQ, [examples[i] for b in batches for i in b], valid_prompts,
                              [[self._answer(i) for i in items] for _, items in valid])
        pad = int(self.backend.tokenizer.pad_token_id)

        def batch_loss(idx: list[int]) -> torch.Tensor:
            return token_loss(self.backend.model, pad, [examples[i][0] for i in idx], [examples[i][1] for i in idx]).cpu()

        def valid_ndcg() -> float:
            scores = self._score_candidates(valid_prompts, [items for _, items in valid], "valid")
            targets = torch.zeros(len(scores), dtype=torch.int64)  # the target is candidate 0
            return float(ndcg_at_k(torch.from_numpy(scores), targets, k=10).mean())

        evaluate = valid_ndcg if valid_prompts else None
        return SEQ, self._lora_for(SEQ), batches, digest.hexdigest(), batch_loss, evaluate, "ndcg@10"

    # -- predict ----------------------------------------------------------------------------------

    def score(self, requests: list[ScoreRequest]) -> np.ndarray:
        self._need(CTR, "score()")
        if self.adapter_dir is None:
            raise ModelError(f"{self.meta.name}: call fit() before score()")
        return super().score(requests)

    def rank(self, requests: list[RankRequest]) -> np.ndarray:
        self._need(SEQ, "rank()")
        if self.adapter_dir is None:
            raise ModelError(f"{self.meta.name}: call fit() before rank()")
        prompts = [self._seq_prompt(r.history) for r in requests]
        return listwise.rank_by_title_loglik(self.backend, prompts, listwise.candidate_titles(requests, self._titles),
                                             normalize=self.normalize, desc="llm-lora-text rank")

    def extra_stats(self) -> dict[str, Any]:
        stats = super().extra_stats()
        return stats if self.train_log is None else stats | self.fitted.stats()


def _by_user(requests: Sequence[ScoreRequest | RankRequest]) -> list[list[int]]:
    """Row indices grouped by user, in order of first appearance."""
    groups: dict[int, list[int]] = defaultdict(list)
    for i, r in enumerate(requests):
        groups[r.user].append(i)
    return list(groups.values())
