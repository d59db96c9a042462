"""LoRA fine-tuning (peft) of an LLM on the HF engine, and the content-addressed cache of the
adapters it trains.

`train_adapter` injects a LoRA adapter into the engine's model in place, runs AdamW over a given
schedule of micro-batches with a caller-supplied loss, evaluates every `eval_every` optimizer
steps (and after the last), keeps the adapter with the best validation metric (higher is better),
stops after `patience` evaluations without a new best, saves that adapter and removes the
injected layers again, so the engine is its base model once more.

An adapter is stored under `<cache root>/lora/<sha256>/` (benchmark/cache.py), the hash taken over
everything that determines its weights (see `adapter_key`): a second fit with the same inputs
loads it instead of training. A directory appears there only once complete (written aside, then
renamed), so a reader never sees half an adapter."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

import benchmark
from benchmark.cache import cache_dir
from benchmark.llm.paths import resolve_model_path
from models.layers import args

LOG_FILE = "training.json"
TokenRows = list[int] | dict[str, list[int]]  # peft trainable_token_indices: ids, or module name -> ids
ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")
EXTRA_FILE = "extra_module.pt"  # the state dict of a module trained alongside (a soft-prompt adapter)


@dataclass(frozen=True)
class LoRASettings:
    """The adapter's shape: rank r, scaling alpha / r, dropout on its input, the module names it
    adapts (e.g. q_proj, v_proj) and, with `layers`, only the last `layers` decoder layers (so
    backpropagation stops there: cheaper on a CPU; None adapts every layer)."""

    r: int
    alpha: float
    dropout: float
    target_modules: tuple[str, ...]
    layers: int | None = None

    @classmethod
    def checked(cls, model: str, r: Any, alpha: Any, dropout: Any, target_modules: Any, layers: Any) -> "LoRASettings":
        if isinstance(target_modules, str) or not isinstance(target_modules, Iterable):
            raise ValueError(f"{model}: argument target_modules must be a list of module names, got {target_modules!r}")
        modules = tuple(target_modules)
        if not modules or not all(isinstance(m, str) and m for m in modules):
            raise ValueError(f"{model}: argument target_modules must be a non-empty list of module names, got {list(modules)!r}")
        return cls(args.positive_int(model, "lora_r", r), args.positive_number(model, "lora_alpha", alpha),
                   args.dropout_rate(model, "lora_dropout", dropout), modules,
                   None if layers is None else args.positive_int(model, "lora_layers", layers))

    def peft_config(self, n_layers: int, trainable_tokens: TokenRows | None = None):
        """peft's LoraConfig; `trainable_tokens` (peft's trainable_token_indices: token ids of the
        input embedding, or embedding module name -> ids) also trains those embedding rows."""
        from peft import LoraConfig

        if self.layers is not None and self.layers > n_layers:
            raise ValueError(f"lora_layers={self.layers} but the model has {n_layers} decoder layers")
        return LoraConfig(r=self.r, lora_alpha=self.alpha, lora_dropout=self.dropout,
                          target_modules=list(self.target_modules), task_type="CAUSAL_LM",
                          layers_to_transform=None if self.layers is None else list(range(n_layers - self.layers, n_layers)),
                          trainable_token_indices=trainable_tokens)


@dataclass(frozen=True)
class TrainSettings:
    """`batch_size` examples run per forward pass; `grad_accum` of those make one AdamW step at
    learning rate `lr` (constant; gradients clipped to norm `max_grad_norm`). Training runs
    `max_steps` steps or `epochs` passes over the training examples, whichever is fewer."""

    lr: float
    max_steps: int
    epochs: float
    batch_size: int
    grad_accum: int
    eval_every: int
    patience: int
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0

    @classmethod
    def checked(cls, model: str, **kw: Any) -> "TrainSettings":
        return cls(lr=args.positive_number(model, "lr", kw["lr"]),
                   max_steps=args.positive_int(model, "max_steps", kw["max_steps"]),
                   epochs=args.positive_number(model, "epochs", kw["epochs"]),
                   batch_size=args.positive_int(model, "train_batch_size", kw["batch_size"]),
                   grad_accum=args.positive_int(model, "grad_accum", kw["grad_accum"]),
                   eval_every=args.positive_int(model, "eval_every", kw["eval_every"]),
                   patience=args.positive_int(model, "patience", kw["patience"]),
                   weight_decay=args.non_negative_number(model, "weight_decay", kw.get("weight_decay", 0.0)))

    @property
    def step_examples(self) -> int:
        return self.batch_size * self.grad_accum

    def steps_for(self, n_examples: int) -> int:
        return max(1, min(self.max_steps, int(np.ceil(self.epochs * n_examples / self.step_examples))))


# The LoRA and training arguments of a fine-tuned text model, with their defaults (RecBench §4's
# rank 32 and alpha 128 of pair-wise tasks, learning rate 1e-4 and batch size 64 for LLMs under 7B).
TRAINING_ARGS: dict[str, Any] = {
    "lora_r": 32, "lora_alpha": 128, "lora_dropout": 0.05, "target_modules": ("q_proj", "v_proj"), "lora_layers": None,
    "lr": 1e-4, "max_steps": 1000, "epochs": 1.0, "train_batch_size": 64, "grad_accum": 1, "eval_every": 50,
    "patience": 3, "weight_decay": 0.0,
}


def training_settings(model: str, given: dict[str, Any]) -> tuple[LoRASettings, "TrainSettings"]:
    """The LoRA and training settings of a model's arguments (TRAINING_ARGS names; their defaults
    where not given), checked."""
    a = TRAINING_ARGS | given
    lora = LoRASettings.checked(model, a["lora_r"], a["lora_alpha"], a["lora_dropout"], a["target_modules"],
                                a["lora_layers"])
    return lora, TrainSettings.checked(model, lr=a["lr"], max_steps=a["max_steps"], epochs=a["epochs"],
                                       batch_size=a["train_batch_size"], grad_accum=a["grad_accum"],
                                       eval_every=a["eval_every"], patience=a["patience"],
                                       weight_decay=a["weight_decay"])


@dataclass
class TrainLog:
    metric: str
    steps: int = 0
    examples: int = 0
    losses: list[float] = field(default_factory=list)  # mean training loss of each step
    evals: list[tuple[int, float]] = field(default_factory=list)  # (step, validation metric)
    best_step: int = 0
    seconds: float = 0.0
    stopped_early: bool = False

    @property
    def best(self) -> float | None:
        return next((v for s, v in self.evals if s == self.best_step), None)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"best": self.best}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainLog":
        d = dict(d)
        d.pop("best", None)
        d["evals"] = [tuple(e) for e in d.get("evals", [])]
        return cls(**d)


def schedule(groups: Sequence[Sequence[int]], steps: int, settings: TrainSettings, seed: int) -> list[list[int]]:
    """The micro-batches of `steps` optimizer steps: the groups (a user's rows, kept together so
    that their prompts share a prefix in one pass) in a seeded random order, reshuffled at each
    pass, flattened and cut into batches of `settings.batch_size` examples."""
    if not groups or not any(groups):
        raise ValueError("no training examples")
    rng = np.random.default_rng(seed)
    need = steps * settings.step_examples
    order: list[int] = []
    while len(order) < need:
        for g in rng.permutation(len(groups)):
            order.extend(groups[g])
    order = order[:need]
    return [order[i : i + settings.batch_size] for i in range(0, need, settings.batch_size)]


def train_adapter(
    backend: Any,
    lora: LoRASettings | None,
    settings: TrainSettings,
    batches: list[list[int]],
    batch_loss: Callable[[list[int]], torch.Tensor],
    evaluate: Callable[[], float] | None,
    out_dir: Path,
    *,
    seed: int,
    metric: str,
    desc: str = "lora",
    extra: torch.nn.Module | None = None,
    trainable_tokens: TokenRows | None = None,
) -> TrainLog:
    """Train a LoRA adapter on the HF engine `backend`'s model over `batches` (micro-batches of
    example indices, `settings.grad_accum` of them a step) and save it to `out_dir`.
    `batch_loss(indices)` is the mean loss of those examples; `evaluate()` runs without gradients
    with dropout off and returns the validation metric. The engine's counters are reset after.

    `extra`, a module trained alongside (a soft-prompt adapter, models/llm/emb_prompt.py), joins
    the optimiser, is kept at its best evaluation too and saved to `out_dir/EXTRA_FILE`; with
    `lora` None it alone trains and the LLM stays frozen (no LoRA is injected or saved).

    `trainable_tokens` (see LoRASettings.peft_config) trains those embedding rows beside the
    adapter (LoRA only), in float32 whatever the model's dtype, and saves them with it."""
    from peft import get_peft_model, get_peft_model_state_dict, set_peft_model_state_dict

    from benchmark.llm.hf import contiguous_head_input

    if lora is None and extra is None:
        raise ValueError("train_adapter: nothing to train (no LoRA settings and no extra module)")
    if lora is None and trainable_tokens is not None:
        raise ValueError("train_adapter: trainable_tokens need LoRA settings (peft trains them with the adapter)")
    torch.manual_seed(seed)
    n_layers = int(backend.model.config.num_hidden_layers)
    if lora is not None:
        model = get_peft_model(backend.model, lora.peft_config(n_layers, trainable_tokens))  # in place
        _token_rows_in_float32(model)
        contiguous_head_input(model)  # a head that trains token rows is a new module
        frozen: list[torch.nn.Parameter] = []
    else:
        model = backend.model
        frozen = [p for p in model.parameters() if p.requires_grad]
        for p in frozen:
            p.requires_grad_(False)
    modules = [model] + ([extra] if extra is not None else [])
    trainable = [p for m in modules for p in m.parameters() if p.requires_grad]

    def snapshot() -> dict[str, Any]:
        state = {"extra": {k: v.detach().clone() for k, v in extra.state_dict().items()}} if extra is not None else {}
        if lora is not None:
            state["lora"] = {k: v.detach().clone()
                             for k, v in get_peft_model_state_dict(model, save_embedding_layers=False).items()}
        return state

    def mode(train: bool) -> None:
        for m in modules:
            m.train(train)
    optimizer = torch.optim.AdamW(trainable, lr=settings.lr, weight_decay=settings.weight_decay)
    log = TrainLog(metric)
    steps = len(batches) // settings.grad_accum
    best, best_state, stale = float("-inf"), None, 0
    start = time.perf_counter()

    def validate(step: int) -> bool:
        """Evaluate; False once patience runs out."""
        nonlocal best, best_state, stale
        mode(False)
        with torch.inference_mode():
            value = float(evaluate())
        mode(True)
        log.evals.append((step, value))
        if value > best:
            best, log.best_step, stale = value, step, 0
            best_state = snapshot()
        else:
            stale += 1
        bar.set_postfix(loss=f"{log.losses[-1]:.4f}", **{metric: f"{value:.4f}", "best": f"{best:.4f}"})
        return stale < settings.patience

    mode(True)
    bar = tqdm(range(1, steps + 1), desc=desc, disable=None, leave=False)
    try:
        for step in bar:
            optimizer.zero_grad(set_to_none=True)
            total = 0.0
            for micro in batches[(step - 1) * settings.grad_accum : step * settings.grad_accum]:
                loss = batch_loss(micro) / settings.grad_accum
                loss.backward()
                total += float(loss.detach())
                log.examples += len(micro)
            torch.nn.utils.clip_grad_norm_(trainable, settings.max_grad_norm)
            optimizer.step()
            log.losses.append(total)
            log.steps = step
            bar.set_postfix(loss=f"{total:.4f}")
            if evaluate is not None and (step % settings.eval_every == 0 or step == steps):
                if not validate(step):
                    log.stopped_early = step < steps
                    break
        if best_state is not None:
            if lora is not None:
                set_peft_model_state_dict(model, best_state["lora"])
            if extra is not None:
                extra.load_state_dict(best_state["extra"])
        else:
            log.best_step = log.steps
        mode(False)
        if lora is not None:
            model.save_pretrained(out_dir, save_embedding_layers=False)
        if extra is not None:
            torch.save(extra.state_dict(), Path(out_dir) / EXTRA_FILE)
    finally:
        bar.close()
        if lora is not None:
            model.unload()  # the engine's model is the base model again
        for p in frozen:
            p.requires_grad_(True)
        backend.reset_counts()
    log.seconds = time.perf_counter() - start
    return log


