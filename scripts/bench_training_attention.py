"""Eager against SDPA attention in a LoRA training step of the embedded LLM on CPU (the choice
models/llm/lora.py's `training_forward` makes): rows of random tokens, left-padded to the
batch's width as the trainers pad them (a quarter of the rows have up to a quarter of the width
as padding, with the attention mask and position ids that go with it), LoRA on q_proj/v_proj,
the LM loss over every position, forward + backward + AdamW step; the median time per step over
`--steps` after two warm-up steps, both kernels in the same run, alternating by round.

    python scripts/bench_training_attention.py --widths 60 120 250 --dtype bfloat16
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from peft import LoraConfig, get_peft_model

from benchmark.llm import DEFAULT_MODEL, load_backend


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--widths", type=int, nargs="+", default=[60, 120, 250])
    ap.add_argument("--rows", type=int, default=8)
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--rank", type=int, default=128)
    ap.add_argument("--dtype", default="bfloat16")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    base = load_backend("hf", model_path=DEFAULT_MODEL, dtype=a.dtype).model
    model = get_peft_model(base, LoraConfig(r=a.rank, lora_alpha=a.rank, lora_dropout=0.05,
                                            target_modules=["q_proj", "v_proj"]))
    model.train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    vocab = base.config.vocab_size

    def step(ids: torch.Tensor, mask: torch.Tensor) -> None:
        opt.zero_grad(set_to_none=True)
        positions = (mask.cumsum(dim=1) - 1).clamp(min=0)
        logits = model(input_ids=ids, attention_mask=mask, position_ids=positions).logits.float()
        torch.nn.functional.cross_entropy(logits[:, :-1].transpose(1, 2), ids[:, 1:]).backward()
        opt.step()

    print(f"{'width':>6} {'sdpa s/step':>12} {'eager s/step':>13} {'eager/sdpa':>11}")
    for width in a.widths:
        ids = torch.randint(0, vocab, (a.rows, width))
        mask = torch.ones_like(ids)
        for r in range(0, a.rows, 4):
            mask[r, : int(torch.randint(1, width // 4 + 1, ()))] = 0
        times: dict[str, list[float]] = {"sdpa": [], "eager": []}
        for _ in range(a.rounds):
            for impl in ("sdpa", "eager"):
                base.set_attn_implementation(impl)
                step(ids, mask), step(ids, mask)
                for _ in range(a.steps):
                    t = time.perf_counter()
                    step(ids, mask)
                    times[impl].append(time.perf_counter() - t)
        sdpa, eager = statistics.median(times["sdpa"]), statistics.median(times["eager"])
        print(f"{width:>6} {sdpa:>12.3f} {eager:>13.3f} {eager / sdpa:>11.2f}", flush=True)
    base.set_attn_implementation("sdpa")


if __name__ == "__main__":
    main()
