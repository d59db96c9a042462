"""LLMs prompted by user embeddings (UQABench): a user encoder compresses the history into hidden
states, an adapter projects them into the LLM's embedding space as soft-prompt tokens, and the LLM
answers the personalized question after them.

- **Encoder** (`encoder`: sasrec | gru4rec | transformerpp | hstu, UQABench's four encoders;
  Transformer++ is SASRec with LLaMA's block: RMSNorm, RoPE, SwiGLU; HSTU's relative bias has
  positions only, the histories carrying no timestamps): the existing sequential
  model (models/seq/), its network and training loop (SequentialModel.fit) unchanged, pre-trained
  on next item with full cross-entropy over the QA fit data's `sequences` for a fixed
  `encoder_args["epochs"]` (no validation split: the QA validation users are not among the
  sequences), then frozen. Its weights are cached by content hash under `<cache root>/
  user-encoder/` (benchmark/cache.py), so the models sharing an encoder (its mean and Q-Former
  adapters) pre-train it once per plan.
- **Soft tokens**: the encoder's states at the last `window` positions of the request's history,
  padding masked, through the adapter (`adapter`: mean, 1 token; qformer, 16; models/layers/
  soft_prompt.py). They replace the `user_embedding` placeholder of the task's template variant
  for embedding prompts, tasks/prompts/uqa_answer__user_emb.j2 (the runner hands it over for
  item_repr "user-emb" and records it in the result): the prompt's text before the placeholder
  is tokenised with the engine's special tokens, the text after it without, and the LLM reads
  [tokens before, soft tokens, tokens after] through `inputs_embeds`.
- **Training** (`train`: adapter | adapter+lora): the adapter alone with the LLM frozen, or the
  adapter and a LoRA on the LLM (models/llm/lora.py's settings, trainer and cache). The loss is
  the LM loss of the correct option's tokens after the prompt (mean cross-entropy per token):
  one forward row per question, where a cross-entropy over the options would cost one per
  option. Validation accuracy on up to `valid_rows` validation questions every `eval_every`
  steps, the best state kept, stopping after `patience` evaluations without a better one. The
  trained adapter (and LoRA) are cached by content hash like the text models' adapters.
- **Answers**: each option's log-likelihood after [soft tokens + prompt], normalised per token
  (`normalize`), the prompt run once and its options batched on its KV cache
  (HFBackend.continuation_logprobs_embeds).
- **Engines** (`backend`: hf | vllm): training always runs on the HF engine (it needs gradients);
  with "vllm" the trained model then answers on a vLLM engine started with prompt embeddings
  enabled (and the LoRA, when trained), fed the same spliced embeddings (VLLMBackend.
  continuation_logprobs_embeds); `engine_args` are vLLM's engine arguments. The HF engine
  still builds the prompt embeddings; validation during training runs on it.

Defaults: the LLM in bfloat16 (3.3x faster than float32 on the benchmark CPU), SASRec-sized
encoders of width 64, a 256-wide MLP for the mean adapter, 16 queries with 4 heads for the
Q-Former, LoRA rank 8 on q_proj/v_proj."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, ClassVar, Sequence

import numpy as np
import torch
import torch.nn.functional as F

import benchmark
from benchmark.api import FitData, Model, ModelError, ModelMeta, QAFitData, SeqFitData
from benchmark.cache import cache_dir
from benchmark.data.dataset import Catalogue
from benchmark.llm import DEFAULT_MODEL, load_backend
from benchmark.prompts import PromptError, PromptTemplate
from benchmark.registry import register_model
from benchmark.requests import QARequest
from models.layers import args
from models.layers.soft_prompt import ADAPTERS, build_adapter, splice
from models.llm.lora import (EXTRA_FILE, ADAPTER_FILES, Digest, LoRASettings, TrainSettings, adapter_key,
                             base_model_identity, cached_adapter, files_sha256, schedule, store_adapter,
                             train_adapter, training_forward, width_groups)
from models.llm.finetuned_text import _by_user
from models.llm.qa_text import SMOLLM2, TASK, UQABENCH, same_option_count
from models.seq.gru4rec import GRU4Rec
from models.seq.hstu import HSTU
from models.seq.sasrec import SASRec
from models.seq.transformerpp import TransformerPP

ENCODERS = {"sasrec": SASRec, "gru4rec": GRU4Rec, "transformerpp": TransformerPP, "hstu": HSTU}
STRATEGIES = ("adapter", "adapter+lora")
PLACEHOLDER = "<|user-embedding|>"
TEMPLATE = "uqa_answer__user_emb"


class EmbPromptLLM(Model):
    """See the module docstring. `encoder_args` go to the encoder's class (hidden, blocks, epochs,
    batch_size, lr...; default epochs 5); `window` is the encoder's history window and the number
    of states the adapter reads."""

    encoder_name: ClassVar[str] = "sasrec"
    adapter_name: ClassVar[str] = "mean"
    meta = ModelMeta(
        name="Emb SASRec + mean (adapter)",
        paradigm="llm",
        item_repr="user-emb",
        scheme="fine-tuned",
        backend="hf",
        supports=("answer",),
        license="Apache-2.0",
        citation=f"{UQABENCH}; {SMOLLM2}",
        description="A frozen next-item-pretrained user encoder's states, projected by an adapter into soft-prompt "
        "tokens of the LLM; options scored by log-likelihood.",
    )

    @classmethod
    def meta_for(cls, args: dict[str, Any]) -> ModelMeta:
        enc, ada = args.get("encoder", cls.encoder_name), args.get("adapter", cls.adapter_name)
        train = args.get("train", "adapter")
        names = {"sasrec": "SASRec", "gru4rec": "GRU4Rec", "transformerpp": "Transformer++", "hstu": "HSTU",
                 "mean": "mean", "qformer": "Q-Former"}
        backend = args.get("backend", "hf")
        return dataclasses.replace(cls.meta, name=f"Emb {names.get(enc, enc)} + {names.get(ada, ada)} ({train})",
                                   backend=backend if backend in ("hf", "vllm") else cls.meta.backend)

    def __init__(
        self,
        encoder: str | None = None,
        adapter: str | None = None,
        train: str = "adapter",
        model_path: str = DEFAULT_MODEL,
        backend: str = "hf",
        device: str = "cpu",
        dtype: str = "bfloat16",
        batch_size: int = 16,
        window: int = 20,
        encoder_args: dict[str, Any] | None = None,
        adapter_hidden: int = 256,
        n_queries: int = 16,
        heads: int = 4,
        lr: float = 1e-3,
        max_steps: int = 200,
        epochs: float = 1.0,
        train_batch_size: int = 8,
        grad_accum: int = 1,
        eval_every: int = 50,
        patience: int = 3,
        valid_rows: int = 100,
        lora_r: int = 8,
        lora_alpha: float = 16,
        lora_dropout: float = 0.05,
        target_modules: Sequence[str] = ("q_proj", "v_proj"),
        lora_layers: int | None = None,
        normalize: str = "mean",
        engine_args: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.encoder_kind = encoder or self.encoder_name
        self.adapter_kind = adapter or self.adapter_name
        self.meta = self.meta_for({"encoder": self.encoder_kind, "adapter": self.adapter_kind, "train": train,
                                   "backend": backend})
        name = self.meta.name
        if self.encoder_kind not in ENCODERS:
            raise ValueError(f"{name}: argument encoder must be one of {sorted(ENCODERS)}, got {self.encoder_kind!r}")
        if self.adapter_kind not in ADAPTERS:
            raise ValueError(f"{name}: argument adapter must be one of {list(ADAPTERS)}, got {self.adapter_kind!r}")
        if train not in STRATEGIES:
            raise ValueError(f"{name}: argument train must be one of {list(STRATEGIES)}, got {train!r}")
        if backend not in ("hf", "vllm"):
            raise ValueError(f"{name}: argument backend must be 'hf' or 'vllm', got {backend!r}")
        if engine_args and backend != "vllm":
            raise ValueError(f"{name}: argument engine_args are vLLM's; backend {backend!r} takes none")
        if engine_args is not None and not isinstance(engine_args, dict):
            raise ValueError(f"{name}: argument engine_args must be a mapping, got {engine_args!r}")
        self.backend_name, self.engine_args = backend, dict(engine_args or {})
        if normalize not in ("mean", "sum"):
            raise ValueError(f"{name}: argument normalize must be 'mean' or 'sum', got {normalize!r}")
        if encoder_args is not None and not isinstance(encoder_args, dict):
            raise ValueError(f"{name}: argument encoder_args must be a mapping, got {encoder_args!r}")
        self.strategy, self.model_path, self.device, self.dtype = train, str(model_path), device, dtype
        self.batch_size = args.positive_int(name, "batch_size", batch_size)
        self.window = args.positive_int(name, "window", window)
        self.encoder_args = {"epochs": 5, **(encoder_args or {})}
        ENCODERS[self.encoder_kind](window=self.window, **self.encoder_args)  # checks the encoder's arguments now
        self.adapter_shape = {"hidden": args.positive_int(name, "adapter_hidden", adapter_hidden),
                              "n_queries": args.positive_int(name, "n_queries", n_queries),
                              "heads": args.positive_int(name, "heads", heads)}
        self.lora = LoRASettings.checked(name, lora_r, lora_alpha, lora_dropout, target_modules, lora_layers) \
            if train == "adapter+lora" else None
        self.train_settings = TrainSettings.checked(
            name, lr=lr, max_steps=max_steps, epochs=epochs, batch_size=train_batch_size, grad_accum=grad_accum,
            eval_every=eval_every, patience=patience)
        self.valid_rows = args.non_negative_int(name, "valid_rows", valid_rows)
        self.normalize = normalize
        self.backend = None  # the HF engine: training, prompt embeddings, and answers unless serving is vLLM
        self.server = None  # the engine that answers, set by fit()
        self.adapter: torch.nn.Module | None = None

    # -- setup ------------------------------------------------------------------------------------

    def setup(self, catalogue: Catalogue, seed: int) -> None:
        if TASK not in self.prompts:
            raise ModelError(f"{self.meta.name}: no {TASK!r} prompt template was given (the runner sets model.prompts "
                             f"from the task; got templates for {sorted(self.prompts)})")
        try:
            self.template = PromptTemplate.from_dict(self.prompts[TASK])
        except PromptError as e:
            raise ModelError(f"{self.meta.name}: bad {TASK!r} prompt template: {e}") from None
        if "user_embedding" not in self.template.text:
            raise ModelError(f"{self.meta.name}: prompt template {self.template.name!r} has no {{{{ user_embedding }}}} "
                             f"placeholder for the soft tokens (the runner hands over tasks/prompts/{TEMPLATE}.j2)")
        super().setup(catalogue, seed)
        torch.manual_seed(seed)
        self.backend = load_backend("hf", model_path=self.model_path, device=self.device, dtype=self.dtype,
                                    batch_size=self.batch_size)
        self.encoder = ENCODERS[self.encoder_kind](window=self.window, **self.encoder_args)
        self.encoder.setup(catalogue, seed)
        self.adapter, self.train_log, self.adapter_dir, self.server = None, None, None, None
        self.encoder_cached = self.adapter_cached = False
        self._requests = self._prompt_positions = 0

    def _ready(self, what: str) -> None:
        if self.backend is None:
            raise ModelError(f"{self.meta.name}: call setup() before {what}")
        if self.adapter is None:
            raise ModelError(f"{self.meta.name}: call fit() before {what}")

    # -- the encoder ------------------------------------------------------------------------------

    def _encoder_key(self, sequences: list[tuple[int, ...]]) -> str:
        repo = Path(benchmark.__file__).resolve().parent.parent
        code = files_sha256([*(repo / "models" / "seq").glob("*.py"), *(repo / "models" / "layers").glob("*.py")], repo)
        return Digest().add(self.encoder_kind, self.encoder_args, self.window, self.catalogue.n_items, self.seed,
                            [list(s) for s in sequences], code, torch.__version__, torch.get_num_threads()).hexdigest()

    def _pretrain_encoder(self, sequences: list[tuple[int, ...]]) -> str:
        """Load the encoder from the cache, or pre-train it on next item and store it; then
        freeze it. Returns its cache key."""
        key = self._encoder_key(sequences)
        path = cache_dir("user-encoder") / f"{key}.pt"
        net = self.encoder.net
        self.encoder_cached = path.is_file()
        if self.encoder_cached:
            net.load_state_dict(torch.load(path, map_location=self.encoder.device))
        else:
            self.encoder.fit(SeqFitData(sequences=list(sequences), valid=[], valid_targets=np.zeros(0, dtype=np.int64),
                                        valid_seen=[], n_items=self.catalogue.n_items))
            tmp = path.with_name(f".{path.name}.{id(self)}.tmp")
            torch.save(net.state_dict(), tmp)
            tmp.replace(path)
        net.eval().requires_grad_(False)
        return key

    @torch.no_grad()
    def user_states(self, histories: list[tuple[int, ...]]) -> tuple[torch.Tensor, torch.Tensor]:
        """The frozen encoder's states (n, window, d) over each history's last `window` items and
        the mask (n, window), True at real items."""
        ids = self.encoder.history_tensor(histories)
        states = torch.cat([self.encoder.net(ids[i : i + 256].to(self.encoder.device)).float().cpu()
                            for i in range(0, len(ids), 256)]) if len(ids) else torch.zeros(0, self.window, 1)
        return states, ids != self.encoder.pad_id

    # -- prompts ----------------------------------------------------------------------------------

    def prompt_pieces(self, request: QARequest) -> tuple[list[int], list[int]]:
        """The prompt's token ids before and after the soft tokens (see the module docstring)."""
        try:
            message = self.template.render(user_embedding=PLACEHOLDER, question=request.question,
                                           options=list(request.options))
        except PromptError as e:
            raise ModelError(f"{self.meta.name}: {e}") from None
        parts = self.template.full_prompt(message, self.backend.apply_chat).split(PLACEHOLDER)
        if len(parts) != 2:
            raise ModelError(f"{self.meta.name}: template {self.template.name!r} must place {{{{ user_embedding }}}} "
                             f"exactly once; it appears {len(parts) - 1} times (use tasks/prompts/{TEMPLATE}.j2)")
        after = self.backend.tokenize(parts[1])
        if not after:
            raise ModelError(f"{self.meta.name}: template {self.template.name!r} has no text after the user embedding")
        return self.backend.encode_prompt(parts[0]), after

    def soft_tokens(self, states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.adapter(states, mask)

    def _score(self, engine: Any, requests: list[QARequest], states: torch.Tensor,
               mask: torch.Tensor) -> list[np.ndarray]:
        embed = self.backend.model.get_input_embeddings()
        out = []
        with torch.inference_mode():
            soft = torch.cat([self.soft_tokens(states[i : i + 256], mask[i : i + 256])
                              for i in range(0, len(requests), 256)]) if requests else None
            for i, r in enumerate(requests):
                before, after = self.prompt_pieces(r)
                prefix = splice(embed, before, soft[i], after[:-1])
                self._prompt_positions += prefix.shape[0] + 1
                out.append(engine.continuation_logprobs_embeds(prefix, after[-1], list(r.options), self.normalize))
        return out

    # -- fit --------------------------------------------------------------------------------------

    def fit(self, data: FitData) -> None:
        name = self.meta.name
        if self.backend is None:
            raise ModelError(f"{name}: call setup() before fit()")
        if not isinstance(data, QAFitData):
            raise ModelError(f"{name} trains on personalized-QA data, got {type(data).__name__}")
        if not data.train:
            raise ModelError(f"{name}: the QA fit data has no training questions")
        encoder_key = self._pretrain_encoder(data.sequences)
        d_enc = self.encoder.hidden
        d_llm = int(self.backend.model.get_input_embeddings().weight.shape[1])
        torch.manual_seed(self.seed)
        self.adapter = build_adapter(self.adapter_kind, d_enc, d_llm, **self.adapter_shape)

        answers = np.asarray(data.train_answers, dtype=np.int64)
        steps = self.train_settings.steps_for(len(data.train))
        batches = schedule(_by_user(data.train), steps, self.train_settings, self.seed)
        used = sorted({i for b in batches for i in b})
        pieces = {i: self.prompt_pieces(data.train[i]) for i in used}
        targets = {i: self.backend.continuation_token_ids([data.train[i].options[answers[i]]], self.normalize)[0]
                   for i in used}
        states, mask = self.user_states([data.train[i].history for i in used])
        row = {i: k for k, i in enumerate(used)}
        valid = _valid_subset(data.valid, self.valid_rows, self.seed)
        valid_requests = [data.valid[i] for i in valid]
        valid_answers = np.asarray(data.valid_answers, dtype=np.int64)[valid]
        valid_states, valid_mask = self.user_states([r.history for r in valid_requests])
        digest = Digest().add(TASK, [[pieces[i], targets[i], data.train[i].history[-self.window:]]
                                     for b in batches for i in b],
                              [[self.prompt_pieces(r), list(r.options), r.history[-self.window:]] for r in valid_requests],
                              valid_answers.tolist())
        embed = self.backend.model.get_input_embeddings()

        def batch_loss(idx: list[int]) -> torch.Tensor:
            k = [row[i] for i in idx]
            soft = self.soft_tokens(states[k], mask[k])
            rows = [torch.cat([splice(embed, pieces[i][0], soft[j], pieces[i][1]),
                               embed(torch.tensor(targets[i], device=embed.weight.device))]) for j, i in enumerate(idx)]
            return soft_continuation_loss(self.backend.model, rows, [targets[i] for i in idx]).cpu()

        def accuracy() -> float:
            scores = self._score(self.backend, valid_requests, valid_states, valid_mask)
            return float(np.mean([np.argmax(s) == a for s, a in zip(scores, valid_answers)]))

        files = (EXTRA_FILE,) if self.lora is None else (*ADAPTER_FILES, EXTRA_FILE)
        key = adapter_key(base=base_model_identity(self.model_path), lora=self.lora, settings=self.train_settings,
                          data=digest.hexdigest(), seed=self.seed,
                          extra={"task": TASK, "kind": "soft-prompt", "encoder": encoder_key,
                                 "adapter": [self.adapter_kind, self.adapter_shape], "loss": "option-lm",
                                 "template": self.template.sha256, "dtype": self.dtype,
                                 "device": torch.device(self.device).type})
        hit = cached_adapter(key, files)
        self.adapter_cached = hit is not None
        if hit is None:
            hit = store_adapter(key, lambda out: train_adapter(
                self.backend, self.lora, self.train_settings, batches, batch_loss,
                accuracy if valid_requests else None, out, seed=self.seed, metric="accuracy",
                desc=f"emb-{self.encoder_kind}-{self.adapter_kind}", extra=self.adapter), files)
        path, self.train_log = hit
        self.adapter.load_state_dict(torch.load(Path(path) / EXTRA_FILE))
        self.adapter.eval().requires_grad_(False)
        if self.lora is not None:
            self.backend.load_adapter(path)
        self.server = self.backend
        if self.backend_name == "vllm":
            self.server = load_backend("vllm", model_path=self.model_path, device=self.device, dtype=self.dtype,
                                       batch_size=self.batch_size, seed=self.seed,
                                       adapter_path=path if self.lora is not None else None,
                                       **{"enable_prompt_embeds": True, **self.engine_args})
        self.adapter_dir = str(path)
        self._requests = self._prompt_positions = 0

    # -- answer -----------------------------------------------------------------------------------

    def answer(self, requests: list[QARequest]) -> np.ndarray:
        """Scores (len(requests), n_options): each option's log-likelihood after the soft tokens
        and the prompt."""
        self._ready("answer()")
        same_option_count(self.meta.name, requests)
        if not requests:
            return np.empty((0, 0))
        states, mask = self.user_states([r.history for r in requests])
        self._requests += len(requests)
        return np.stack(self._score(self.server, requests, states, mask))

    def num_parameters(self) -> int:
        llm = self.backend.num_parameters() if self.backend is not None else 0
        return llm + sum(p.numel() for m in (self.encoder.net, self.adapter) if m is not None for p in m.parameters()) \
            if self.adapter is not None else llm

    def extra_stats(self) -> dict[str, Any]:
        if self.backend is None or self.adapter is None:
            return {}
        log = self.train_log
        return {
            "llm_backend": self.backend_name, "engine_args": dict(getattr(self.server, "engine_args", {})),
            "encoder": self.encoder_kind, "adapter": self.adapter_kind,
            "train_strategy": self.strategy, "soft_tokens": int(getattr(self.adapter, "n_tokens", 1)),
            "encoder_cached": self.encoder_cached, "adapter_cached": self.adapter_cached,
            "adapter_dir": self.adapter_dir, "template": TEMPLATE,
            "requests_answered": self._requests,
            "prompt_tokens_per_request": self._prompt_positions / self._requests if self._requests else 0.0,
            "train_seconds": round(log.seconds, 3), "train_steps": log.steps, "best_step": log.best_step,
            "valid_metric": log.metric, "valid_best": log.best, "valid_history": [[s, v] for s, v in log.evals],
            "train_losses": json.loads(json.dumps(log.losses[-5:])),
        }


def soft_continuation_loss(model: Any, rows: list[torch.Tensor], targets: list[list[int]]) -> torch.Tensor:
    """Mean over the rows of the mean cross-entropy of each row's last len(targets[r]) positions'
    tokens (`targets[r]`) given the input embeddings before them; rows of similar length run
    together (lora.width_groups)."""
    groups = width_groups([r.shape[0] for r in rows])
    return torch.cat([_soft_row_losses(model, [rows[i] for i in g], [targets[i] for i in g]) for g in groups]).mean()


def _soft_row_losses(model: Any, rows: list[torch.Tensor], targets: list[list[int]]) -> torch.Tensor:
    """(len(rows),): each row's loss, the rows (T_r, d) left-padded with zeros into one batch
    (masked; position ids count real positions only)."""
    width = max(r.shape[0] for r in rows)
    d = rows[0].shape[1]
    embeds = torch.zeros(len(rows), width, d, dtype=rows[0].dtype, device=rows[0].device)
    mask = torch.zeros(len(rows), width, dtype=torch.long, device=rows[0].device)
    for r, x in enumerate(rows):
        embeds[r, width - x.shape[0]:] = x
        mask[r, width - x.shape[0]:] = 1
    positions = (mask.cumsum(1) - 1).clamp(min=0)
    keep = max(map(len, targets)) + 1
    logits = training_forward(model, width, inputs_embeds=embeds, attention_mask=mask, position_ids=positions,
                              logits_to_keep=keep).logits.float()
    return torch.stack([F.cross_entropy(logits[r, keep - 1 - len(t): keep - 1], torch.tensor(t, device=logits.device))
                        for r, t in enumerate(targets)])


def _valid_subset(requests: Sequence[QARequest], n: int, seed: int) -> list[int]:
    """Up to n validation questions, drawn in a seeded order, sorted."""
    take = np.random.default_rng([seed, 3]).permutation(len(requests))[:n]
    return sorted(take.tolist())


def _variant(key: str, encoder: str, adapter: str, label: str):
    meta = dataclasses.replace(EmbPromptLLM.meta, name=f"Emb {label} (adapter)")
    cls = type(key.replace("-", "_"), (EmbPromptLLM,), {"encoder_name": encoder, "adapter_name": adapter, "meta": meta,
                                                        "__doc__": f"{EmbPromptLLM.__doc__} Encoder {encoder}, "
                                                        f"adapter {adapter} by default."})
    return register_model(key)(cls)


EmbSASRecMean = _variant("emb-sasrec-mean", "sasrec", "mean", "SASRec + mean")
EmbSASRecQFormer = _variant("emb-sasrec-qformer", "sasrec", "qformer", "SASRec + Q-Former")
EmbGRU4RecMean = _variant("emb-gru4rec-mean", "gru4rec", "mean", "GRU4Rec + mean")
EmbGRU4RecQFormer = _variant("emb-gru4rec-qformer", "gru4rec", "qformer", "GRU4Rec + Q-Former")
EmbTransformerPPMean = _variant("emb-transformerpp-mean", "transformerpp", "mean", "Transformer++ + mean")
EmbTransformerPPQFormer = _variant("emb-transformerpp-qformer", "transformerpp", "qformer", "Transformer++ + Q-Former")
EmbHSTUMean = _variant("emb-hstu-mean", "hstu", "mean", "HSTU + mean")
EmbHSTUQFormer = _variant("emb-hstu-qformer", "hstu", "qformer", "HSTU + Q-Former")
