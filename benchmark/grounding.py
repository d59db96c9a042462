"""Grounding generated titles in the catalogue (BIGRec, Bao et al. 2023; LLMSeqRec-style): a
generative next-item model writes titles, and this harness-owned resolver maps them to items, so
every generative model is grounded the same way and none can game the mapping.

For one request with generated titles g_1..g_K (best first):
1. exact match: a title equal to an item's title, after case-folding and whitespace collapsing,
   is that item (an ambiguous title, shared by several items, goes to the lowest id);
2. otherwise, the nearest item by cosine similarity of the MiniLM embeddings
   (benchmark.text) of the generated title and of the items' titles.
The grounded items, in the order of the titles that produced them (duplicates kept once), head
the ranking; the list is then filled, up to `depth` items, with the items nearest to the first
title's embedding (BIGRec's L2 grounding of its best generation; on unit vectors L2 and cosine
order the same). The answer is a sparse TopK: items beyond `depth` are unranked, tied below.
Scores: grounded item at position j gets 2 + (K - j) / K, fill items their cosine (≤ 1), so
scores fall along each row. `excluded` items (the user's history) are never returned."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from benchmark.data.dataset import Catalogue
from benchmark.requests import TopK

_SPACE = re.compile(r"\s+")


def normalise_title(text: str) -> str:
    return _SPACE.sub(" ", str(text)).strip().casefold()


@dataclass
class Grounding:
    items: list[int]  # the ranking, best first: grounded items, then fill
    grounded: int  # how many of `items` came from generated titles
    exact: int  # how many generated titles matched an item title exactly


class TitleResolver:
    def __init__(self, catalogue: Catalogue, depth: int = 100):
        from benchmark.text import encode_catalogue

        if depth < 1:
            raise ValueError(f"depth must be at least 1, got {depth}")
        self.depth = min(depth, catalogue.n_items)
        self.by_title: dict[str, int] = {}
        for item, title in enumerate(catalogue.items["title"].tolist()):
            self.by_title.setdefault(normalise_title(title), item)
        self.item_vectors = encode_catalogue(catalogue, fields=("title",))

    def ground_many(self, generations: list[list[str]], excluded: list[tuple[int, ...]]) -> tuple[TopK, list[Grounding]]:
        """One TopK row per request from its generated titles (best first); `excluded[i]` are
        the items request i must not be recommended (its history)."""
        from benchmark.text import encode_texts

        if len(generations) != len(excluded):
            raise ValueError(f"{len(generations)} generations for {len(excluded)} requests")
        flat = [t for titles in generations for t in titles]
        vectors = encode_texts(flat) if flat else np.zeros((0, self.item_vectors.shape[1]), np.float32)
        rows, scores, details, start = [], [], [], 0
        for titles, skip in zip(generations, excluded):
            sims = vectors[start:start + len(titles)] @ self.item_vectors.T
            start += len(titles)
            grounding = self._ground(titles, sims, set(int(i) for i in skip))
            k = len(titles)
            head = [2 + (k - j) / k for j in range(grounding.grounded)]
            tail = [float(sims[0, i]) for i in grounding.items[grounding.grounded:]]
            rows.append(grounding.items)
            scores.append(head + tail)
            details.append(grounding)
        return TopK.from_lists(rows, scores), details

    def _ground(self, titles: list[str], sims: np.ndarray, excluded: set[int]) -> Grounding:
        chosen: list[int] = []
        exact = 0
        for j, title in enumerate(titles):
            item = self.by_title.get(normalise_title(title))
            if item is not None and item not in excluded:
                exact += 1
            else:
                item = next((i for i in _nearest(sims[j], len(excluded) + 1) if i not in excluded), None)
            if item is not None and item not in chosen:
                chosen.append(item)
        grounded = len(chosen)
        if titles:
            taken = set(chosen)
            for i in _nearest(sims[0], self.depth + len(excluded) + len(chosen)):
                if len(chosen) >= self.depth:
                    break
                if i not in excluded and i not in taken:
                    chosen.append(i)
                    taken.add(i)
        return Grounding(chosen[: self.depth], min(grounded, self.depth), exact)


def _nearest(similarities: np.ndarray, m: int) -> list[int]:
    """The m most similar items, most similar first (ties by lower id), without sorting all."""
    m = min(m, similarities.size)
    if m < similarities.size:
        part = np.argpartition(-similarities, m - 1)[:m]
    else:
        part = np.arange(similarities.size)
    return [int(i) for i in part[np.lexsort((part, -similarities[part]))]]
