"""The vLLM engine (CUDA only). vLLM is imported in the constructor, never at module import, so
the package stays importable where vLLM is not installed.

Written against vLLM >= 0.12: `logprobs_mode` (0.10.2) makes the returned logprobs those after
`allowed_token_ids` masks the vocabulary, so the top-k are exactly the choices, and
`StructuredOutputsParams` (which replaced `GuidedDecodingParams` in 0.12) constrains generation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from benchmark.llm.base import BackendError, LLMBackend, TokenTrie, log_softmax_rows
from benchmark.llm.paths import DEFAULT_MODEL, adapter_rank, checkpoint_parameters, resolve_model_path

INSTALL_HINT = "pip install -e '.[gpu]' (vLLM >= 0.12, which needs a CUDA GPU)"


class VLLMBackend(LLMBackend):
    name = "vllm"

    def __init__(
        self,
        model_path: str | Path = DEFAULT_MODEL,
        *,
        device: str = "cuda",
        dtype: str = "auto",
        batch_size: int | None = None,
        adapter_path: str | Path | None = None,
        seed: int = 0,
        **engine_args: Any,
    ) -> None:
        """`batch_size` caps the sequences vLLM runs at once (its max_num_seqs); `engine_args`
        go to vllm.LLM as they are (gpu_memory_utilization, max_model_len, ...)."""
        super().__init__()
        try:
            from vllm import LLM, SamplingParams
            from vllm.sampling_params import StructuredOutputsParams
        except ImportError as e:
            raise BackendError(f"the 'vllm' backend needs vLLM, which is not installed or too old: {INSTALL_HINT}") from e
        if not device.startswith("cuda"):
            raise BackendError(f"the 'vllm' backend runs on CUDA only, not device {device!r}; use backend 'hf' there")
        self._SamplingParams = SamplingParams
        self._StructuredOutputsParams = StructuredOutputsParams
        self._resolved = resolve_model_path(model_path)
        args: dict[str, Any] = {
            "model": str(self._resolved.path),
            "dtype": dtype,
            "seed": seed,
            "logprobs_mode": "processed_logprobs",
            "enable_prefix_caching": True,
            **engine_args,
        }
        if batch_size is not None:
            args["max_num_seqs"] = batch_size
        self._lora = None
        self._adapter_path = adapter_path
        if adapter_path is not None:
            from vllm.lora.request import LoRARequest

            rank = adapter_rank(adapter_path)
            args.update(enable_lora=True, max_lora_rank=max(8, 1 << (rank - 1).bit_length()))
            self._lora = LoRARequest("adapter", 1, str(adapter_path))
        self.llm = LLM(**args)
        self.tokenizer = self.llm.get_tokenizer()

    def reset_caches(self) -> None:
        self.llm.reset_prefix_cache()

    def _run(self, prompts: list[str], params: Any) -> list[Any]:
        seqs = [self.encode_prompt(p) for p in prompts]
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
        for out in self._run(prompts, params):
            top = out.outputs[0].logprobs[0]
            missing = [t for t in ids if t not in top]
            if missing:
                raise BackendError(
                    f"vLLM returned no logprob for choice tokens {missing}; the engine must run with "
                    "logprobs_mode='processed_logprobs' (vLLM >= 0.10.2)"
                )
            rows.append([top[t].logprob for t in ids])
        return log_softmax_rows(np.array(rows, dtype=np.float64).reshape(len(prompts), len(ids)))

    def continuation_logprobs(self, prompt: str, continuations: list[str], normalize: str = "mean") -> np.ndarray:
        """See LLMBackend: each prompt + continuation runs as one request with `prompt_logprobs=0`,
        which returns the log-probability of every prompt token as it stands (teacher-forced);
        prefix caching shares the prompt between the requests where vLLM allows it.
        Not exercised by the test suite (vLLM needs CUDA)."""
        conts = self.continuation_token_ids(continuations, normalize)
        prompt_ids = self.encode_prompt(prompt)
        seqs = [prompt_ids + c for c in conts]
        params = self._SamplingParams(max_tokens=1, temperature=0.0, prompt_logprobs=0)
        outs = self.llm.generate(
            [{"prompt_token_ids": s} for s in seqs], params, use_tqdm=False, lora_request=self._lora
        )
        self.counts.prompts += len(seqs)
        self.counts.prompt_tokens += sum(map(len, seqs))
        totals = np.empty(len(seqs), dtype=np.float64)
        for i, (seq, cont, out) in enumerate(zip(seqs, conts, outs)):
            self.counts.computed_tokens += len(seq) - (getattr(out, "num_cached_tokens", None) or 0)
            self.counts.generated_tokens += len(out.outputs[0].token_ids)
            per_token = out.prompt_logprobs[len(prompt_ids) :]
            totals[i] = sum(entry[token].logprob for entry, token in zip(per_token, cont))
        return totals / np.array([len(c) for c in conts]) if normalize == "mean" else totals

    def generate(
        self, prompts: list[str], max_new_tokens: int = 32, allowed_continuations: TokenTrie | None = None
    ) -> list[str]:
        structured = None
        if allowed_continuations is not None:
            if allowed_continuations.texts is None:
                raise BackendError("the 'vllm' backend constrains generation by text: build the trie with build_trie(texts)")
            structured = self._StructuredOutputsParams(choice=list(allowed_continuations.texts))
        params = self._SamplingParams(max_tokens=max_new_tokens, temperature=0.0, structured_outputs=structured)
        return [out.outputs[0].text for out in self._run(prompts, params)]

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
