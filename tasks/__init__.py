"""Tasks: one module per task."""

from tasks.base import Evaluation, ResponseError, Task
from tasks.ctr import CTRTask
from tasks.seqrec import SeqRecTask
from tasks.uqa import UQATask

TASKS = {"ctr": CTRTask, "seqrec": SeqRecTask, "uqa": UQATask}


def make_task(name: str, **args) -> Task:
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; known: {sorted(TASKS)}")
    try:
        return TASKS[name](**args)
    except TypeError as e:
        raise ValueError(f"task {name!r}: bad arguments {args}: {e}") from None


__all__ = ["TASKS", "CTRTask", "Evaluation", "ResponseError", "SeqRecTask", "Task", "UQATask", "make_task"]
