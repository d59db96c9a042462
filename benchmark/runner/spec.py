"""What a run is, as data: the model reference, the task, the dataset, the seed, and the identity
that names its result.

A result's identity is everything that can change its numbers: the model key, its arguments and
its code; the task's name, variant and version; the task data's content hash (which covers the
task's protocol fields, the dataset's fingerprint with its item text, and the builder version);
the latency-sampling fields; the torch thread count (a float sum's order, so a trained model,
depends on it); the seed; the harness version; and, for models that are handed the task's
prompt (see `benchmark.api.uses_prompts`), the prompt template's name, version and sha256 (so
editing a template makes new results; other models' identities carry no template key). `result_id` hashes it, and the
file name carries it, so two different runs never share a file and an identical run is skipped.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import benchmark
from benchmark.api import ModelMeta, uses_prompts
from benchmark.protocol import ProtocolSpec, stable_hash

_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class ModelRef:
    """How a worker finds a model class: a registry key (builtin) or a submission's folder and
    entry (`model.py:ClassName`)."""

    key: str
    args: dict[str, Any] = field(default_factory=dict)
    folder: str | None = None
    entry: str | None = None

    @property
    def source(self) -> str:
        return "builtin" if self.folder is None else f"submission:{Path(self.folder).name}"

    @property
    def is_submission(self) -> bool:
        return self.folder is not None


@lru_cache(maxsize=None)
def _file_digest(path: str, mtime_ns: int, size: int) -> bytes:
    return hashlib.sha256(Path(path).read_bytes()).digest()


def _files_hash(files: tuple[tuple[str, str], ...]) -> str:
    """(root, path) pairs: each file's name relative to its root, so that where a checkout or a
    submission lies does not change the hash, and its contents (memoised while unmodified)."""
    h = hashlib.sha256()
    for root, path in files:
        stat = Path(path).stat()
        h.update(Path(path).relative_to(root).as_posix().encode())
        h.update(_file_digest(path, stat.st_mtime_ns, stat.st_size))
    return h.hexdigest()[:16]


def code_hash(ref: ModelRef, module_file: str | None, meta: ModelMeta | None = None) -> str:
    """A submission's whole folder; a built-in model's own file plus the shared layers and the
    item-text encoder it builds on; for a model on an LLM engine (backend hf or vllm), the
    engines' code, the title grounding and the LLM models' shared modules (models/llm: list-wise
    ranking, LoRA training, item tokens) as well; for those and for semantic-ID models, the item
    tokenizers and the constrained beam search (benchmark/itemtok)."""
    repo = Path(benchmark.__file__).resolve().parent.parent
    if ref.folder is not None:
        root = Path(ref.folder).resolve()
        files = [(root, p) for p in sorted(root.rglob("*")) if p.is_file() and "__pycache__" not in p.parts]
    else:
        if module_file is None:
            return "unknown"
        own = Path(module_file).resolve()  # a model registered from outside the repo: by its file name
        files = [(repo if own.is_relative_to(repo) else own.parent, own)]
        files += [(repo, p) for p in sorted((repo / "models" / "layers").glob("*.py"))]
        # the item-text encoder text-aware models and the generative grounding build on
        files += [(repo, p) for p in sorted((repo / "benchmark" / "text").glob("*.py"))]
    if meta is not None and meta.backend in ("hf", "vllm"):
        files += [(repo, p) for p in sorted((repo / "benchmark" / "llm").glob("*.py"))]
        files.append((repo, repo / "benchmark" / "grounding.py"))
        files += [(repo, p) for p in sorted((repo / "models" / "llm").glob("*.py")) if (repo, p) not in files]
    if meta is not None and ref.folder is None and (meta.item_repr == "sid" or meta.backend in ("hf", "vllm")):
        # item tokenizers, the prefix trie and the constrained beam search
        files += [(repo, p) for p in sorted((repo / "benchmark" / "itemtok").glob("*.py"))]
    return _files_hash(tuple((str(root), str(p)) for root, p in files))


@dataclass
class PlannedRun:
    """One cell of the plan: a model on one task variant of one dataset with one seed."""

    ref: ModelRef
    meta: ModelMeta
    code: str
    task: Any  # tasks.Task
    dataset: str
    seed: int
    protocol: ProtocolSpec
    task_data: Any = None  # TaskData, or None when it could not be built
    data_error: BaseException | None = None
    threads: int | None = None  # torch CPU threads: float sums, hence trained weights, depend on it

    @property
    def task_data_hash(self) -> str | None:
        return self.task_data.content_hash if self.task_data is not None else None

    @property
    def template(self) -> dict[str, Any] | None:
        """The task's prompt template as the result records it, for prompted models; else None."""
        prompt = self.task.prompt_for(self.meta.item_repr) if uses_prompts(self.meta) else None
        return prompt.to_dict() if prompt is not None else None

    def prompts(self) -> dict[str, dict[str, Any]]:
        """What the work order hands the model: task name → {name, version, text}."""
        prompt = self.task.prompt_for(self.meta.item_repr) if uses_prompts(self.meta) else None
        return {self.task.name: prompt.to_order()} if prompt is not None else {}

    def identity(self) -> dict[str, Any]:
        identity = self._identity()
        template = self.template
        if template is not None:
            identity["template"] = template
        return identity

    def _identity(self) -> dict[str, Any]:
        return {"model": self.ref.key, "args": self.ref.args, "code": self.code, "source": self.ref.source,
                "task": self.task.name, "task_version": self.task.version, "variant": self.task.variant,
                "task_data_hash": self.task_data_hash, "dataset": self.dataset,
                "latency": {"sample": self.protocol.latency_sample, "warmup": self.protocol.latency_warmup},
                "threads": self.threads, "seed": self.seed, "harness": benchmark.__version__}

    @property
    def result_id(self) -> str:
        return stable_hash(self.identity())

    @property
    def run_id(self) -> str:
        parts = (self.ref.key, self.task.label, self.dataset)
        return "__".join(_SAFE.sub("-", p) for p in parts) + f"__seed{self.seed}__{self.result_id}"

    @property
    def fit_key(self) -> str | None:
        """Runs that differ only in the candidate mode share one fitted model: same model, task
        data and seed. Only fine-tuned models share: fitting is seeded, so sharing changes only
        the time, whereas a zero-shot model's own random state would make results depend on order."""
        if self.meta.scheme != "fine-tuned" or self.task_data is None:
            return None
        identity = self.identity()
        identity["variant"] = None
        return stable_hash(identity)
