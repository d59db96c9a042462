"""`recboard validate`: run a submission on a tiny task and say exactly what is wrong."""

from __future__ import annotations

import traceback
from functools import lru_cache
from pathlib import Path

from benchmark.data import load_dataset
from benchmark.protocol import ProtocolSpec, TaskData, build_task_data
from benchmark.registry import model_keys
from benchmark.runner.run import catalogue_for
from benchmark.submissions import Submission, load_submission
from tasks import ResponseError, make_task

TINY_DATA = {"adapter": "synthetic", "n_users": 150, "n_items": 200, "seed": 7}
TINY_PROTOCOL = {"ctr_test_rows": 300, "ctr_finetune_rows": 1500, "seq_test_users": 40, "seq_valid_users": 40,
                 "seq_finetune_sequences": 400, "latency_sample": 5, "latency_warmup": 1}
TASK_FOR_KIND = {"score": [("ctr", {})], "rank": [("seqrec", {"candidates": "full"}),
                                                  ("seqrec", {"candidates": "sampled-100"})]}


@lru_cache(maxsize=1)
def tiny_task_data() -> dict[str, TaskData]:
    ds = load_dataset(**TINY_DATA, name="validate-tiny")
    return build_task_data(ds, ProtocolSpec.from_overrides(TINY_PROTOCOL), ("ctr", "seqrec"), cache_dir=None)


def run_tiny(sub: Submission) -> list[str]:
    """Problems found by running the submission on tiny tasks (empty when it behaves)."""
    problems: list[str] = []
    meta = sub.model_cls.meta
    for kind in meta.supports:
        if kind not in TASK_FOR_KIND:
            problems.append(f"request kind {kind!r} has no task to validate against yet")
            continue
        for task_name, task_args in TASK_FOR_KIND[kind]:
            task = make_task(task_name, **task_args)
            td = tiny_task_data()[task_name]
            stage = "constructor"
            try:
                model = sub.model_cls(**sub.args)
                stage = "setup()"
                model.setup(catalogue_for(model, td), 0)
                if meta.scheme == "fine-tuned":
                    stage = "fit()"
                    model.fit(task.fit_data(td))
                stage = f"{kind}()"
                requests = task.requests(td)
                responses = getattr(model, kind)(requests)
                stage = "checking responses of " + stage
                task.check(responses, requests, td.n_items)
                one = getattr(model, kind)(requests[:1])
                task.check(one, requests[:1], td.n_items)
            except ResponseError as e:
                problems.append(f"{task.label}: {stage}: {e}")
            except Exception as e:
                tb = traceback.format_exc(limit=-3)
                problems.append(f"{task.label}: {stage} raised {type(e).__name__}: {e}\n{tb}")
    return problems


def validate_submission(folder: str | Path) -> tuple[Submission, list[str]]:
    sub = load_submission(folder, builtin_keys=model_keys())
    if not sub.ok:
        return sub, sub.problems
    return sub, run_tiny(sub)
