"""The reference: a minimal workflow running as many activities as our order path, each doing nothing.

It answers the same `wait_for_ack` update-with-start once the activity at the submission's position has
returned, so its latencies and ours are taken the same way.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel
from temporalio import activity, workflow

__all__ = ["BaselineInput", "BaselineStep", "BaselineWorkflow", "noop"]


class BaselineInput(BaseModel):
    """How many activities to run, after which one the update answers."""

    activities: int
    ack_after: int


class BaselineStep(BaseModel):
    index: int


@activity.defn(name="bench_noop")
async def noop(step: BaselineStep) -> int:
    """Do nothing: the cost measured is Temporal's alone."""
    return step.index


@workflow.defn(name="BenchBaselineWorkflow")
class BaselineWorkflow:
    @workflow.init
    def __init__(self, request: BaselineInput) -> None:
        self.done = 0
        self.ack_after = request.ack_after  # set before the update-with-start's handler first runs

    @workflow.run
    async def run(self, request: BaselineInput) -> int:
        for index in range(request.activities):
            await workflow.execute_activity(noop, BaselineStep(index=index),
                                            start_to_close_timeout=timedelta(seconds=30))
            self.done += 1
        return self.done

    @workflow.update
    async def wait_for_ack(self) -> int:
        await workflow.wait_condition(lambda: self.done >= self.ack_after)
        return self.done
