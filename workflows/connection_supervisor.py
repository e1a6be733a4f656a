"""ConnectionSupervisorWorkflow: one per broker connection; keeps it authenticated, healthy and streaming.

Loop: (re)connect with backoff when needed, refresh tokens before they expire, keep sessions alive,
check health on a schedule, record every verdict on the connection entity (the order activities read
it: FAILED opens the breaker), raise and clear alerts, and run the trade-updates stream as a long
heartbeating activity whose position comes back by signal and is carried across continue-as-new.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.connection_activities import ConnectionActivities
    from activities.connection_models import (
        AlertInput,
        CheckInput,
        CheckResult,
        ConnectInput,
        ConnectionHealth,
        ConnectResult,
        PauseRequest,
        ReconnectRequest,
        RecordStatusInput,
        RecordStatusResult,
        ResumeRequest,
        ShutdownRequest,
        StreamPosition,
    )
    from domain.broker_integration import ConnectionStatus
    from starter.search_attributes import CONNECTION_ID, CONNECTION_STATUS

    from . import connection_state as rules
    from .connection_accounts import AccountSync
    from .connection_fees import FeeSweep
    from .connection_state import SupervisorInput, SupervisorState
    from .connection_stream import StreamSupervision
    from .connection_upkeep import SessionUpkeep

__all__ = ["ConnectionSupervisorWorkflow", "connection_workflow_id"]

C = ConnectionStatus
_ONCE = RetryPolicy(maximum_attempts=1)
_FEW = RetryPolicy(maximum_attempts=3, initial_interval=timedelta(seconds=1))
_DB = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30))


def connection_workflow_id(connection_id: str) -> str:
    """The supervisor's workflow id: one supervisor per connection."""
    return f"connection-{connection_id}"


