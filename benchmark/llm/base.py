"""The interface every LLM engine implements, plus what the engines share: token bookkeeping,
the tokenizer-side helpers and the token trie that constrains generation."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass
from typing import Any, Sequence

import numpy as np

from benchmark.api import ModelError


class BackendError(ModelError):
    """An LLM backend cannot be built or cannot run as asked."""


@dataclass
class TokenCounts:
    """Running totals for efficiency reporting. `prompt_tokens` counts every prompt token handed
    in; `computed_tokens` counts those the engine actually ran (fewer when prefixes are shared)."""

    prompts: int = 0
    prompt_tokens: int = 0
    computed_tokens: int = 0
    generated_tokens: int = 0

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


class TokenTrie:
    """Allowed continuations for constrained generation: token-id sequences, and the texts they
    were made from (engines that constrain by text, such as vLLM, need those)."""

    _END = -1

    def __init__(self, sequences: Sequence[Sequence[int]], texts: Sequence[str] | None = None):
        if not sequences:
            raise ValueError("a TokenTrie needs at least one sequence")
        if texts is not None and len(texts) != len(sequences):
            raise ValueError(f"{len(texts)} texts for {len(sequences)} sequences")
        self.texts = tuple(texts) if texts is not None else None
        self._root: dict[int, dict] = {}
        for seq in sequences:
            if not seq:
                raise ValueError("a TokenTrie sequence must not be empty")
            node = self._root
            for token in seq:
                node = node.setdefault(int(token), {})
            node[self._END] = {}

    def next_tokens(self, prefix: Sequence[int]) -> tuple[list[int], bool]:
        """The tokens that may follow `prefix`, and whether `prefix` is itself a whole entry.
        A prefix that left the trie gets ([], False)."""
        node = self._root
        for token in prefix:
            node = node.get(int(token))
            if node is None:
                return [], False
        return [t for t in node if t != self._END], self._END in node


def log_softmax_rows(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    shifted = x - x.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


class LLMBackend(ABC):
    """One LLM engine behind one interface. Subclasses set `name` and `self.tokenizer` (a
    transformers tokenizer) and implement the abstract methods; every method takes a whole list
    and batches internally."""

    name: str = ""
    tokenizer: Any

    def __init__(self) -> None:
        self.counts = TokenCounts()

    @abstractmethod
    def choice_logprobs(self, prompts: list[str], choices: list[str]) -> np.ndarray:
        """Shape (len(prompts), len(choices)): the log-softmax, over the choices only, of the
        next-token logits of each choice's first token at the prompt's final position (RecBench
        eq. 6; for two choices, exp of column 0 is e^l0 / (e^l0 + e^l1)). Choices should start
        with distinct single tokens; see `choice_token_ids`."""

    @abstractmethod
    def generate(
        self, prompts: list[str], max_new_tokens: int = 32, allowed_continuations: TokenTrie | None = None
    ) -> list[str]:
        """Greedy continuations of each prompt, decoded without special tokens. With a trie, each
        continuation is one of its entries (or a prefix of one, when max_new_tokens runs out)."""

    def generate_beams(self, prompts: list[str], num_beams: int, max_new_tokens: int = 32) -> list[list[str]]:
        """Beam search per prompt: the `num_beams` finished beams' texts, most likely first (each
        beam's summed token log-probability, as the engine's beam search ranks them)."""
        raise BackendError(f"the {self.name!r} engine has no beam search")

    @abstractmethod
    def embed(self, texts: list[str]) -> np.ndarray:
        """Shape (len(texts), hidden): the last hidden state, mean-pooled over the text's tokens."""

    @abstractmethod
    def continuation_logprobs(self, prompt: str, continuations: list[str], normalize: str = "mean") -> np.ndarray:
        """Shape (len(continuations),): each continuation's log-likelihood after `prompt`,
        teacher-forced on its own tokens: the sum over its tokens of log p(token | prompt and the
        continuation's earlier tokens), divided by its token count when `normalize` is "mean"
        (the default, length-normalised) and left whole when it is "sum". The scored tokens are
        exactly tokenize(continuation) appended after encode_prompt(prompt), so the boundary is
        the caller's: pass " Title" for a title that follows a space. Empty continuations (no
        tokens) are refused with BackendError."""

    def sequence_logprobs(self, prompt: str, sequences: Sequence[Sequence[int]], normalize: str = "sum") -> np.ndarray:
        """Shape (len(sequences),): `continuation_logprobs` of token-id sequences given as ids
        (item tokens an LLM's vocabulary was extended with), each right after
        encode_prompt(prompt)."""
        raise BackendError(f"the {self.name!r} engine cannot score token-id sequences")

    def trie_beam_search(self, prompts: list[str], trie: Any, beam_width: int, k: int,
                         exclude: Sequence[Sequence[int]] | None = None) -> Any:
        """Exact constrained beam search after each prompt over the items of a
        benchmark.itemtok.PrefixTrie of token ids: a BeamResult, per prompt its best k items
        (none of `exclude[i]`) with their summed log-probabilities."""
        raise BackendError(f"the {self.name!r} engine has no exact trie-constrained beam search")

    def continuation_logprobs_many(
        self, prompts: list[str], continuations: list[list[str]], normalize: str = "mean"
    ) -> list[np.ndarray]:
        """`continuation_logprobs` for each prompt and its own list of continuations."""
        if len(prompts) != len(continuations):
            raise BackendError(f"{len(prompts)} prompts but {len(continuations)} lists of continuations")
        return [self.continuation_logprobs(p, c, normalize) for p, c in zip(prompts, continuations)]

    def continuation_token_ids(self, continuations: list[str], normalize: str) -> list[list[int]]:
        """The tokens each continuation scores (see `continuation_logprobs`), checked."""
        if normalize not in ("sum", "mean"):
            raise BackendError(f"normalize must be 'sum' or 'mean', got {normalize!r}")
        if not continuations:
            raise BackendError("continuation_logprobs needs at least one continuation")
        seqs = []
        for c in continuations:
            ids = self.tokenize(c)
            if not ids:
                raise BackendError(f"continuation {c!r} encodes to no tokens")
            seqs.append(ids)
        return seqs

    @abstractmethod
    def num_parameters(self) -> int:
        """All parameters, adapter included."""

    def tokenize(self, text: str) -> list[int]:
        """Token ids of `text` alone, without special tokens."""
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def encode_prompt(self, prompt: str) -> list[int]:
        """Token ids the engine runs for `prompt`. The tokenizer's special tokens are added
        unless the text already starts with the BOS token, as chat-template output may."""
        bos = self.tokenizer.bos_token
        add_special = not (bos and prompt.startswith(bos))
        return list(self.tokenizer(prompt, add_special_tokens=add_special)["input_ids"])

    def count_tokens(self, texts: list[str]) -> list[int]:
        return [len(self.encode_prompt(t)) for t in texts]

    def apply_chat(self, user_message: str) -> str:
        """`user_message` as one user turn followed by the assistant's cue, in the tokenizer's
        chat template; the message unchanged when the tokenizer has none."""
        if not getattr(self.tokenizer, "chat_template", None):
            return user_message
        return self.tokenizer.apply_chat_template(
            [{"role": "user", "content": user_message}], tokenize=False, add_generation_prompt=True
        )

    def choice_token_ids(self, choices: list[str]) -> list[int]:
        """The first token of each choice; they must differ, or eq. 6 cannot tell them apart."""
        if len(choices) < 2:
            raise BackendError(f"choice_logprobs needs at least two choices, got {choices!r}")
        firsts = []
        for c in choices:
            ids = self.tokenize(c)
            if not ids:
                raise BackendError(f"choice {c!r} encodes to no tokens")
            firsts.append(ids[0])
        if len(set(firsts)) != len(firsts):
            raise BackendError(f"choices {choices!r} share a first token ({firsts}); pick choices that start differently")
        return firsts

    def build_trie(self, texts: Sequence[str]) -> TokenTrie:
        return TokenTrie([self.tokenize(t) for t in texts], texts)

    def reset_caches(self) -> None:
        """Forget every cache that outlives a call (prefix/KV caches), so the next call runs cold.
        The HF engine shares prefixes only within one call, so it keeps nothing to forget."""

    def reset_counts(self) -> None:
        self.counts = TokenCounts()