def _token_rows_in_float32(model: Any) -> None:
    """peft keeps trainable token rows in the embedding's dtype; bfloat16 rounds away small Adam
    steps, so train them in float32 (the forward casts them to the embedding's dtype)."""
    for module in model.modules():
        deltas = getattr(module, "trainable_tokens_delta", None)
        if isinstance(deltas, torch.nn.ParameterDict) and getattr(module, "tied_adapter", None) is None:
            for name, p in deltas.items():
                if p.dtype != torch.float32:
                    deltas[name] = torch.nn.Parameter(p.detach().float(), requires_grad=p.requires_grad)


# On CPU, a training forward over rows up to this many positions runs eager attention, whose
# backward is faster there than SDPA's; wider rows keep SDPA (eager's memory grows with the square
# of the width, and it stops being faster). Measured with scripts/bench_training_attention.py on
# the embedded LLM (8 left-padded rows, LoRA r 128, bfloat16, 2 cores), eager/SDPA time per step:
# 0.85 at 60 positions, 0.87 at 120, 1.03 at 250. Inference keeps SDPA, the faster one there.
EAGER_TRAINING_WIDTH = 160


def training_forward(model: Any, width: int, **inputs: Any) -> Any:
    """`model(**inputs)` for a training batch `width` positions wide, with the attention kernel
    chosen as EAGER_TRAINING_WIDTH says (the model's own setting restored after; the autograd
    graph recorded here is what the backward runs, so it needs no switch)."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    current = getattr(base.config, "_attn_implementation", None)
    device = next(model.parameters()).device
    if device.type != "cpu" or width > EAGER_TRAINING_WIDTH or current in (None, "eager") \
            or not hasattr(base, "set_attn_implementation"):
        return model(**inputs)
    base.set_attn_implementation("eager")
    try:
        return model(**inputs)
    finally:
        base.set_attn_implementation(current)


def continuation_loss(model: Any, pad_id: int, seqs: list[list[int]], scored: list[int]) -> torch.Tensor:
    """Mean over the sequences of the mean cross-entropy of each one's last `scored` tokens given
    everything before them (`token_loss` with those tokens labelled)."""
    return token_loss(model, pad_id, seqs, [[-100] * (len(s) - n) + list(s[len(s) - n :]) for s, n in zip(seqs, scored)])


def width_groups(widths: Sequence[int], slack: float = 1.25) -> list[list[int]]:
    """Row indices cut into groups of similar width, so that padding each group to its widest row
    wastes little: the rows in order of width, a new group begun at a row more than `slack` times
    as wide as its group's narrowest. (One long prompt among short ones would otherwise pad the
    whole batch to its width: on the default plan's QA questions, 8 rows of 92-137 positions and
    one of 294 ran 2.1 times the positions they needed.)"""
    groups: list[list[int]] = []
    for i in sorted(range(len(widths)), key=lambda i: widths[i]):
        if groups and widths[i] <= slack * widths[groups[-1][0]]:
            groups[-1].append(i)
        else:
            groups.append([i])
    return groups


def token_loss(model: Any, pad_id: int, seqs: list[list[int]], labels: list[list[int]]) -> torch.Tensor:
    """Mean over the sequences of the mean cross-entropy of each one's labelled tokens
    (`labels[r][j]` is the token expected at position j of seqs[r], -100 where none is scored),
    each given everything before it; rows of similar length run together (`width_groups`)."""
    for r, (seq, lab) in enumerate(zip(seqs, labels)):
        if len(lab) != len(seq) or lab[0] != -100 or all(t == -100 for t in lab):
            raise ValueError(f"token_loss: row {r} needs one label per token, the first unscored and at least one scored")
    groups = width_groups([len(s) for s in seqs])
    return torch.cat([_row_losses(model, pad_id, [seqs[i] for i in g], [labels[i] for i in g]) for g in groups]).mean()


def _row_losses(model: Any, pad_id: int, seqs: list[list[int]], labels: list[list[int]]) -> torch.Tensor:
    """(len(seqs),): `token_loss` of each row, the rows run as one batch. Rows are left-padded
    (position ids count real tokens only), so every row ends at the last position and the logits
    are computed from the earliest scored position on."""
    device = next(model.parameters()).device
    width = max(map(len, seqs))
    input_ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    target = torch.full((len(seqs), width), -100, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for r, (seq, lab) in enumerate(zip(seqs, labels)):
        input_ids[r, width - len(seq) :] = torch.tensor(seq)
        target[r, width - len(seq) :] = torch.tensor(lab)
        mask[r, width - len(seq) :] = 1
    positions = (mask.cumsum(dim=1) - 1).clamp(min=0)
    first = int((target != -100).int().argmax(dim=1).min())  # the earliest scored position of any row
    keep = width - first + 1  # logits from position first - 1, which predicts token `first`
    logits = training_forward(model, width, input_ids=input_ids.to(device), attention_mask=mask.to(device),
                              position_ids=positions.to(device), logits_to_keep=keep).logits.float()  # logits[:, j] predicts token width - keep + j + 1
    losses = torch.nn.functional.cross_entropy(logits[:, :-1].transpose(1, 2), target[:, width - keep + 1 :].to(device),
                                               reduction="none")
    scored = (target[:, width - keep + 1 :] != -100).to(device)
    return losses.sum(dim=1) / scored.sum(dim=1)


class Digest:
    """sha256 over a stream of values, each framed so that no two streams collide."""

    def __init__(self) -> None:
        self._h = hashlib.sha256()

    def add(self, *values: Any) -> "Digest":
        for v in values:
            data = v if isinstance(v, bytes) else json.dumps(v, sort_keys=True, default=str).encode()
            self._h.update(len(data).to_bytes(8, "little") + data)
        return self

    def hexdigest(self) -> str:
        return self._h.hexdigest()


@lru_cache(maxsize=None)
def _file_sha256(path: str, mtime_ns: int, size: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def files_sha256(paths: Iterable[Path], root: Path | None = None) -> str:
    """Each file's name (relative to `root`, else its base name) and contents (memoised while the
    file is unchanged)."""
    d = Digest()
    for p in sorted(Path(p) for p in paths):
        stat = p.stat()
        d.add(p.relative_to(root).as_posix() if root else p.name, _file_sha256(str(p), stat.st_mtime_ns, stat.st_size))
    return d.hexdigest()


def base_model_identity(model_path: str) -> dict[str, Any]:
    """The weights a model path names, by content: the GGUF file, or every file of the checkpoint
    directory (config, weights, tokenizer)."""
    resolved = resolve_model_path(model_path)
    files = [resolved.path] if resolved.gguf_file else [p for p in resolved.directory.iterdir() if p.is_file()]
    return {"name": Path(model_path).name if resolved.gguf_file is None else resolved.gguf_file,
            "sha256": files_sha256(files)}


def training_code_hash() -> str:
    """The code that shapes an adapter: the LLM models (prompt rendering, losses, this trainer),
    the engines they run on and the shared layers."""
    repo = Path(benchmark.__file__).resolve().parent.parent
    files = [*(repo / "models" / "llm").glob("*.py"), *(repo / "benchmark" / "llm").glob("*.py"),
             *(repo / "models" / "layers").glob("*.py"), repo / "benchmark" / "prompts.py"]
    return files_sha256(files, repo)


def adapter_key(*, base: dict[str, Any], lora: LoRASettings | None, settings: TrainSettings, data: str, seed: int,
                extra: dict[str, Any]) -> str:
    """The adapter's cache key: the base model's identity, the LoRA and training settings, the
    hash of the training and validation examples (the exact prompts and targets, in the order
    they are used), the seed, the training code, the library versions and the thread count
    (float sums, hence weights, depend on it), plus the caller's `extra` (task, loss, dtype...)."""
    import peft
    import transformers

    return Digest().add({
        "base": base, "lora": asdict(lora) if lora is not None else None, "train": asdict(settings), "data": data, "seed": seed,
        "code": training_code_hash(), "harness": benchmark.__version__,
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__, "peft": peft.__version__},
        "threads": torch.get_num_threads(), "extra": extra,
    }).hexdigest()