@workflow.defn
class ConnectionSupervisorWorkflow(StreamSupervision, SessionUpkeep, FeeSweep, AccountSync):
    @workflow.init
    def __init__(self, request: SupervisorInput) -> None:
        self.config = request.config
        self.state = request.state or SupervisorState(connection_id=request.connection_id)
        self.lock = asyncio.Lock()
        self.stream_task: asyncio.Task[None] | None = None
        self.wake = False

    @workflow.run
    async def run(self, request: SupervisorInput) -> ConnectionHealth:
        workflow.upsert_search_attributes([CONNECTION_ID.value_set(self.state.connection_id)])
        self._publish()
        while self.state.shutdown_reason is None:
            if not self.state.paused:
                async with self.lock:
                    await self._cycle()
                self._ensure_stream()
            self.state.iterations += 1
            if self._continue_as_new_due():
                await self._continue_as_new()
            await self._sleep()
        await self._shut_down()
        return self.health()

    # ---- the cycle ----------------------------------------------------------------------------------

    async def _cycle(self) -> None:
        now = workflow.now()
        rules.accrue(self.state, now)
        if not self.state.authenticated or self.state.status in (C.FAILED, C.RECONNECTING, C.DISCONNECTED):
            if self.state.next_reconnect_at is None or now >= self.state.next_reconnect_at:
                await self._connect()
            return
        if self._refresh_due():
            await self._refresh()
        if self._keepalive_due():
            await self._keepalive()
        if self.state.authenticated:
            await self._check()
        if self.state.authenticated and self._fee_sweep_due() and workflow.patched("fee-sweep"):
            await self._sweep_fees()
        if self.state.authenticated and self._account_sync_due() and workflow.patched("account-sync"):
            await self._sync_accounts()

    async def _sleep(self) -> None:
        until = rules.next_wake(self.state, self.config, workflow.now())
        seconds = max((until - workflow.now()).total_seconds(), 0.001)
        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(lambda: self.wake or self.state.shutdown_reason is not None,
                                          timeout=timedelta(seconds=seconds), timeout_summary="next check")
        self.wake = False

    async def _connect(self) -> None:
        request = ConnectInput(connection_id=self.state.connection_id, max_failures=self.config.fail_after,
                               refresh_before_seconds=self.config.refresh_before_seconds)
        try:
            result: ConnectResult = await self._run(ConnectionActivities.connect, request, "connect", _FEW)
        except ActivityError as err:
            result = ConnectResult(ok=False, status=C.RECONNECTING, reason=f"connect failed: {err.cause}")
        if result.ok:
            await self._connected(result)
        else:
            await self._connect_failed(result)

    async def _connected(self, result: ConnectResult) -> None:
        state = self.state
        if state.ever_connected:
            state.metrics.reconnects += 1
        state.ever_connected = state.authenticated = True
        state.auth_method, state.token_expires_at = result.auth_method, result.expires_at
        state.needs_keepalive = result.needs_keepalive
        state.last_keepalive_at = workflow.now() if result.needs_keepalive else None
        if result.refreshed:
            state.refresh_failed, state.next_refresh_at = None, None
            state.metrics.refreshes += 1
        state.consecutive_failures = state.reconnect_attempts = 0
        state.next_reconnect_at, state.window = None, []
        self._set_status(C.CONNECTED, None)
        await self._sync_alerts()
        # After every reconnect the stream restarts, and a restart reconciles from the last position.
        await self._stop_stream()

    async def _connect_failed(self, result: ConnectResult) -> None:
        state = self.state
        state.authenticated = False
        state.reconnect_attempts += 1
        state.consecutive_failures += 1
        state.last_error = result.reason
        failed = result.status is C.FAILED or state.consecutive_failures >= self.config.fail_after
        status = C.FAILED if failed else C.RECONNECTING
        delay = rules.backoff_seconds(state.reconnect_attempts, self.config, workflow.random().random())
        state.next_reconnect_at = workflow.now() + timedelta(seconds=delay)
        if status is not result.status:
            await self._record(status, result.reason)
        self._set_status(status, result.reason)
        await self._sync_alerts()

    async def _check(self) -> None:
        try:
            result: CheckResult = await self._run(
                ConnectionActivities.check_health, CheckInput(connection_id=self.state.connection_id),
                "health check", _ONCE, timeout=self.config.check_timeout_seconds)
        except ActivityError as err:
            result = CheckResult(ok=False, error=f"health check did not answer: {err.cause}")
        now = workflow.now()
        rules.note_check(self.state, result, self.config, now)
        if result.auth_error:
            await self._session_lost(f"session refused: {result.error}")
            return
        status, reason = rules.assess(self.state, self.config)
        recorded = await self._record(status, reason, result)
        if recorded.status in (C.FAILED, C.DISCONNECTED) and status is not C.FAILED:
            # Someone else (a failed login of the order path) tripped it: log in again.
            status, reason = recorded.status, recorded.reason
            self.state.authenticated = False
        if status is C.FAILED and self.state.status is not C.FAILED:
            self.state.authenticated = False
            self.state.next_reconnect_at = now + timedelta(seconds=rules.backoff_seconds(
                1, self.config, workflow.random().random()))
        self._set_status(status, reason)
        await self._sync_alerts()

    async def _session_lost(self, reason: str) -> None:
        self.state.authenticated = False
        self.state.next_reconnect_at = workflow.now()
        await self._record(C.RECONNECTING, reason)
        self._set_status(C.RECONNECTING, reason)
        await self._sync_alerts()
        self.wake = True

    # ---- recording ----------------------------------------------------------------------------------

    def _set_status(self, status: ConnectionStatus, reason: str | None) -> None:
        state = self.state
        rules.accrue(state, workflow.now())
        if status is not state.status:
            state.status_since = workflow.now()
            workflow.upsert_search_attributes([CONNECTION_STATUS.value_set(str(status))])
        state.status, state.reason = status, reason
        self._publish()

    async def _record(self, status: ConnectionStatus, reason: str | None,
                      check: CheckResult | None = None) -> RecordStatusResult:
        request = RecordStatusInput(connection_id=self.state.connection_id, status=status, reason=reason,
                                    at=workflow.now(), check=check, metrics=self.state.metrics)
        result: RecordStatusResult = await self._run(ConnectionActivities.record_status, request,
                                                     f"record {status}", _DB)
        return result

    async def _sync_alerts(self) -> None:
        wanted = rules.desired_alerts(self.state)
        for kind in sorted(set(wanted) - set(self.state.open_alerts)):
            severity, message = wanted[kind]
            await self._alert(AlertInput(connection_id=self.state.connection_id, kind=kind, raised=True,
                                         severity=severity, message=message))
            self.state.open_alerts.append(kind)
        for kind in sorted(set(self.state.open_alerts) - set(wanted)):
            await self._alert(AlertInput(connection_id=self.state.connection_id, kind=kind, raised=False))
            self.state.open_alerts.remove(kind)

    async def _alert(self, request: AlertInput) -> None:
        verb = "raise" if request.raised else "clear"
        await self._run(ConnectionActivities.set_alert, request, f"{verb} {request.kind}", _DB)

    @workflow.signal
    def stream_position(self, position: StreamPosition) -> None:
        """The stream activity's position (sent when it moves and when the activity stops)."""
        self._adopt_position(position)

    # ---- continue-as-new and shutdown ---------------------------------------------------------------

    def _continue_as_new_due(self) -> bool:
        limit = self.config.max_iterations
        return (limit is not None and self.state.iterations >= limit) or workflow.info().is_continue_as_new_suggested()

    async def _continue_as_new(self) -> None:
        await self._stop_stream()
        await workflow.wait_condition(lambda: workflow.all_handlers_finished() and not self.lock.locked())
        self.state.runs += 1
        self.state.iterations = 0
        workflow.continue_as_new(SupervisorInput(connection_id=self.state.connection_id, config=self.config,
                                                 state=self.state))

    async def _shut_down(self) -> None:
        await self._stop_stream()
        await workflow.wait_condition(workflow.all_handlers_finished)
        async with self.lock:
            reason = f"supervisor stopped: {self.state.shutdown_reason or 'shutdown'}"
            await self._record(C.DISCONNECTED, reason)
            self.state.authenticated = False
            self._set_status(C.DISCONNECTED, reason)
            for kind in sorted(self.state.open_alerts):
                await self._alert(AlertInput(connection_id=self.state.connection_id, kind=kind, raised=False))
            self.state.open_alerts = []
            self._publish()

    # ---- messages -----------------------------------------------------------------------------------

    @workflow.query
    def health(self) -> ConnectionHealth:
        """Status with its reason, error rate, latency, stream position, open alerts and totals."""
        return rules.health_of(self.state, self.stream_task is not None, self.config.reconcile_seconds)

    @workflow.signal
    def shutdown(self, request: ShutdownRequest) -> None:
        """Stop supervising: the stream stops, the connection is recorded DISCONNECTED, alerts clear."""
        self.state.shutdown_reason = request.reason or "shutdown requested"

    @workflow.update
    async def pause(self, request: PauseRequest) -> ConnectionHealth:
        """Suspend checks, reconnects and the stream (e.g. a broker maintenance window)."""
        if not self._first_time():
            return self.health()
        self.state.paused = True
        await self._stop_stream()
        self._publish()
        return self.health()

    @pause.validator
    def _validate_pause(self, request: PauseRequest) -> None:
        self._refuse_when_stopping()
        if self.state.paused:
            raise ValueError(f"connection {self.state.connection_id} is paused already")

    @workflow.update
    async def resume(self, request: ResumeRequest) -> ConnectionHealth:
        """Resume supervision at once: reconnect if needed, check, restart the stream."""
        if self._first_time():
            self.state.paused = False
            self.state.next_reconnect_at = None
            self.wake = True
            self._publish()
        return self.health()

    @resume.validator
    def _validate_resume(self, request: ResumeRequest) -> None:
        self._refuse_when_stopping()
        if not self.state.paused:
            raise ValueError(f"connection {self.state.connection_id} is not paused")

    @workflow.update
    async def reconnect(self, request: ReconnectRequest) -> ConnectionHealth:
        """Log in again now (and restart the stream, which reconciles); answer with the new health."""
        if self._first_time():
            async with self.lock:
                await self._connect()
            self.wake = True
        return self.health()

    @reconnect.validator
    def _validate_reconnect(self, request: ReconnectRequest) -> None:
        self._refuse_when_stopping()
        if self.state.paused:
            raise ValueError(f"connection {self.state.connection_id} is paused; resume it first")

    def _refuse_when_stopping(self) -> None:
        if self.state.shutdown_reason is not None:
            raise ValueError(f"connection {self.state.connection_id} supervisor is shutting down")

    def _first_time(self) -> bool:
        info = workflow.current_update_info()
        return info is None or not self.state.handled(info.id)

    # ---- helpers ------------------------------------------------------------------------------------

    async def _run(self, fn: Any, arg: Any, summary: str, retry: RetryPolicy, timeout: float = 30.0) -> Any:
        return await workflow.execute_activity_method(
            fn, arg, summary=summary, retry_policy=retry, start_to_close_timeout=timedelta(seconds=timeout))

    def _publish(self) -> None:
        workflow.set_current_details(rules.details_of(self.state, self.stream_task is not None))
