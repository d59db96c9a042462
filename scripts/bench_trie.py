"""The constrained-decoding benchmark of issue 7:

1. building the PrefixTrie of 1,000,000 random 4-level codes (256 codes per level, token ids
   level-offset into one vocabulary of 1,024): wall time and peak memory (tracemalloc's peak of
   the allocations made during the build, which numpy reports to it, and the process's peak
   resident set growth); targets < 10 s and < 1 GB;
2. decoding with that trie at beam width 20 against decoding without it, on the same engine
   (benchmark.itemtok.beam) and the same step function in the same run: a small TIGER-like
   transformer decoder (2 layers, width 128, 4 heads) that cross-attends to a 20-token encoded
   history per request, which a step recomputes from the prefix (no KV cache) as TIGER's rank
   does. Rounds alternate between the two modes; the table gives the median time per request
   over the rounds; target: constrained costs at most 20% more.

    OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 python scripts/bench_trie.py
    python scripts/bench_trie.py --items 200000 --requests 64 --rounds 3 --device cuda
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmark.itemtok import PrefixTrie, beam_search, constrained_beam_search  # noqa: E402

LEVELS, CODES = 4, 256


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def build_benchmark(n_items: int, seed: int) -> tuple[PrefixTrie, dict[str, float]]:
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, CODES, size=(n_items, LEVELS)) + np.arange(LEVELS) * CODES
    # random codes may repeat (about n^2 / 2 / 256^4 pairs); keep the first of each, as a catalogue would
    _, first = np.unique(codes, axis=0, return_index=True)
    codes = codes[np.sort(first)]
    rss_before = peak_rss_mb()
    tracemalloc.start()
    start = time.perf_counter()
    trie = PrefixTrie.build(codes)
    seconds = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return trie, {"items": len(codes), "nodes": trie.n_nodes, "build_s": seconds, "peak_traced_mb": peak / 2**20,
                  "peak_rss_growth_mb": max(peak_rss_mb() - rss_before, 0.0), "trie_mb": trie.nbytes / 2**20}


class Decoder(nn.Module):
    """TIGER's decoder shape: token + position embeddings, causal self-attention, cross-attention
    to the request's encoded history, a linear head over the code vocabulary."""

    def __init__(self, vocab: int, width: int = 128, layers: int = 2, heads: int = 4, depth: int = LEVELS):
        super().__init__()
        self.bos = vocab
        self.tokens = nn.Embedding(vocab + 1, width)
        self.positions = nn.Embedding(depth + 1, width)
        layer = nn.TransformerDecoderLayer(width, heads, 4 * width, dropout=0.0, batch_first=True)
        self.decoder = nn.TransformerDecoder(layer, layers)
        self.head = nn.Linear(width, vocab)

    def step_fn(self, memory: torch.Tensor):
        def step(prefixes: torch.Tensor, state) -> torch.Tensor:
            bos = torch.full((len(prefixes), 1), self.bos, dtype=torch.int64, device=prefixes.device)
            x = torch.cat([bos, prefixes], dim=1)
            h = self.tokens(x) + self.positions.weight[: x.shape[1]]
            causal = nn.Transformer.generate_square_subsequent_mask(x.shape[1], device=x.device)
            out = self.decoder(h, memory[state.requests], tgt_mask=causal)
            return torch.log_softmax(self.head(out[:, -1]), dim=-1)
        return step


def decode_benchmark(trie: PrefixTrie, n_requests: int, beam: int, rounds: int, device: str, seed: int,
                     ) -> dict[str, float]:
    torch.manual_seed(seed)
    vocab = LEVELS * CODES
    model = Decoder(vocab).to(device).eval()
    memory = torch.randn(n_requests, 20, 128, device=device)
    step = model.step_fn(memory)
    times: dict[str, list[float]] = {"unconstrained": [], "constrained": []}
    valid = 0.0
    with torch.no_grad():
        constrained_beam_search(step, trie, 2, beam, beam, device=device)  # warm-up, tensors on device
        beam_search(step, 2, beam, beam, LEVELS, device=device)
        for _ in range(rounds):
            for mode in times:
                if device.startswith("cuda"):
                    torch.cuda.synchronize()
                start = time.perf_counter()
                if mode == "constrained":
                    result = constrained_beam_search(step, trie, n_requests, beam, beam, device=device)
                    valid = float((result.items >= 0).mean())
                else:
                    beam_search(step, n_requests, beam, beam, LEVELS, device=device)
                if device.startswith("cuda"):
                    torch.cuda.synchronize()
                times[mode].append((time.perf_counter() - start) / n_requests * 1000)
    free, constrained = (float(np.median(times[m])) for m in ("unconstrained", "constrained"))
    return {"unconstrained_ms": free, "constrained_ms": constrained, "overhead": constrained / free - 1,
            "valid_item_rate": valid}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=64, help="requests decoded per round (one batch)")
    parser.add_argument("--beam", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    trie, built = build_benchmark(args.items, args.seed)
    print(f"trie of {built['items']:,} random {LEVELS}x{CODES} codes: {built['nodes']:,} nodes, "
          f"{built['trie_mb']:.1f} MB of arrays")
    print(f"| build_s | peak traced MB | peak RSS growth MB | target |\n|---|---|---|---|\n"
          f"| {built['build_s']:.2f} | {built['peak_traced_mb']:.0f} | {built['peak_rss_growth_mb']:.0f} "
          f"| < 10 s, < 1024 MB |")
    dec = decode_benchmark(trie, args.requests, args.beam, args.rounds, args.device, args.seed)
    print(f"\nbeam {args.beam}, top-{args.beam}, {args.requests} requests per batch, {args.rounds} rounds, "
          f"device {args.device}, torch threads {torch.get_num_threads()}")
    print(f"| decoding | ms / request (median) |\n|---|---|\n| unconstrained | {dec['unconstrained_ms']:.2f} |\n"
          f"| constrained | {dec['constrained_ms']:.2f} |\n"
          f"| overhead | {100 * dec['overhead']:+.1f}% (target <= +20%) |\n"
          f"| valid-item rate (constrained) | {100 * dec['valid_item_rate']:.1f}% |")


if __name__ == "__main__":
    main()