def cached_adapter(key: str, files: Sequence[str] = ADAPTER_FILES) -> tuple[Path, TrainLog] | None:
    """The stored adapter and its training log, when a complete one (its `files` and the log) is
    cached under `key`."""
    path = cache_dir("lora") / key
    if not all((path / f).is_file() for f in (*files, LOG_FILE)):
        return None
    try:
        return path, TrainLog.from_dict(json.loads((path / LOG_FILE).read_text()))
    except (ValueError, TypeError, KeyError):
        return None  # a damaged log: train again


def store_adapter(key: str, train: Callable[[Path], TrainLog],
                  files: Sequence[str] = ADAPTER_FILES) -> tuple[Path, TrainLog]:
    """Run `train(folder)` to write an adapter into a fresh folder beside the cache entry, add its
    log, and move it into place; when another process stored the same key meanwhile, keep that."""
    root = cache_dir("lora")
    final = root / key
    work = root / f".{key}.{os.getpid()}.{time.monotonic_ns()}.tmp"
    work.mkdir()
    try:
        log = train(work)
        (work / LOG_FILE).write_text(json.dumps(log.to_dict(), indent=1))
        try:
            os.rename(work, final)
        except OSError:  # the entry exists: stored meanwhile (keep it), or left incomplete (replace it)
            if cached_adapter(key, files) is None:
                shutil.rmtree(final)
                os.rename(work, final)
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)
    return final, log


