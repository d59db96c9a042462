"""Protocol recboard-v1: task data from a Dataset (see build.py for the rules)."""

from benchmark.protocol.spec import CANDIDATE_MODES, PROTOCOL_NAME, ProtocolError, ProtocolSpec, stable_hash
from benchmark.protocol.taskdata import TaskData, build_task_data

__all__ = ["CANDIDATE_MODES", "PROTOCOL_NAME", "ProtocolError", "ProtocolSpec", "TaskData",
           "build_task_data", "stable_hash"]
