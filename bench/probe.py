"""An activity interceptor that times every activity the bench process's worker runs.

It is installed on the Temporal client: a client interceptor that is also a worker interceptor is
picked up by every worker built on that client, so `worker.build_worker` stays as it is.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from temporalio import activity, client, worker

__all__ = ["ActivityRun", "Probe"]


@dataclass(frozen=True)
class ActivityRun:
    """One activity execution attempt as the worker saw it (perf_counter seconds)."""

    activity_type: str
    workflow_id: str
    started: float
    ended: float
    executions: tuple[str, ...] = ()


@dataclass
class Probe(client.Interceptor, worker.Interceptor):
    """Collects an ActivityRun per attempt; `since(t)` and `count_by_type` read them."""

    runs: list[ActivityRun] = field(default_factory=list)

    def intercept_activity(self, next: worker.ActivityInboundInterceptor) -> worker.ActivityInboundInterceptor:
        return _Timed(next, self)

    def note(self, run: ActivityRun) -> None:
        self.runs.append(run)

    def since(self, start: float, end: float | None = None) -> list[ActivityRun]:
        """Runs that ended in [start, end)."""
        stop = end if end is not None else float("inf")
        return [r for r in self.runs if start <= r.ended < stop]

    def for_workflow(self, workflow_id: str) -> list[ActivityRun]:
        return [r for r in self.runs if r.workflow_id == workflow_id]

    def first_execution_recorded(self, workflow_id: str) -> float | None:
        """When the first record activity carrying an execution of this workflow's order returned (row committed)."""
        for run in self.runs:
            if run.workflow_id == workflow_id and run.executions:
                return run.ended
        return None

    @staticmethod
    def count_by_type(runs: list[ActivityRun]) -> dict[str, int]:
        return dict(Counter(r.activity_type for r in runs).most_common())


class _Timed(worker.ActivityInboundInterceptor):
    def __init__(self, next: worker.ActivityInboundInterceptor, probe: Probe) -> None:
        super().__init__(next)
        self._probe = probe

    async def execute_activity(self, input: worker.ExecuteActivityInput) -> Any:
        info = activity.info()
        started = time.perf_counter()
        try:
            return await super().execute_activity(input)
        finally:
            self._probe.note(ActivityRun(info.activity_type, info.workflow_id or "", started, time.perf_counter(),
                                         _execution_ids(input.args)))


def _execution_ids(args: Any) -> tuple[str, ...]:
    """The execution ids a record_order call writes, or finish_order and submit_order (their `record`, patch
    `fold-records`); empty for every other activity."""
    if not args:
        return ()
    executions = getattr(args[0], "executions", None)
    if executions is None:
        executions = getattr(getattr(args[0], "record", None), "executions", None)
    if not isinstance(executions, list):
        return ()
    return tuple(str(getattr(e, "execution_id", "")) for e in executions)