@dataclass
class FittedAdapter:
    """The adapter a model trained, or found in the cache, and serves from now on."""

    path: Path
    log: TrainLog
    cached: bool
    lora: LoRASettings

    def stats(self) -> dict[str, Any]:
        """What a model's extra efficiency figures record of it."""
        log, lora = self.log, self.lora
        return {
            "adapter_dir": str(self.path),
            "adapter_cached": self.cached,
            "lora": {"r": lora.r, "alpha": lora.alpha, "dropout": lora.dropout,
                     "target_modules": list(lora.target_modules), "layers": lora.layers},
            "train_seconds": round(log.seconds, 3),
            "train_steps": log.steps,
            "train_examples": log.examples,
            "best_step": log.best_step,
            "valid_metric": log.metric,
            "valid_best": log.best,
            "valid_history": [[s, v] for s, v in log.evals],
        }


def fit_adapter(model: Any, lora: LoRASettings, settings: TrainSettings, batches: list[list[int]], data_hash: str,
                batch_loss: Callable[[list[int]], torch.Tensor], evaluate: Callable[[], float] | None, *,
                metric: str, desc: str, extra: dict[str, Any], trainable_tokens: TokenRows | None = None,
                serve: Callable[[Path], None] | None = None) -> FittedAdapter:
    """Train an adapter on a text-LLM model's HF engine (`model.backend`), or load the one cached
    under the same key (see `adapter_key`; `data_hash` digests the examples, `extra` whatever
    else shapes the weights), then serve it (`serve(path)`, by default `serve_adapter`). The
    model provides model_path, seed, backend_name, device, dtype and batch_size.
    `trainable_tokens` as for `train_adapter`."""
    key = adapter_key(base=base_model_identity(model.model_path), lora=lora, settings=settings, data=data_hash,
                      seed=model.seed, extra=extra)
    hit = cached_adapter(key)
    cached = hit is not None
    if hit is None:
        hit = store_adapter(key, lambda out: train_adapter(model.backend, lora, settings, batches, batch_loss, evaluate,
                                                           out, seed=model.seed, metric=metric, desc=desc,
                                                           trainable_tokens=trainable_tokens))
    (serve or (lambda path: serve_adapter(model, path)))(hit[0])
    return FittedAdapter(hit[0], hit[1], cached, lora)


def serve_adapter(model: Any, path: Path) -> None:
    """Serve the adapter in `path` on the model's own engine: loaded into the HF engine it was
    trained on, or, for backend "vllm", a vLLM engine started with it once the training engine's
    memory is freed."""
    if model.backend_name == "hf":
        model.backend.load_adapter(path)
        return
    import gc

    from benchmark.llm import load_backend

    model.backend = None
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    model.backend = load_backend(model.backend_name, model_path=model.model_path, device=model.device,
                                 dtype=model.dtype, batch_size=model.batch_size, adapter_path=str(path))
