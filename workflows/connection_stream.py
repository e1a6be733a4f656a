"""The trade-updates stream of the connection supervisor: start, restart with backoff, stop (a mixin)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError
from temporalio.workflow import ActivityCancellationType

with workflow.unsafe.imports_passed_through():
    from activities.connection_activities import ConnectionActivities
    from activities.connection_models import (
        StreamInput,
        StreamPosition,
        SupervisorConfig,
    )

    from . import connection_state as rules
    from .connection_state import SupervisorState

__all__ = ["StreamSupervision"]


class StreamSupervision:
    """Run the stream activity while the connection is authenticated; keep its position in the state."""

    state: SupervisorState
    config: SupervisorConfig
    stream_task: asyncio.Task[None] | None
    wake: bool

    def _ensure_stream(self) -> None:
        state = self.state
        if not self.config.stream_enabled or self.stream_task is not None or state.paused:
            return
        if not state.authenticated or state.shutdown_reason is not None:
            return
        if state.next_stream_at is not None and workflow.now() < state.next_stream_at:
            return
        self.stream_task = asyncio.create_task(self._stream())

    async def _stream(self) -> None:
        request = StreamInput(connection_id=self.state.connection_id, position=self.state.stream,
                              heartbeat_seconds=min(self.config.position_signal_seconds,
                                                    self.config.stream_heartbeat_seconds / 3),
                              reconcile_margin_seconds=self.config.reconcile_margin_seconds,
                              reconcile_every_seconds=self.config.reconcile_seconds)
        try:
            position: StreamPosition = await workflow.execute_activity_method(
                ConnectionActivities.stream_trade_updates, request, summary="trade stream",
                start_to_close_timeout=timedelta(days=3650),
                heartbeat_timeout=timedelta(seconds=self.config.stream_heartbeat_seconds),
                retry_policy=RetryPolicy(maximum_attempts=3, initial_interval=timedelta(seconds=1),
                                         non_retryable_error_types=["ConnectionNotFound"]),
                cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
            )
            self._adopt_position(position)
        except (ActivityError, asyncio.CancelledError) as err:
            if not self._stream_cancelled(err):
                self._stream_failed(err)
        finally:
            self.stream_task = None
            self.wake = True

    def _stream_cancelled(self, err: BaseException) -> bool:
        if isinstance(err, asyncio.CancelledError):
            return True
        return type(getattr(err, "cause", None)).__name__ == "CancelledError"

    def _stream_failed(self, err: BaseException) -> None:
        state = self.state
        state.stream_failures += 1
        state.metrics.stream_restarts += 1
        state.stream_error = str(getattr(err, "cause", None) or err)
        delay = rules.backoff_seconds(state.stream_failures, self.config, workflow.random().random())
        state.next_stream_at = workflow.now() + timedelta(seconds=delay)

    async def _stop_stream(self) -> None:
        task = self.stream_task
        if task is None:
            return
        task.cancel()
        await workflow.wait_condition(lambda: self.stream_task is None)

    def _adopt_position(self, position: StreamPosition) -> None:
        if position.revision >= self.state.stream.revision:
            self.state.stream = position
        if self.state.stream_error is not None:
            self.state.stream_error, self.state.stream_failures, self.state.next_stream_at = None, 0, None
