"""The embedded default dataset: a synthetic product catalogue and interaction log.

Everything is a deterministic function of `SyntheticParams`. Two independent random streams are
spawned from `numpy.random.SeedSequence(seed)`: the first builds the world (catalogue and latent
parameters), the second samples the log, so `SyntheticWorld.from_params` rebuilds exactly the world
a log was drawn from.

World (C = n_categories, the first C categories of `synthetic_vocab.CATEGORIES`; B = the brands of
the product groups those categories belong to, six per group; drawn in this order):

* Items. Categories are dealt round-robin over the items and shuffled, so each category holds
  n_items / C items (±1). An item's brand is drawn uniformly from its category's group brands.
  Its popularity is Zipfian: the items get a random permutation of ranks 1..n_items and
  pop(i) ∝ rank(i) ** -zipf_exponent.
* Complements. T[k, ·] is uniform over the complements of category k that are among the C
  categories (a directed graph: cameras → camera lenses → tripods → camera bags → …); a category
  with none left has an all-zero row.
* Global category popularity g ~ Dirichlet(2, …, 2).
* Users (persistent preferences):
    category preference π_u = (1 − category_exploration) · Dirichlet(category_concentration · C · g)
                              + category_exploration · g
    brand preference     β_u = (1 − brand_loyalty) / B + brand_loyalty · Dirichlet(brand_concentration, …)
* Text. title = "<brand> <kind> <noun> <model code>", e.g. "Nikora full-frame mirrorless camera
  NI-240"; category = the category name ("cameras"); brand = the brand; description =
  "<brand> <kind> <noun> with <feature> and <feature>. <use sentence>". Kind, features and use are
  drawn uniformly from the category's vocabulary (the two features distinct), the model code is the
  brand's first two letters and a number in 10..999.

Next-item distribution of user u whose last interaction is item l (category k = cat(l)):

    P(c | u, l) = p_stay · [c = k]                                        stay in the category
                + p_complement · T[k, c]                                  move to a complement
                + (1 − p_stay − p_complement + p_complement · [T[k] = 0]) · π_u[c]   long-term taste
    P(c | u, no history) = π_u[c]
    P(i | u, c) = [cat(i) = c] · β_u[brand(i)] · pop(i) / Σ_{j: cat(j) = c} β_u[brand(j)] · pop(j)
    q(i | u, l) = P(cat(i) | u, l) · P(i | u, cat(i))

Items already in the history are never drawn again: the next item is drawn from q restricted to the
unseen items and renormalised, p(i | u, H) = q(i | u, last(H)) · [i ∉ H] / Σ_{j ∉ H} q(j | u, last(H))
(the same as redrawing from q until an unseen item comes up). Every item has positive q because
category_exploration > 0 and brand_loyalty < 1.

Log: each user u gets L_u = min(n_items, min_interactions + G_u − 1) interactions with
G_u ~ Geometric(1 / (mean_interactions − min_interactions + 1)), so the mean is about
mean_interactions. Items are drawn one step at a time by p(· | u, H) above. Timestamps (int64
seconds) start at start_time + Uniform{0, …, 365 days − 1} per user and advance by
1 + ⌊Exponential(mean_gap_seconds)⌋ per interaction, so they strictly increase per user. Users are
0..n_users−1 and the interactions are ordered by user, then time.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from benchmark.data.dataset import TEXT_FIELDS, DataError, Dataset
from benchmark.data.synthetic_vocab import CATEGORIES, GROUP_BRANDS

_USER_CHUNK = 2048  # users sampled together; fixed so the log does not depend on memory limits
_YEAR_SECONDS = 365 * 86_400


@dataclass(frozen=True)
class SyntheticParams:
    seed: int = 0
    n_users: int = 2000
    n_items: int = 1000
    n_categories: int = len(CATEGORIES)
    mean_interactions: float = 30.0
    min_interactions: int = 5
    p_stay: float = 0.5
    p_complement: float = 0.3
    category_concentration: float = 0.1
    category_exploration: float = 0.05
    brand_concentration: float = 0.3
    brand_loyalty: float = 0.8
    zipf_exponent: float = 1.0
    start_time: int = 1_577_836_800
    mean_gap_seconds: float = 86_400.0

    def __post_init__(self) -> None:
        checks = [
            (self.seed >= 0, "seed must be non-negative"),
            (self.n_users >= 1, "n_users must be at least 1"),
            (1 <= self.n_categories <= len(CATEGORIES), f"n_categories must be in 1..{len(CATEGORIES)}"),
            (self.n_items >= self.n_categories, "n_items must be at least n_categories"),
            (self.min_interactions >= 1, "min_interactions must be at least 1"),
            (self.mean_interactions >= self.min_interactions, "mean_interactions must be >= min_interactions"),
            (0 <= self.p_stay and 0 <= self.p_complement and self.p_stay + self.p_complement <= 1,
             "p_stay and p_complement must be non-negative with p_stay + p_complement <= 1"),
            (self.category_concentration > 0, "category_concentration must be positive"),
            (0 < self.category_exploration <= 1, "category_exploration must be in (0, 1]"),
            (self.brand_concentration > 0, "brand_concentration must be positive"),
            (0 <= self.brand_loyalty < 1, "brand_loyalty must be in [0, 1)"),
            (self.zipf_exponent >= 0, "zipf_exponent must be non-negative"),
            (self.mean_gap_seconds > 0, "mean_gap_seconds must be positive"),
        ]
        errors = [msg for ok, msg in checks if not ok]
        if errors:
            raise DataError("invalid synthetic parameters: " + "; ".join(errors))

    @classmethod
    def from_dict(cls, params: dict[str, Any]) -> SyntheticParams:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(params) - known)
        if unknown:
            raise DataError(f"unknown synthetic parameters {unknown}; expected some of {sorted(known)}")
        return cls(**params)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class SyntheticWorld:
    """The latent side of the synthetic data: catalogue, preferences, complements, popularity."""

    def __init__(self, params: SyntheticParams):
        self.params = p = params
        rng = np.random.default_rng(np.random.SeedSequence(p.seed).spawn(2)[0])
        specs = CATEGORIES[: p.n_categories]
        groups = list(dict.fromkeys(s.group for s in specs))
        self.category_names = tuple(s.name for s in specs)
        self.brand_names = tuple(b for g in groups for b in GROUP_BRANDS[g])
        n_cat, n_brands = len(specs), len(self.brand_names)
        group_sizes = [len(GROUP_BRANDS[g]) for g in groups]
        group_first = dict(zip(groups, np.cumsum([0, *group_sizes[:-1]])))

        self.item_category = rng.permutation(np.arange(p.n_items) % n_cat)
        group_start = np.array([group_first[s.group] for s in specs])
        group_size = np.array([len(GROUP_BRANDS[s.group]) for s in specs])
        cat = self.item_category
        self.item_brand = group_start[cat] + rng.integers(0, group_size[cat])
        pop = (rng.permutation(p.n_items) + 1.0) ** -p.zipf_exponent
        self.item_popularity = pop / pop.sum()

        index = {name: k for k, name in enumerate(self.category_names)}
        self.complement = np.zeros((n_cat, n_cat))
        for k, s in enumerate(specs):
            targets = [index[c] for c in s.complements if c in index]
            if targets:
                self.complement[k, targets] = 1.0 / len(targets)
        self._no_complement = (self.complement.sum(axis=1) == 0).astype(np.float64)

        self.category_popularity = rng.dirichlet(np.full(n_cat, 2.0))
        g = self.category_popularity
        personal = rng.dirichlet(p.category_concentration * n_cat * g, size=p.n_users)
        self.user_category_pref = (1 - p.category_exploration) * personal + p.category_exploration * g
        loyal = rng.dirichlet(np.full(n_brands, p.brand_concentration), size=p.n_users)
        self.user_brand_pref = (1 - p.brand_loyalty) / n_brands + p.brand_loyalty * loyal
        brand_category_mass = np.zeros((n_brands, n_cat))
        np.add.at(brand_category_mass, (self.item_brand, cat), self.item_popularity)
        self._category_norm = self.user_brand_pref @ brand_category_mass  # Σ_{j in c} β_u[brand j] pop j

        self.items = self._item_text(rng, specs)

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> SyntheticWorld:
        return cls(SyntheticParams.from_dict(params))

    @property
    def n_items(self) -> int:
        return self.params.n_items

    @property
    def n_users(self) -> int:
        return self.params.n_users

    def _item_text(self, rng: np.random.Generator, specs: tuple) -> pd.DataFrame:
        n = self.params.n_items
        kind_r, use_r, code_r = rng.random(n), rng.random(n), rng.integers(10, 1000, size=n)
        feat_r = rng.random((n, 2))
        rows = []
        for i in range(n):
            s = specs[self.item_category[i]]
            brand = self.brand_names[self.item_brand[i]]
            kind = s.kinds[int(kind_r[i] * len(s.kinds))]
            f1 = int(feat_r[i, 0] * len(s.features))
            f2 = (f1 + 1 + int(feat_r[i, 1] * (len(s.features) - 1))) % len(s.features)
            title = f"{brand} {kind} {s.noun} {brand[:2].upper()}-{code_r[i]}"
            description = (f"{brand} {kind} {s.noun} with {s.features[f1]} and {s.features[f2]}. "
                           f"{s.uses[int(use_r[i] * len(s.uses))]}")
            rows.append((title, s.name, brand, description))
        return pd.DataFrame(rows, columns=list(TEXT_FIELDS))

    def _category_probs(self, users: np.ndarray, last: np.ndarray) -> np.ndarray:
        """P(c | u, l) for each (user, last item) pair; last = -1 means no history."""
        p = self.params
        pref = self.user_category_pref[users]
        has_last = last >= 0
        k = self.item_category[np.where(has_last, last, 0)]
        step = p.p_complement * self.complement[k]
        step += (1 - p.p_stay - p.p_complement + p.p_complement * self._no_complement[k])[:, None] * pref
        step[np.arange(len(k)), k] += p.p_stay
        return np.where(has_last[:, None], step, pref)

    def _within_category(self, users: np.ndarray) -> np.ndarray:
        """P(i | u, cat(i)), shape (len(users), n_items)."""
        norm = self._category_norm[users][:, self.item_category]
        return self.user_brand_pref[users][:, self.item_brand] * self.item_popularity / norm

    def next_item_probs(self, users: np.ndarray, histories: list[tuple[int, ...]]) -> np.ndarray:
        """p(i | u, H) for each user and history (oldest first): the last item drives the step and
        the items of H get probability 0. A row is all zero only when H covers the catalogue."""
        users = np.asarray(users, dtype=np.int64)
        if users.ndim != 1 or len(users) != len(histories):
            raise ValueError(f"expected one history per user, got {users.shape} users and {len(histories)} histories")
        if len(users) and (users.min() < 0 or users.max() >= self.n_users):
            raise ValueError(f"user ids must be in 0..{self.n_users - 1}")
        lengths = np.fromiter((len(h) for h in histories), dtype=np.int64, count=len(histories))
        seen = np.fromiter((i for h in histories for i in h), dtype=np.int64, count=int(lengths.sum()))
        if len(seen) and (seen.min() < 0 or seen.max() >= self.n_items):
            raise ValueError(f"history item ids must be in 0..{self.n_items - 1}")
        last = np.full(len(users), -1, dtype=np.int64)
        nonempty = lengths > 0
        last[nonempty] = seen[np.cumsum(lengths)[nonempty] - 1]
        probs = self._category_probs(users, last)[:, self.item_category] * self._within_category(users)
        probs[np.repeat(np.arange(len(users)), lengths), seen] = 0.0
        total = probs.sum(axis=1, keepdims=True)
        return np.divide(probs, total, out=np.zeros_like(probs), where=total > 0)

    def sample_log(self) -> pd.DataFrame:
        """The interaction log: columns user, item, timestamp (int64), ordered by user then time."""
        p = self.params
        rng = np.random.default_rng(np.random.SeedSequence(p.seed).spawn(2)[1])
        extra = rng.geometric(1.0 / (p.mean_interactions - p.min_interactions + 1), size=p.n_users) - 1
        lengths = np.minimum(p.min_interactions + extra, p.n_items)
        starts = p.start_time + rng.integers(0, _YEAR_SECONDS, size=p.n_users)
        sequences = np.zeros((p.n_users, int(lengths.max())), dtype=np.int64)
        for lo in range(0, p.n_users, _USER_CHUNK):
            users = np.arange(lo, min(lo + _USER_CHUNK, p.n_users))
            sequences[users] = self._sample_chunk(users, lengths[users], sequences.shape[1], rng)
        user = np.repeat(np.arange(p.n_users), lengths)
        item = sequences[np.arange(sequences.shape[1]) < lengths[:, None]]
        gaps = 1 + np.floor(rng.exponential(p.mean_gap_seconds, size=len(user))).astype(np.int64)
        first = np.cumsum(lengths) - lengths
        elapsed = np.cumsum(gaps)
        elapsed -= np.repeat(elapsed[first] - gaps[first], lengths)
        timestamp = np.repeat(starts, lengths) + elapsed
        return pd.DataFrame({"user": user, "item": item, "timestamp": timestamp})

    def _sample_chunk(self, users: np.ndarray, lengths: np.ndarray, width: int,
                      rng: np.random.Generator) -> np.ndarray:
        order = np.argsort(-lengths, kind="stable")  # active users at step t are a prefix
        users, lengths = users[order], lengths[order]
        out = np.zeros((len(users), width), dtype=np.int64)
        within_unseen = self._within_category(users)  # seen items are zeroed as they are drawn
        last = np.full(len(users), -1, dtype=np.int64)
        for t in range(int(lengths.max())):
            m = int(np.count_nonzero(lengths > t))
            weights = self._category_probs(users[:m], last[:m])[:, self.item_category]
            weights *= within_unseen[:m]
            cumulative = np.cumsum(weights, axis=1, out=weights)
            total = cumulative[:, -1]
            target = np.minimum(rng.random(m) * total, np.nextafter(total, 0))
            chosen = np.argmax(cumulative > target[:, None], axis=1)
            out[:m, t] = chosen
            within_unseen[np.arange(m), chosen] = 0.0
            last[:m] = chosen
        result = np.empty_like(out)
        result[order] = out
        return result


def generate(name: str = "synthetic", **params: Any) -> Dataset:
    """The synthetic Dataset for `params` (see SyntheticParams for names and defaults)."""
    world = SyntheticWorld.from_params(params)
    return Dataset(
        name=name,
        interactions=world.sample_log(),
        items=world.items,
        source={"adapter": "synthetic", "params": world.params.to_dict()},
        n_users=world.n_users,
    )
