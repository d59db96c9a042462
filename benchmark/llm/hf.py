"""The transformers engine: any causal LM that AutoModelForCausalLM loads from a local checkpoint
directory or a GGUF file (dequantised once into a cached checkpoint, `paths.safetensors_checkpoint`),
optionally with a peft LoRA adapter, on CPU or one CUDA device.

Scoring runs left-padded batches with position ids that count real tokens only, so every row
ends at the batch's last position and the model's own forward (LM head, logit scaling or
soft-capping included) computes logits there alone: `logits_to_keep=1`, which every transformers
release reads the same way (a per-row tensor is read differently before 5.20). Prompts that share
a long token prefix (CTR prompts for one user differ only in the candidate) run that prefix once:
its KV cache is copied to every member, and only the suffixes run batched after it. Both are
exact: the attention mask hides the padding from every real token, and a suffix attends to the
same prefix keys and values it would compute itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Sequence

import numpy as np
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, DynamicCache, GenerationConfig
from transformers.cache_utils import DynamicLayer

from benchmark.llm.base import BackendError, LLMBackend, TokenTrie, log_softmax_rows
from benchmark.llm.paths import DEFAULT_MODEL, adapter_rank, resolve_model_path, safetensors_checkpoint

if TYPE_CHECKING:
    from benchmark.itemtok import BeamResult, PrefixTrie

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def _common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def contiguous_head_input(model: torch.nn.Module) -> None:
    """Give `model`'s LM head (whatever module it is now: peft wraps a tied head that trains token
    rows in a module of its own) a contiguous input, once (see `_contiguous_input`)."""
    head = model.get_output_embeddings()
    if head is not None and not getattr(head, "_recboard_contiguous_input", False):
        head.register_forward_pre_hook(_contiguous_input)
        head._recboard_contiguous_input = True


def _contiguous_input(module: torch.nn.Module, args: tuple) -> tuple:
    """The LM head's input made contiguous. With `logits_to_keep` the model hands the head a slice
    of the hidden states, and torch's matmul can then take a batched path that first copies the
    (vocab x hidden) weight once per row: with a LoRA adapter loaded, a forward of 16 rows of 40
    tokens on the embedded LLM took 1.18 s with that copy and 0.37 s without (bfloat16, 2 cores)."""
    return (args[0].contiguous(), *args[1:]) if args and isinstance(args[0], torch.Tensor) else args


class HFBackend(LLMBackend):
    name = "hf"

    def __init__(
        self,
        model_path: str | Path = DEFAULT_MODEL,
        *,
        device: str = "cpu",
        dtype: str = "float32",
        batch_size: int = 16,
        adapter_path: str | Path | None = None,
        share_prefixes: bool = True,
        min_shared_tokens: int = 16,
    ) -> None:
        super().__init__()
        if dtype not in DTYPES:
            raise BackendError(f"dtype {dtype!r} is not one of {sorted(DTYPES)}")
        if batch_size < 1:
            raise BackendError(f"batch_size must be at least 1, got {batch_size}")
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise BackendError(f"device {device!r} asked for, but torch sees no CUDA device")
        self.device = torch.device(device)
        self.batch_size = batch_size
        self.min_shared_tokens = max(1, min_shared_tokens)

        # A GGUF file loads from the float32 safetensors checkpoint transformers dequantises it into
        # once (the one vLLM loads, cached by the file's content): the same weights and tokenizer,
        # in about a second instead of the twenty a GGUF load takes on a CPU.
        directory = safetensors_checkpoint(resolve_model_path(model_path))
        where = {"local_files_only": True}
        self.tokenizer = AutoTokenizer.from_pretrained(directory, **where)
        if self.tokenizer.pad_token is None:
            fallback = self.tokenizer.eos_token or self.tokenizer.unk_token
            if fallback is None:
                raise BackendError(f"tokenizer of {str(model_path)!r} has no pad, eos or unk token to pad with")
            self.tokenizer.pad_token = fallback
        model = AutoModelForCausalLM.from_pretrained(directory, dtype=DTYPES[dtype], **where)
        self.model = model.to(self.device).eval()
        contiguous_head_input(self.model)
        self.adapter_path: Path | None = None
        if adapter_path is not None:
            self.load_adapter(adapter_path)
        self.config = self.model.config
        self.max_positions = getattr(self.config, "max_position_embeddings", None)
        self.share_prefixes = share_prefixes and all(
            type(layer) is DynamicLayer for layer in DynamicCache(config=self.config).layers
        )

    def load_adapter(self, adapter_path: str | Path) -> None:
        """Serve the peft LoRA adapter in `adapter_path` on the base model from now on, in place of
        any adapter loaded before."""
        from peft import PeftModel

        adapter_rank(adapter_path)
        base = self.model.unload() if isinstance(self.model, PeftModel) else self.model
        self.model = PeftModel.from_pretrained(base, str(adapter_path), is_trainable=False).to(self.device).eval()
        contiguous_head_input(self.model)
        self.adapter_path = Path(adapter_path)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.model.parameters())

    def _encode_all(self, texts: list[str]) -> list[list[int]]:
        seqs = [self.encode_prompt(t) for t in texts]
        for text, seq in zip(texts, seqs):
            if not seq:
                raise BackendError(f"prompt {text!r} encodes to no tokens")
            if self.max_positions and len(seq) > self.max_positions:
                raise BackendError(f"a prompt of {len(seq)} tokens exceeds the model's {self.max_positions} positions")
        self.counts.prompts += len(seqs)
        self.counts.prompt_tokens += sum(map(len, seqs))
        return seqs

    def _pad(self, seqs: list[list[int]], side: str) -> tuple[torch.Tensor, torch.Tensor]:
        enc = self.tokenizer.pad({"input_ids": seqs}, padding=True, padding_side=side, return_tensors="pt")
        return enc["input_ids"].to(self.device), enc["attention_mask"].to(self.device)

    def _chunks(self, indices: list[int]) -> list[list[int]]:
        return [indices[i : i + self.batch_size] for i in range(0, len(indices), self.batch_size)]

    @torch.inference_mode()
    def choice_logprobs(self, prompts: list[str], choices: list[str]) -> np.ndarray:
        ids = self.choice_token_ids(choices)
        seqs = self._encode_all(prompts)
        logits = np.empty((len(seqs), len(ids)), dtype=np.float64)
        for chunk, rows in self.next_token_logits(seqs):
            logits[chunk] = rows[:, ids].double().cpu().numpy()
        return log_softmax_rows(logits)

    def next_token_logits(self, seqs: list[list[int]]) -> Iterator[tuple[list[int], torch.Tensor]]:
        """The next-token logits after each token sequence, as (indices into seqs, logits of shape
        (len(indices), vocab)) for chunks of at most batch_size sequences; sequences that share a
        token prefix run it once (see `_plan`). Differentiable where autograd is on, which is how
        LoRA training shares a user's prompt prefix across that user's rows."""
        groups, singles = self._plan(seqs)
        for members, shared in groups:
            prefix_cache = self._run_prefix(seqs[members[0]][:shared])
            for chunk in self._chunks(sorted(members, key=lambda i: len(seqs[i]))):
                yield chunk, self._last_logits([seqs[i][shared:] for i in chunk], prefix_cache, shared)
        for chunk in self._chunks(sorted(singles, key=lambda i: len(seqs[i]))):
            yield chunk, self._last_logits([seqs[i] for i in chunk])

    def _plan(self, seqs: list[list[int]]) -> tuple[list[tuple[list[int], int]], list[int]]:
        """Split the prompts into groups that share a token prefix, as (members, shared length),
        and the rest. Lexicographic order puts prompts with a common prefix next to each other;
        a dynamic program over that order then picks the runs that save the most tokens,
        (size - 1) * shared, runs being at most a few batches long."""
        n = len(seqs)
        if not self.share_prefixes or n < 2:
            return [], list(range(n))
        order = sorted(range(n), key=seqs.__getitem__)
        neighbour = [_common_prefix(seqs[order[k]], seqs[order[k + 1]]) for k in range(n - 1)]
        max_run = 8 * self.batch_size
        saved = [0] * (n + 1)
        run_start = list(range(n + 1))
        for end in range(1, n + 1):
            saved[end], run_start[end] = saved[end - 1], end - 1
            shared, shortest = len(seqs[order[end - 1]]), len(seqs[order[end - 1]])
            for start in range(end - 2, max(-1, end - 1 - max_run), -1):
                shared = min(shared, neighbour[start])
                shortest = min(shortest, len(seqs[order[start]]))
                usable = min(shared, shortest - 1)
                if usable < self.min_shared_tokens:
                    break
                gain = saved[start] + (end - start - 1) * usable
                if gain > saved[end]:
                    saved[end], run_start[end] = gain, start
        groups, singles = [], []
        end = n
        while end > 0:
            start = run_start[end]
            members = [order[k] for k in range(start, end)]
            if len(members) == 1:
                singles.extend(members)
            else:
                shared = min(neighbour[start : end - 1])
                groups.append((members, min(shared, min(len(seqs[i]) for i in members) - 1)))
            end = start
        return groups[::-1], singles

    def _run_prefix(self, prefix: list[int]) -> DynamicCache:
        cache = DynamicCache(config=self.config)
        input_ids = torch.tensor([prefix], device=self.device)
        self.model(input_ids=input_ids, past_key_values=cache, use_cache=True, logits_to_keep=1)
        self.counts.computed_tokens += len(prefix)
        return cache

    def _on_prefix(self, mask: torch.Tensor, prefix_cache: DynamicCache | None,
                   prefix_len: int) -> tuple[torch.Tensor, dict]:
        """The attention mask and model kwargs for a batch run after a shared prefix: a copy of its
        cache per row, and the prefix's positions unmasked; without a prefix, no cache at all."""
        if prefix_cache is None:
            return mask, {"use_cache": False}
        # A fresh cache holding the prefix once per row (the prefix cache itself stays as it is for
        # the next batch); unlike deepcopy it works on tensors that autograd tracks.
        cache = DynamicCache(config=self.config)
        for i, layer in enumerate(prefix_cache.layers):
            cache.update(layer.keys.expand(mask.shape[0], -1, -1, -1), layer.values.expand(mask.shape[0], -1, -1, -1), i)
        prefix_mask = torch.ones(mask.shape[0], prefix_len, dtype=mask.dtype, device=self.device)
        return torch.cat([prefix_mask, mask], dim=1), {"past_key_values": cache, "use_cache": True}

    def _last_logits(
        self, seqs: list[list[int]], prefix_cache: DynamicCache | None = None, prefix_len: int = 0
    ) -> torch.Tensor:
        """Next-token logits after each sequence's last token, shape (len(seqs), vocab)."""
        input_ids, mask = self._pad(seqs, "left")
        positions = (mask.cumsum(dim=1) - 1).clamp(min=0) + prefix_len
        mask, kwargs = self._on_prefix(mask, prefix_cache, prefix_len)
        out = self.model(input_ids=input_ids, attention_mask=mask, position_ids=positions, logits_to_keep=1,
                         **kwargs)
        self.counts.computed_tokens += sum(map(len, seqs))
        return out.logits[:, -1].float()

    @torch.inference_mode()
    def continuation_logprobs(
        self, prompt: str, continuations: list[str], normalize: str = "mean", *, naive: bool = False
    ) -> np.ndarray:
        """See LLMBackend: `sequence_logprobs` of each continuation's tokens. `naive=True` runs
        prompt + continuation whole for each candidate alone instead: the reference, slow."""
        return self.sequence_logprobs(prompt, self.continuation_token_ids(continuations, normalize), normalize,
                                      naive=naive)

    @torch.inference_mode()
    def sequence_logprobs(
        self, prompt: str, sequences: Sequence[Sequence[int]], normalize: str = "sum", *, naive: bool = False
    ) -> np.ndarray:
        """Shape (len(sequences),): each token-id sequence's log-likelihood right after
        encode_prompt(prompt), teacher-forced on its own tokens (summed; divided by its length
        when `normalize` is "mean"). The prompt runs once without its last token; every
        sequence then runs as that last token followed by its own tokens, right-padded in
        batches of `batch_size` on copies of the prompt's KV cache, so the logits at the row's
        position k predict the sequence's token k (the first from the prompt's last position).

        Counts: one prompt per sequence, prompt_tokens the prompt's plus the sequence's tokens
        (what scoring each pair on its own would run); computed_tokens what actually ran."""
        if normalize not in ("sum", "mean"):
            raise BackendError(f"normalize must be 'sum' or 'mean', got {normalize!r}")
        conts = [list(map(int, s)) for s in sequences]
        if not conts or not all(conts):
            raise BackendError("sequence_logprobs needs at least one sequence, and no empty one")
        prompt_ids = self._scored_prompt(prompt, conts)
        if naive:
            totals = np.array([self._token_logprobs([prompt_ids + cont], [len(cont)])[0] for cont in conts])
        else:
            totals = self._score_after(prompt_ids, conts, None, 0)
        return self._normalized(totals, conts, normalize)

    @torch.inference_mode()
    def continuation_logprobs_many(
        self, prompts: list[str], continuations: list[list[str]], normalize: str = "mean"
    ) -> list[np.ndarray]:
        """See LLMBackend; the same numbers as `continuation_logprobs` prompt by prompt. Prompts
        that share a long token prefix (a user's questions after the same history) run it once:
        its KV cache is extended by each prompt's own remaining tokens, and the prompt's
        continuations are scored on that (see `_plan`)."""
        if len(prompts) != len(continuations):
            raise BackendError(f"{len(prompts)} prompts but {len(continuations)} lists of continuations")
        conts = [self.continuation_token_ids(c, normalize) for c in continuations]
        ids = [self._scored_prompt(p, c) for p, c in zip(prompts, conts)]
        totals: list[np.ndarray] = [np.empty(0)] * len(ids)
        groups, singles = self._plan([seq[:-1] for seq in ids])
        for members, shared in groups:
            prefix_cache = self._run_prefix(ids[members[0]][:shared])
            for i in members:
                totals[i] = self._score_after(ids[i], conts[i], prefix_cache, shared)
        for i in singles:
            totals[i] = self._score_after(ids[i], conts[i], None, 0)
        return [self._normalized(t, c, normalize) for t, c in zip(totals, conts)]

    @torch.inference_mode()
    def continuation_logprobs_embeds(self, prefix: torch.Tensor, last_token: int, continuations: list[str],
                                     normalize: str = "mean") -> np.ndarray:
        """As `continuation_logprobs`, for a prompt given as input embeddings `prefix` (P, hidden)
        (soft-prompt tokens spliced among token embeddings) followed by the token id `last_token`:
        the prefix runs once through `inputs_embeds` into a KV cache, and the continuations run
        batched on it, each led by `last_token`, as `_score_after` runs them."""
        conts = self.continuation_token_ids(continuations, normalize)
        longest = prefix.shape[0] + 1 + max(map(len, conts))
        if self.max_positions and longest > self.max_positions:
            raise BackendError(f"prompt and continuation of {longest} positions exceed the model's {self.max_positions}")
        self.counts.prompts += len(conts)
        self.counts.prompt_tokens += sum(prefix.shape[0] + 1 + len(c) for c in conts)
        cache = DynamicCache(config=self.config)
        embeds = prefix.to(device=self.device, dtype=self.model.get_input_embeddings().weight.dtype).unsqueeze(0)
        self.model(inputs_embeds=embeds, past_key_values=cache, use_cache=True, logits_to_keep=1)
        self.counts.computed_tokens += prefix.shape[0]
        totals = np.empty(len(conts), dtype=np.float64)
        for chunk in self._chunks(sorted(range(len(conts)), key=lambda i: len(conts[i]))):
            rows = [[last_token] + conts[i] for i in chunk]
            totals[chunk] = self._token_logprobs(rows, [len(conts[i]) for i in chunk], cache, prefix.shape[0])
        return self._normalized(totals, conts, normalize)

    def _scored_prompt(self, prompt: str, conts: list[list[int]]) -> list[int]:
        """The prompt's tokens, checked against the model's positions, counted as `continuation_
        logprobs` counts them."""
        prompt_ids = self.encode_prompt(prompt)
        if not prompt_ids:
            raise BackendError(f"prompt {prompt!r} encodes to no tokens")
        longest = len(prompt_ids) + max(map(len, conts))
        if self.max_positions and longest > self.max_positions:
            raise BackendError(f"prompt and continuation of {longest} tokens exceed the model's {self.max_positions} positions")
        self.counts.prompts += len(conts)
        self.counts.prompt_tokens += sum(len(prompt_ids) + len(c) for c in conts)
        return prompt_ids

    @staticmethod
    def _normalized(totals: np.ndarray, conts: list[list[int]], normalize: str) -> np.ndarray:
        if normalize == "mean":
            return totals / np.array([len(c) for c in conts], dtype=np.float64)
        return totals

    def _score_after(self, prompt_ids: list[int], conts: list[list[int]], prefix_cache: DynamicCache | None,
                     prefix_len: int) -> np.ndarray:
        """Summed log-probabilities of each continuation after the prompt, whose first
        `prefix_len` tokens `prefix_cache` already holds (none when it is None): the rest of the
        prompt but its last token extends a copy of that cache, then the continuations run
        batched on it, each led by the prompt's last token."""
        shared = len(prompt_ids) - 1
        cache = prefix_cache
        if shared > prefix_len:
            cache = self._extend(prefix_cache, prefix_len, prompt_ids[prefix_len:shared])
        totals = np.empty(len(conts), dtype=np.float64)
        order = sorted(range(len(conts)), key=lambda i: len(conts[i]))
        for chunk in self._chunks(order):
            rows = [prompt_ids[-1:] + conts[i] for i in chunk]
            totals[chunk] = self._token_logprobs(rows, [len(conts[i]) for i in chunk], cache if shared else None, shared)
        return totals

    def _extend(self, prefix_cache: DynamicCache | None, prefix_len: int, tokens: list[int]) -> DynamicCache:
        """A new cache holding the prefix's keys and values followed by `tokens`' (the prefix
        cache itself is left as it is)."""
        if prefix_cache is None:
            return self._run_prefix(tokens)
        input_ids = torch.tensor([tokens], device=self.device)
        mask = torch.ones_like(input_ids)
        positions = torch.arange(len(tokens), device=self.device).unsqueeze(0) + prefix_len
        mask, kwargs = self._on_prefix(mask, prefix_cache, prefix_len)
        self.model(input_ids=input_ids, attention_mask=mask, position_ids=positions, logits_to_keep=1, **kwargs)
        self.counts.computed_tokens += len(tokens)
        return kwargs["past_key_values"]

    def _token_logprobs(
        self, seqs: list[list[int]], scored: list[int], prefix_cache: DynamicCache | None = None, prefix_len: int = 0
    ) -> np.ndarray:
        """For each sequence, the summed log-probabilities of its last `scored` tokens, each given
        everything before it (the prefix cache's tokens first). Rows are right-padded, so row
        position k holds the k-th real token and its logits predict token k + 1."""
        input_ids, mask = self._pad(seqs, "right")
        positions = torch.arange(input_ids.shape[1], device=self.device).expand_as(input_ids) + prefix_len
        mask, kwargs = self._on_prefix(mask, prefix_cache, prefix_len)
        first = min(len(seq) - n for seq, n in zip(seqs, scored)) - 1  # earliest position whose logits count
        if first < 0:
            raise BackendError("the first scored token needs a token before it")
        logits = self.model(input_ids=input_ids, attention_mask=mask, position_ids=positions,
                            logits_to_keep=input_ids.shape[1] - first, **kwargs).logits
        self.counts.computed_tokens += sum(map(len, seqs))
        out = np.empty(len(seqs), dtype=np.float64)
        for r, (seq, n) in enumerate(zip(seqs, scored)):
            start = len(seq) - n  # first scored token; it is predicted at position start - 1
            logp = torch.log_softmax(logits[r, start - 1 - first : len(seq) - 1 - first].double(), dim=-1)
            target = torch.tensor(seq[start:], device=logp.device).unsqueeze(1)
            out[r] = logp.gather(1, target).sum().item()
        return out

    @torch.inference_mode()
    def trie_beam_search(self, prompts: list[str], trie: "PrefixTrie", beam_width: int, k: int,
                         exclude: Sequence[Sequence[int]] | None = None) -> "BeamResult":
        """Exact constrained beam search (benchmark.itemtok.beam) after each prompt: every
        finished sequence is one of the trie's items, scored by its summed log-probability over
        the whole vocabulary; `exclude[i]` lists items prompt i must not return. Prompts run in
        chunks of max(1, batch_size // beam_width), sorted by length: a chunk's prompts run once,
        left-padded, into a KV cache, and each step runs only the live beams' newest tokens on
        that cache, its rows reordered by the search's `state.parents`."""
        from benchmark.itemtok import BeamResult, constrained_beam_search

        seqs = self._encode_all(prompts)
        if exclude is not None and len(exclude) != len(seqs):
            raise BackendError(f"{len(seqs)} prompts but {len(exclude)} exclusion lists")
        per_chunk = max(1, self.batch_size // beam_width)
        order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))
        parts: list[tuple[list[int], BeamResult]] = []
        for start in range(0, len(order), per_chunk):
            chunk = order[start : start + per_chunk]
            found = constrained_beam_search(self._beam_step([seqs[i] for i in chunk]), trie, len(chunk), beam_width, k,
                                            exclude=None if exclude is None else [exclude[i] for i in chunk],
                                            device=self.device)
            parts.append((chunk, found))
        items = np.full((len(seqs), k), -1, dtype=np.int64)
        scores = np.full((len(seqs), k), -np.inf)
        sequences = np.full((len(seqs), k, trie.max_depth), -1, dtype=np.int64)
        for chunk, found in parts:
            items[chunk], scores[chunk], sequences[chunk] = found.items, found.scores, found.sequences
        return BeamResult(items, scores, sequences)

    def _beam_step(self, seqs: list[list[int]]):
        """The step function of `trie_beam_search` for one chunk of prompts (token ids): step 0
        runs the prompts and answers their last position's log-probabilities; step t > 0 keeps
        the cache rows of each row's parent and runs the rows' newest tokens."""
        input_ids, mask = self._pad(seqs, "left")
        positions = (mask.cumsum(dim=1) - 1).clamp(min=0)
        cache = DynamicCache(config=self.config)
        logits = self.model(input_ids=input_ids, attention_mask=mask, position_ids=positions, past_key_values=cache,
                            use_cache=True, logits_to_keep=1).logits[:, -1]
        self.counts.computed_tokens += int(mask.sum())
        first = torch.log_softmax(logits.float(), dim=-1)
        live = {"mask": mask, "next": positions[:, -1] + 1}

        def step(prefixes: torch.Tensor, state) -> torch.Tensor:
            if state.step == 0:
                return first[state.requests]
            parents = state.parents.to(self.device)
            cache.reorder_cache(parents)
            grown = live["mask"][parents]
            live["mask"] = torch.cat([grown, torch.ones_like(grown[:, :1])], dim=1)
            position = live["next"][parents]
            live["next"] = position + 1
            out = self.model(input_ids=prefixes[:, -1:].to(self.device), attention_mask=live["mask"],
                             position_ids=position.unsqueeze(1), past_key_values=cache, use_cache=True,
                             logits_to_keep=1)
            self.counts.computed_tokens += len(prefixes)
            self.counts.generated_tokens += len(prefixes)
            return torch.log_softmax(out.logits[:, -1].float(), dim=-1)

        return step

    @torch.inference_mode()
    def generate(
        self, prompts: list[str], max_new_tokens: int = 32, allowed_continuations: TokenTrie | None = None
    ) -> list[str]:
        seqs = self._encode_all(prompts)
        eos = self.tokenizer.eos_token_id
        if allowed_continuations is not None and eos is None:
            raise BackendError("constrained generation needs a tokenizer with an eos token")
        config = GenerationConfig(
            max_new_tokens=max_new_tokens,
            do_sample=False,
            pad_token_id=self.tokenizer.pad_token_id,
            eos_token_id=eos,
        )
        texts: list[str] = [""] * len(seqs)
        for chunk in self._chunks(sorted(range(len(seqs)), key=lambda i: len(seqs[i]))):
            input_ids, mask = self._pad([seqs[i] for i in chunk], "left")
            width = input_ids.shape[1]
            allowed = None
            if allowed_continuations is not None:
                trie = allowed_continuations

                def allowed(_row: int, ids: torch.Tensor) -> list[int]:
                    tokens, complete = trie.next_tokens(ids[width:].tolist())
                    return tokens + [eos] if complete or not tokens else tokens

            out = self.model.generate(
                input_ids=input_ids,
                attention_mask=mask,
                generation_config=config,
                prefix_allowed_tokens_fn=allowed,
            )
            self.counts.computed_tokens += int(mask.sum())
            for i, row in zip(chunk, out[:, width:].tolist()):
                if eos is not None and eos in row:
                    row = row[: row.index(eos) + 1]
                self.counts.generated_tokens += len(row)
                texts[i] = self.tokenizer.decode(row, skip_special_tokens=True)
        return texts

    @torch.inference_mode()
    def generate_beams(self, prompts: list[str], num_beams: int, max_new_tokens: int = 32) -> list[list[str]]:
        if num_beams < 1:
            raise BackendError(f"num_beams must be at least 1, got {num_beams}")
        seqs = self._encode_all(prompts)
        eos = self.tokenizer.eos_token_id
        config = GenerationConfig(
            max_new_tokens=max_new_tokens, do_sample=False, num_beams=num_beams, num_return_sequences=num_beams,
            pad_token_id=self.tokenizer.pad_token_id, eos_token_id=eos,
        )
        texts: list[list[str]] = [[] for _ in seqs]
        per_batch = max(1, self.batch_size // num_beams)
        order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))
        for start in range(0, len(order), per_batch):
            chunk = order[start : start + per_batch]
            input_ids, mask = self._pad([seqs[i] for i in chunk], "left")
            width = input_ids.shape[1]
            prefill = self._beam_prefill(input_ids, mask, num_beams)
            out = self.model.generate(input_ids=input_ids, attention_mask=mask, generation_config=config, **prefill)
            # without the shared prefill, transformers runs each prompt once per beam
            self.counts.computed_tokens += int(mask.sum()) * (1 if prefill else num_beams)
            rows = out[:, width:].tolist()
            for j, i in enumerate(chunk):
                for row in rows[j * num_beams : (j + 1) * num_beams]:
                    if eos is not None and eos in row:
                        row = row[: row.index(eos) + 1]
                    self.counts.generated_tokens += len(row)
                    texts[i].append(self.tokenizer.decode(row, skip_special_tokens=True).strip())
        return texts

    def _beam_prefill(self, input_ids: torch.Tensor, mask: torch.Tensor, num_beams: int) -> dict:
        """`generate`'s past_key_values for a beam search over left-padded prompts: every prompt but
        its last token run once, the cache then copied for each beam (transformers would run each
        prompt once per beam). The last token is left for `generate`'s first step. Empty where
        the cache is not a plain DynamicCache or a prompt has a single token."""
        if not self.share_prefixes or input_ids.shape[1] < 2:
            return {}
        cache = DynamicCache(config=self.config)
        positions = (mask[:, :-1].cumsum(dim=1) - 1).clamp(min=0)
        self.model(input_ids=input_ids[:, :-1], attention_mask=mask[:, :-1], position_ids=positions,
                   past_key_values=cache, use_cache=True, logits_to_keep=1)
        cache.batch_repeat_interleave(num_beams)
        return {"past_key_values": cache}

    @torch.inference_mode()
    def embed(self, texts: list[str]) -> np.ndarray:
        seqs = self._encode_all(texts)
        decoder = self.model.get_decoder()
        out = np.empty((len(seqs), self.config.hidden_size), dtype=np.float32)
        for chunk in self._chunks(sorted(range(len(seqs)), key=lambda i: len(seqs[i]))):
            input_ids, mask = self._pad([seqs[i] for i in chunk], "right")
            hidden = decoder(input_ids=input_ids, attention_mask=mask, use_cache=False).last_hidden_state
            weights = mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * weights).sum(dim=1) / weights.sum(dim=1)
            out[chunk] = pooled.float().cpu().numpy()
            self.counts.computed_tokens += int(mask.sum())
        return out
