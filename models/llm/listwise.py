"""Next-item ranking with a text LLM, shared by the zero-shot and the fine-tuned text models: the
task's next-item prompt (tasks/prompts/seqrec_next_item.j2) lists the history's titles, and each
candidate is scored by the LLM's log-likelihood of its title as the answer, teacher-forced right
after the prompt and divided by the title's token count (`normalize="mean"`, the default), so
that long titles are not penalised for their length. Exact: every candidate is scored, none is
generated or sampled; the engine runs the prompt once per request and the candidates batched on
its KV cache (`LLMBackend.continuation_logprobs`).

The answer is the title exactly as `continuation_logprobs` scores it: tokenize(title) appended to
encode_prompt(prompt), the prompt ending with the template's answer_prefix. Fine-tuning trains on
the same tokens (`title_target`), so training and ranking see one boundary."""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from benchmark.api import ModelError, SeqFitData, candidate_matrix
from benchmark.llm import LLMBackend
from benchmark.prompts import PromptError, PromptTemplate
from benchmark.requests import RankRequest

TASK = "seqrec"


def next_item_prompt(template: PromptTemplate, apply_chat: Callable[[str], str], titles: Sequence[str],
                     history: Sequence[int], max_history: int) -> str:
    """The exact text after which a next item's title is scored: the template rendered with the
    last `max_history` history titles (oldest first; none when max_history is 0), wrapped as the
    template's `chat` says, then its answer_prefix."""
    shown = list(history[-max_history:]) if max_history else []
    try:
        message = template.render(history=[titles[i] for i in shown])
    except PromptError as e:
        raise ModelError(str(e)) from None
    return template.full_prompt(message, apply_chat)


def candidate_titles(requests: list[RankRequest], titles: Sequence[str]) -> list[str] | list[list[str]]:
    """What `rank_by_title_loglik` scores for these requests: the whole catalogue's titles when
    the requests rank the whole catalogue (column j is item j), else each request's candidates'
    titles in the request's order."""
    candidates = candidate_matrix(requests)
    if candidates is None:
        return list(titles)
    return [[titles[i] for i in row] for row in candidates.tolist()]


def rank_by_title_loglik(
    engine: LLMBackend,
    prompts: list[str],
    candidate_titles: Sequence[str] | Sequence[Sequence[str]],
    *,
    normalize: str = "mean",
    desc: str = "rank",
) -> np.ndarray:
    """Scores of shape (len(prompts), n_candidates): each candidate title's log-likelihood after
    its prompt (see the module docstring). `candidate_titles` is one list of titles shared by
    every prompt (the whole catalogue) or one list per prompt, all of one length. A title that
    occurs twice in a list is scored once."""
    shared = bool(candidate_titles) and isinstance(candidate_titles[0], str)
    lists = [candidate_titles] * len(prompts) if shared else list(candidate_titles)
    if len(lists) != len(prompts):
        raise ModelError(f"{len(prompts)} prompts but {len(lists)} lists of candidate titles")
    widths = {len(t) for t in lists}
    if len(widths) > 1:
        raise ModelError(f"every prompt needs the same number of candidates, got {sorted(widths)}")
    width = widths.pop() if widths else 0
    scores = np.empty((len(prompts), width), dtype=np.float64)
    if width == 0:
        return scores
    unique = inverse = None
    for row, (prompt, titles) in enumerate(zip(tqdm(prompts, desc=desc, disable=None, leave=False), lists)):
        if unique is None or not shared:
            unique, inverse = np.unique(np.asarray(titles, dtype=object).astype(str), return_inverse=True)
        scores[row] = engine.continuation_logprobs(prompt, unique.tolist(), normalize)[inverse]
    return scores


def title_target(engine: LLMBackend, prompt: str, title: str) -> tuple[list[int], list[int]]:
    """A next-item training example as (input ids, labels): the prompt's tokens followed by the
    title's, exactly the tokens `rank_by_title_loglik` scores, with the prompt's labels -100 so
    that the loss counts the title's tokens only."""
    prompt_ids, title_ids = engine.encode_prompt(prompt), engine.tokenize(title)
    if not title_ids:
        raise ModelError(f"title {title!r} encodes to no tokens")
    return prompt_ids + title_ids, [-100] * len(prompt_ids) + title_ids


def answer_loss(engine: LLMBackend, prompts: dict[int, str], answers: dict[int, str]) -> Callable[[list[int]], torch.Tensor]:
    """The training loss of text answers after prompts (next-item titles, QA options): for a batch
    of example indices, the mean over them of the mean cross-entropy of each answer's tokens after
    its prompt, on exactly the tokens `rank_by_title_loglik` scores (`title_target`)."""
    from models.llm.lora import continuation_loss

    pairs = {i: title_target(engine, prompts[i], answers[i]) for i in prompts}
    pad = int(engine.tokenizer.pad_token_id)

    def batch_loss(idx: list[int]) -> torch.Tensor:
        seqs = [pairs[i][0] for i in idx]
        scored = [sum(1 for t in pairs[i][1] if t != -100) for i in idx]
        return continuation_loss(engine.model, pad, seqs, scored).cpu()

    return batch_loss


def valid_candidates(data: SeqFitData, n_items: int, users: int, n_candidates: int,
                     seed: int) -> list[tuple[tuple[int, ...], list[int]]]:
    """Validation requests for early stopping on sampled candidates: up to `users` of
    `data.valid` (a seeded draw, in their order), each as (history, candidates), the target
    first and then n_candidates - 1 items drawn uniformly from those outside the user's seen
    items; a user with too few such items is skipped."""
    rng = np.random.default_rng([seed, 2])
    take = rng.permutation(len(data.valid))[:users]
    out = []
    for i in sorted(take.tolist()):
        target = int(data.valid_targets[i])
        banned = set(data.valid_seen[i]) | set(data.valid[i].history) | {target}
        allowed = np.setdiff1d(np.arange(n_items), np.fromiter(banned, dtype=np.int64))
        if len(allowed) < n_candidates - 1:
            continue
        negatives = rng.choice(allowed, n_candidates - 1, replace=False)
        out.append((tuple(data.valid[i].history), [target] + [int(j) for j in negatives]))
    return out
