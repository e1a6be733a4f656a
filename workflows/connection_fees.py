"""The supervisor's fee sweep: fees a broker charges after an order's workflow has finished.

Alpaca, for one, posts SEC and FINRA TAF fees at the end of the day; each is added to its order once.
A mixin of ConnectionSupervisorWorkflow (workflow code: deterministic only).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.connection_activities import ConnectionActivities
    from activities.connection_models import FeeSweepInput, FeeSweepResult, SupervisorConfig

    from .connection_state import SupervisorState

__all__ = ["FeeSweep"]

_FEW = RetryPolicy(maximum_attempts=3, initial_interval=timedelta(seconds=1))


class FeeSweep:
    """Every `fee_sweep_seconds`, record fees of closed orders that arrived after their workflow ended."""

    state: SupervisorState
    config: SupervisorConfig

    async def _run(self, fn: Any, arg: Any, summary: str, retry: RetryPolicy, timeout: float = 30.0) -> Any:
        raise NotImplementedError

    def _fee_sweep_due(self) -> bool:
        due = self.state.next_fee_sweep_at
        return due is None or workflow.now() >= due

    async def _sweep_fees(self) -> None:
        state = self.state
        state.next_fee_sweep_at = workflow.now() + timedelta(seconds=self.config.fee_sweep_seconds)
        request = FeeSweepInput(connection_id=state.connection_id, since=state.fee_sweep_since or
                                state.stream.last_event_at, lookback_hours=self.config.fee_lookback_hours)
        try:
            result: FeeSweepResult = await self._run(ConnectionActivities.sweep_fees, request, "sweep fees", _FEW,
                                                     timeout=60.0)
        except ActivityError as err:
            workflow.logger.warning("fee sweep failed: %s", err.cause)
            return
        state.fees_swept += result.recorded
        if result.next_since is not None:
            state.fee_sweep_since = result.next_since
