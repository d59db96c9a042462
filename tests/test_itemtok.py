"""Item tokenizers (benchmark/itemtok): codes and their inverse for every kind, the report's
figures on hand-worked cases, the on-disk cache, the CSR prefix trie and the exact constrained
beam search (checked against brute-force enumeration of every item's log-likelihood)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers_models import make_catalogue

from benchmark.itemtok import (
    KINDS,
    BeamState,
    ItemCodes,
    PrefixTrie,
    TokenizerConfig,
    beam_search,
    collisions,
    constrained_beam_search,
    disambiguate,
    item_codes,
    utilisation,
)
from benchmark.itemtok import build as build_module
from benchmark.requests import TopK

SMALL = {"levels": 2, "codebook_size": 8}
SMALL_VAE = {**SMALL, "epochs": 5, "batch_size": 16, "hidden": [32], "latent_dim": 8}


def clustered(n: int, dim: int = 16, clusters: int = 5, seed: int = 0) -> np.ndarray:
    """Unit vectors around a few random centres, as text embeddings are."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, dim))
    x = centres[rng.integers(clusters, size=n)] + 0.3 * rng.normal(size=(n, dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("RECBOARD_CACHE", str(tmp_path / "cache"))


def config_of(kind: str) -> dict:
    return {"kind": kind, **({"sid-rqvae": SMALL_VAE, "sid-rqkmeans": SMALL}.get(kind, {}))}


# --- tokenizers --------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_every_item_round_trips_through_its_codes(kind):
    catalogue = make_catalogue(120)
    codes = item_codes(catalogue, config_of(kind), embeddings=clustered(120))
    assert codes.kind == kind and codes.n_items == 120
    for item in range(120):
        code = codes.codes[item, : codes.lengths[item]]
        assert codes.item_of(code) == item
        assert len(codes.token_strings(item)) == codes.lengths[item]
    rows = {tuple(r[:n]) for r, n in zip(codes.codes.tolist(), codes.lengths.tolist())}
    assert len(rows) == 120  # unique after disambiguation
    with pytest.raises(ValueError, match="no item has the code"):
        codes.item_of([999])


def test_token_strings_per_kind():
    catalogue = make_catalogue(120)
    unique = item_codes(catalogue, "unique-id")
    assert unique.token_strings(7) == ["<item_7>"] and unique.new_tokens()[:2] == ["<item_0>", "<item_1>"]
    assert len(unique.new_tokens()) == 120 and unique.level_sizes == (120,)
    number = item_codes(catalogue, "number-id")
    assert number.token_strings(7) == ["7"] and number.token_strings(105) == ["1", "0", "5"]
    assert number.item_text(105) == "105" and number.new_tokens() == [] and number.lengths[[7, 42, 105]].tolist() == [1, 2, 3]
    assert number.codes[7].tolist() == [7, -1, -1]
    sid = item_codes(catalogue, config_of("sid-rqkmeans"), embeddings=clustered(120))
    a, b, c = sid.token_strings(3)
    assert a.startswith("<a_") and b.startswith("<b_") and c == f"<c_{sid.codes[3, 2]}>"
    assert len(sid.new_tokens()) == sid.vocab_size == sum(sid.level_sizes) == 8 + 8 + sid.level_sizes[2]
    assert sid.new_tokens()[8] == "<b_0>"
    np.testing.assert_array_equal(sid.token_ids()[:, 1], sid.codes[:, 1] + 8)
    with pytest.raises(ValueError, match="item 120 is outside the catalogue 0..119"):
        sid.token_strings(120)
    # as an LLM sees them once its tokenizer has added new_tokens() at ids 5000, 5001, ...
    llm = sid.vocabulary_ids(np.arange(sid.vocab_size) + 5000)
    np.testing.assert_array_equal(llm, sid.token_ids() + 5000)
    with pytest.raises(ValueError, match="number IDs add no tokens"):
        number.vocabulary_ids([])
    with pytest.raises(ValueError, match=r"need one id >= 0 per new token \(120\)"):
        unique.vocabulary_ids([1, 2])


def test_hand_worked_report_figures():
    codes = np.array([[0, 1], [0, 2], [1, 1], [0, 1]])
    assert utilisation(codes, [4, 3]) == [0.5, 2 / 3]
    assert utilisation(np.array([[0, -1], [2, 1]]), [4, 2]) == [0.5, 0.5]  # padding ignored
    assert collisions(codes) == {"collision_rate": 0.5, "distinct_codes": 3, "max_collision_group": 2}
    extended, size = disambiguate(codes)
    assert extended.tolist() == [[0, 1, 0], [0, 2, 0], [1, 1, 0], [0, 1, 1]] and size == 2
    assert disambiguate(np.array([[3], [4]]))[1] == 1


def test_duplicate_items_are_told_apart_by_the_extra_level():
    x = clustered(60)
    x[10] = x[11] = x[12] = x[5]  # four identical texts
    codes = item_codes(make_catalogue(60), config_of("sid-rqkmeans"), embeddings=x)
    report = codes.report
    assert report["max_collision_group"] >= 4 and report["collision_rate"] >= 4 / 60
    assert codes.level_sizes[-1] == report["max_collision_group"]
    assert sorted(codes.codes[[5, 10, 11, 12], -1].tolist()) == [0, 1, 2, 3]
    assert len({tuple(r) for r in codes.codes.tolist()}) == 60


@pytest.mark.parametrize("kind", ["sid-rqkmeans", "sid-rqvae"])
def test_semantic_report_is_sane(kind):
    codes = item_codes(make_catalogue(120), config_of(kind), embeddings=clustered(120))
    r = codes.report
    assert r["n_items"] == 120 and r["code_length"] == 3 and r["level_sizes"] == list(codes.level_sizes)
    assert r["codebook_size"] == r["codebook_size_requested"] == 8
    assert len(r["utilisation"]) == 3 and all(0 < u <= 1 for u in r["utilisation"])
    assert 0 <= r["collision_rate"] <= 1 and 1 <= r["max_collision_group"] <= 120
    assert r["input_variance"] > 0 and r["reconstruction_mse"] >= 0
    assert r["reconstruction_rel"] == pytest.approx(r["reconstruction_mse"] / r["input_variance"])
    assert r["reconstruction_rel"] < 1
    assert codes.to_dict()["report"] == r and codes.to_dict()["config"]["kind"] == kind


def test_rqkmeans_reconstruction_improves_with_every_level():
    x = clustered(200, clusters=8)
    errors = [item_codes(make_catalogue(200), {"kind": "sid-rqkmeans", "levels": levels, "codebook_size": 8},
                         embeddings=x).report["reconstruction_mse"] for levels in (1, 2, 3)]
    assert errors[0] > errors[1] > errors[2]


def test_codebooks_shrink_to_a_small_catalogue():
    codes = item_codes(make_catalogue(10), "sid-rqkmeans", embeddings=clustered(10))
    assert codes.report["codebook_size_requested"] == 256 and codes.report["codebook_size"] == 10
    assert codes.level_sizes[:4] == (10,) * 4 and codes.report["collision_rate"] == 0
    assert codes.report["reconstruction_rel"] < 1e-9  # ten codes for ten items: exact


def test_a_cache_hit_returns_identical_codes(monkeypatch, tmp_path):
    catalogue, x = make_catalogue(80), clustered(80)
    first = item_codes(catalogue, config_of("sid-rqvae"), embeddings=x)
    assert len(list((tmp_path / "cache" / "itemtok").glob("*.npz"))) == 1

    def no_rebuild(*args, **kwargs):
        raise AssertionError("rebuilt despite a cache entry")

    monkeypatch.setattr(build_module, "_semantic_ids", no_rebuild)
    again = item_codes(catalogue, config_of("sid-rqvae"), embeddings=x)
    np.testing.assert_array_equal(again.codes, first.codes)
    assert again.report == first.report and again.config == first.config and again.level_sizes == first.level_sizes
    with pytest.raises(AssertionError, match="rebuilt"):  # another seed is another entry
        item_codes(catalogue, {**config_of("sid-rqvae"), "seed": 1}, embeddings=x)


def test_deterministic_given_a_seed():
    catalogue, x = make_catalogue(80), clustered(80)
    runs = [item_codes(catalogue, {**config_of(kind), "seed": seed}, embeddings=x, use_cache=False).codes
            for kind in ("sid-rqvae", "sid-rqkmeans") for seed in (0, 0, 1)]
    assert np.array_equal(runs[0], runs[1]) and not np.array_equal(runs[0], runs[2])
    assert np.array_equal(runs[3], runs[4])


def test_default_path_encodes_the_catalogue_text():
    codes = item_codes(make_catalogue(40), {"kind": "sid-rqkmeans", "levels": 3, "codebook_size": 6})
    assert codes.codes.shape == (40, 4) and codes.report["reconstruction_rel"] < 1


@pytest.mark.parametrize(("config", "message"), [
    ("sid-magic", r"kind must be one of \['unique-id', 'number-id', 'sid-rqvae', 'sid-rqkmeans'\]"),
    ({"kind": "sid-rqkmeans", "levels": 0}, "levels must be an integer in 1..25, got 0"),
    ({"kind": "sid-rqkmeans", "codebook_size": 1}, "codebook_size must be an integer >= 2, got 1"),
    ({"kind": "sid-rqvae", "lr": -1.0}, "lr must be a finite number > 0, got -1.0"),
    ({"kind": "sid-rqvae", "hidden": [64, 0]}, r"hidden must be a list of positive integers, got \(64, 0\)"),
    ({"kind": "sid-rqvae", "levls": 3}, r"unknown settings \['levls'\]"),
    ({"levels": 3}, "has no 'kind'"),
    (3, "a kind name, a dict or a TokenizerConfig, got int"),
])
def test_bad_config_is_a_clear_value_error(config, message):
    with pytest.raises(ValueError, match=message):
        TokenizerConfig.parse(config)


def test_bad_inputs_are_clear_value_errors():
    with pytest.raises(ValueError, match=r"embeddings must be a finite \(10, d\) array.*got shape \(9, 4\)"):
        item_codes(make_catalogue(10), "sid-rqkmeans", embeddings=np.ones((9, 4)))
    with pytest.raises(ValueError, match="has no items"):
        item_codes(make_catalogue(0), "unique-id")
    with pytest.raises(ValueError, match="codes must lie in 0..level_size-1"):
        ItemCodes("unique-id", np.array([[0], [2]]), np.array([1, 1]), (2,))


def test_config_records_only_what_its_kind_uses():
    assert TokenizerConfig("unique-id").to_dict() == {"kind": "unique-id"}
    assert TokenizerConfig("sid-rqkmeans").to_dict() == {"kind": "sid-rqkmeans", "levels": 4, "codebook_size": 256,
                                                         "seed": 0}
    assert TokenizerConfig("sid-rqvae").to_dict()["hidden"] == [512, 256, 128]


# --- the prefix trie ---------------------------------------------------------------------------


def test_trie_layout_on_a_hand_worked_case():
    trie = PrefixTrie.build(np.array([[2, 1], [0, 3], [2, 0], [0, 1]]))
    # breadth first: root, then 0 and 2, then (0,1) (0,3) (2,0) (2,1)
    assert trie.offsets.tolist() == [0, 2, 4, 6, 6, 6, 6, 6]
    assert trie.child_token.tolist() == [0, 2, 1, 3, 0, 1] and trie.child_node.tolist() == [1, 2, 3, 4, 5, 6]
    assert trie.node_item.tolist() == [-1, -1, -1, 3, 1, 2, 0] and trie.vocab_size == 4
    seqs, items = trie.sequences()
    assert seqs.tolist() == [[0, 1], [0, 3], [2, 0], [2, 1]] and items.tolist() == [3, 1, 2, 0]
    states = torch.tensor([0, 1, 2, 3, -1])
    assert trie.allowed(states, 5).tolist() == [
        [True, False, True, False, False], [False, True, False, True, False], [True, True, False, False, False],
        [False] * 5, [False] * 5]
    mask = trie.additive_mask(torch.tensor([1]), 4)
    assert mask.tolist() == [[float("-inf"), 0.0, float("-inf"), 0.0]]
    assert trie.advance(torch.tensor([0, 0, 1, 2, -1, 0]), torch.tensor([2, 1, 3, 0, 0, 9])).tolist() == [2, -1, 4, 5, -1, -1]
    assert trie.item_at(trie.walk(torch.tensor([[2, 0], [0, 3], [0, 2]]))).tolist() == [2, 1, -1]


def test_trie_with_ragged_sequences_and_an_end_token():
    with pytest.raises(ValueError, match=r"item 0's sequence \[1\] is a prefix of another item's; pass end_token"):
        PrefixTrie.from_lists([[1], [1, 2], [3]])
    trie = PrefixTrie.from_lists([[1], [1, 2], [3]], items=[7, 8, 9], end_token=0)
    assert trie.n_sequences == 3 and trie.max_depth == 3
    walk = trie.walk(torch.tensor([[1, 0, -1], [1, 2, 0], [3, 0, -1]])[:, :2])
    assert trie.item_at(walk).tolist() == [7, -1, 9]
    assert trie.item_at(trie.advance(walk, torch.tensor([5, 0, 5]))).tolist() == [-1, 8, -1]


def test_trie_refuses_bad_input():
    with pytest.raises(ValueError, match=r"items 4 and 5 have the same sequence \[1, 1\]"):
        PrefixTrie.build(np.array([[0, 1], [1, 1], [1, 1]]), items=np.array([3, 4, 5]))
    with pytest.raises(ValueError, match="non-empty"):
        PrefixTrie.build(np.zeros((0, 3), dtype=np.int64))
    with pytest.raises(ValueError, match="integer token ids"):
        PrefixTrie.build(np.array([[0.5]]))
    with pytest.raises(ValueError, match="token ids must be >= 0"):
        PrefixTrie.build(np.array([[0, -2]]))
    with pytest.raises(ValueError, match="lengths must lie in 1..2"):
        PrefixTrie.build(np.array([[0, 1]]), lengths=np.array([3]))
    with pytest.raises(ValueError, match="beyond a vocabulary of 3"):
        PrefixTrie.build(np.array([[0, 5]])).allowed(torch.tensor([0]), 3)


def test_trie_of_random_codes_matches_its_input():
    rng = np.random.default_rng(0)
    codes = np.unique(rng.integers(0, 7, size=(500, 4)), axis=0)
    perm = rng.permutation(len(codes))
    trie = PrefixTrie.build(codes[perm])
    seqs, items = trie.sequences()
    np.testing.assert_array_equal(seqs, codes)  # np.unique sorted them as the trie does
    np.testing.assert_array_equal(perm[items], np.arange(len(codes)))
    assert trie.n_nodes == 1 + sum(len(np.unique(codes[:, :d], axis=0)) for d in range(1, 5))


# --- beam search -------------------------------------------------------------------------------


class RandomLM:
    """A small random autoregressive model in float64: next-token log-probs from the request and
    the prefix (each row's answer independent of the batch it comes in)."""

    def __init__(self, n_requests: int, vocab: int, seed: int = 0):
        g = torch.Generator().manual_seed(seed)
        self.user = torch.randn(n_requests, 16, generator=g, dtype=torch.float64)
        self.tokens = torch.randn(vocab + 1, 16, generator=g, dtype=torch.float64)
        self.position = torch.randn(8, 16, generator=g, dtype=torch.float64)
        self.out = torch.randn(16, vocab, generator=g, dtype=torch.float64) * 2
        self.calls = 0

    def __call__(self, prefixes: torch.Tensor, state: BeamState) -> torch.Tensor:
        self.calls += 1
        h = self.user[state.requests] + self.position[prefixes.shape[1]]
        for t in range(prefixes.shape[1]):
            h = torch.tanh(h + self.tokens[prefixes[:, t]] * (t + 1))
        return torch.log_softmax(h @ self.out, dim=1)

    def sequence_logprob(self, request: int, seq: list[int]) -> float:
        total = 0.0
        for t in range(len(seq)):
            state = BeamState(t, torch.tensor([request]), None)
            total += float(self(torch.tensor([seq[:t]], dtype=torch.int64).reshape(1, t), state)[0, seq[t]])
        return total


def brute_force(lm: RandomLM, seqs: list[list[int]], request: int, k: int, skip=()) -> tuple[list[int], list[float]]:
    scores = np.array([lm.sequence_logprob(request, s) if i not in skip else -np.inf for i, s in enumerate(seqs)])
    order = np.argsort(-scores, kind="stable")[:k]
    return order.tolist(), scores[order].tolist()


def random_catalogue(n: int = 40, vocab: int = 6, depth: int = 3, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    codes = np.unique(rng.integers(0, vocab, size=(4 * n, depth)), axis=0)
    return codes[rng.permutation(len(codes))[:n]]


def test_wide_beam_equals_brute_force_enumeration():
    codes = random_catalogue()
    trie = PrefixTrie.build(codes)
    lm = RandomLM(n_requests=5, vocab=6)
    result = constrained_beam_search(lm, trie, n_requests=5, beam_width=40, k=10)
    for r in range(5):
        items, scores = brute_force(lm, codes.tolist(), r, 10)
        assert result.items[r].tolist() == items
        np.testing.assert_allclose(result.scores[r], scores, rtol=0, atol=1e-9)
        np.testing.assert_array_equal(result.sequences[r], codes[items])
    top = result.topk()
    assert isinstance(top, TopK) and top.items.shape == (5, 10)


def test_ragged_codes_with_an_end_token_equal_brute_force():
    seqs = [[1], [1, 2], [3], [3, 1, 1], [2, 2], [0, 4, 4], [4]]
    trie = PrefixTrie.from_lists(seqs, end_token=5)
    lm = RandomLM(n_requests=3, vocab=6, seed=3)
    result = constrained_beam_search(lm, trie, n_requests=3, beam_width=7, k=7)
    for r in range(3):
        items, scores = brute_force(lm, [s + [5] for s in seqs], r, 7)
        assert result.items[r].tolist() == items
        np.testing.assert_allclose(result.scores[r], scores, rtol=0, atol=1e-9)


def test_every_generated_sequence_is_a_real_item_even_with_a_narrow_beam():
    codes = random_catalogue(n=150, vocab=9, depth=3, seed=2)
    trie = PrefixTrie.build(codes)
    result = constrained_beam_search(RandomLM(20, 9, seed=5), trie, n_requests=20, beam_width=4, k=4)
    assert (result.items >= 0).all()  # valid-item rate 100%
    np.testing.assert_array_equal(result.sequences, codes[result.items])
    assert (np.diff(result.scores, axis=1) <= 0).all()
    assert all(len(set(row)) == 4 for row in result.items.tolist())


def test_excluded_items_never_come_back():
    codes = random_catalogue()
    trie = PrefixTrie.build(codes)
    lm = RandomLM(3, 6)
    wide = constrained_beam_search(lm, trie, 3, beam_width=40, k=10)
    exclude = [wide.items[0, :3].tolist(), [], wide.items[2, [0, 5]].tolist()]
    result = constrained_beam_search(lm, trie, 3, beam_width=40, k=10, exclude=exclude)
    for r in range(3):
        items, scores = brute_force(lm, codes.tolist(), r, 10, skip=set(exclude[r]))
        assert result.items[r].tolist() == items and not set(items) & set(exclude[r])
        np.testing.assert_allclose(result.scores[r], scores, rtol=0, atol=1e-9)
    # ids outside the catalogue exclude nothing (and never another request's item)
    beyond = [[len(codes) + int(wide.items[1, 0]), -1], [], []]
    np.testing.assert_array_equal(constrained_beam_search(lm, trie, 3, 40, 10, exclude=beyond).items, wide.items)


def test_parents_let_a_step_function_keep_a_cache():
    codes = random_catalogue()
    lm = RandomLM(4, 6)

    def cached(prefixes, state):
        if state.parents is None:
            assert prefixes.shape == (4, 0) and state.requests.tolist() == [0, 1, 2, 3]
        else:
            previous_prefixes, previous_requests = state.cache
            assert torch.equal(previous_prefixes[state.parents], prefixes[:, :-1])
            assert torch.equal(previous_requests[state.parents], state.requests)
        state.cache = (prefixes, state.requests)
        return lm(prefixes, state)

    a = constrained_beam_search(cached, PrefixTrie.build(codes), 4, beam_width=5, k=3)
    b = constrained_beam_search(lm, PrefixTrie.build(codes), 4, beam_width=5, k=3)
    np.testing.assert_array_equal(a.items, b.items)


def test_unconstrained_search_is_the_same_engine_without_the_trie():
    lm = RandomLM(2, 6)
    free = beam_search(lm, 2, beam_width=6, k=6, length=3)
    assert free.sequences.shape == (2, 6, 3) and (free.items == -1).all() and np.isfinite(free.scores).all()
    # with every sequence of length 3 allowed, the constrained search finds the same ones
    everything = np.array(np.meshgrid(*[np.arange(6)] * 3, indexing="ij")).reshape(3, -1).T
    same = constrained_beam_search(lm, PrefixTrie.build(everything), 2, beam_width=6, k=6)
    np.testing.assert_array_equal(same.sequences, free.sequences)
    np.testing.assert_allclose(same.scores, free.scores, atol=1e-12)
    with pytest.raises(ValueError, match="names no items"):
        free.topk()


def test_beam_search_refuses_bad_input():
    trie = PrefixTrie.build(random_catalogue())
    lm = RandomLM(2, 6)
    with pytest.raises(ValueError, match=r"k \(5\) must not exceed beam_width \(4\)"):
        constrained_beam_search(lm, trie, 2, beam_width=4, k=5)
    with pytest.raises(ValueError, match="beam_width must be a positive integer, got 0"):
        constrained_beam_search(lm, trie, 2, beam_width=0, k=1)
    with pytest.raises(ValueError, match="exclude has 1 lists for 2 requests"):
        constrained_beam_search(lm, trie, 2, beam_width=4, k=2, exclude=[[1]])
    with pytest.raises(ValueError, match=r"step_fn must return a \(rows, vocab\) tensor for 2 rows"):
        constrained_beam_search(lambda p, s: torch.zeros(3, 6), trie, 2, beam_width=4, k=2)
    with pytest.raises(ValueError, match="beyond the step function's vocabulary of 4"):
        constrained_beam_search(lambda p, s: torch.zeros(len(s.requests), 4), trie, 2, beam_width=4, k=2)
    with pytest.raises(ValueError, match="trie must be a PrefixTrie"):
        constrained_beam_search(lm, [[1, 2]], 2, beam_width=4, k=2)
    assert constrained_beam_search(lm, trie, 0, beam_width=4, k=2).items.shape == (0, 2)


def test_logits_processor_constrains_hf_generate():
    from transformers import GPT2Config, GPT2LMHeadModel, LogitsProcessorList

    from benchmark.itemtok.hf import TrieLogitsProcessor

    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=20, n_positions=32, n_embd=16, n_layer=1, n_head=2)).eval()
    seqs = [[3, 4, 5], [3, 6], [7, 8, 9], [10]]
    trie = PrefixTrie.from_lists(seqs)
    prompt = torch.tensor([[1, 2, 1], [2, 2, 1]])
    processor = TrieLogitsProcessor(trie, prompt_length=3, eos_token_id=0)
    out = model.generate(prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=4, num_beams=3,
                         num_return_sequences=3, logits_processor=LogitsProcessorList([processor]),
                         eos_token_id=0, pad_token_id=0, do_sample=False)
    for row in out[:, 3:].tolist():
        assert row[: row.index(0)] in seqs if 0 in row else row in seqs
    with pytest.raises(ValueError, match="eos_token_id 3 is also a trie token"):
        TrieLogitsProcessor(trie, 3, eos_token_id=3)


def test_prefixes_whose_items_are_all_excluded_are_never_entered():
    """A narrow beam does not waste its slots on paths that can only end in excluded items: with
    every item under the best first token excluded, a beam of 1 still finds an item."""
    seqs = [[0, 0], [0, 1], [1, 0], [1, 1], [2, 0]]
    trie = PrefixTrie.from_lists(seqs)
    assert trie.subtree_items[0] == 5 and trie.subtree_items[trie.advance(torch.tensor([0]), torch.tensor([0]))].item() == 2
    assert trie.emptied_nodes([0]).tolist() == [trie.item_node[0]]
    first = trie.advance(torch.tensor([0]), torch.tensor([0])).item()
    assert trie.emptied_nodes([0, 1, 9, -1]).tolist() == sorted([first, trie.item_node[0], trie.item_node[1]])

    def prefers_zeros(prefixes, state):
        return torch.log_softmax(torch.tensor([[3.0, 0.0, -1.0]]).expand(len(prefixes), 3), dim=-1)

    result = constrained_beam_search(prefers_zeros, trie, 2, beam_width=1, k=1, exclude=[[0, 1], [0]])
    assert result.items.tolist() == [[2], [1]]
