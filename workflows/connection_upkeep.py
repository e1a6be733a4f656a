"""Token refresh and session keep-alive of the connection supervisor (a mixin of the workflow)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.connection_activities import ConnectionActivities
    from activities.connection_models import (
        KeepAliveInput,
        KeepAliveResult,
        RefreshInput,
        RefreshResult,
        SupervisorConfig,
    )

    from .connection_state import SupervisorState

__all__ = ["SessionUpkeep"]

_FEW = RetryPolicy(maximum_attempts=3, initial_interval=timedelta(seconds=1))


class SessionUpkeep:
    """Refresh OAuth tokens before they expire; tickle sessions that lapse when idle."""

    state: SupervisorState
    config: SupervisorConfig

    async def _run(self, fn: Any, arg: Any, summary: str, retry: RetryPolicy, timeout: float = 30.0) -> Any:
        raise NotImplementedError

    async def _session_lost(self, reason: str) -> None:
        raise NotImplementedError

    def _refresh_due(self) -> bool:
        state, now = self.state, workflow.now()
        if state.auth_method != "OAUTH2" or state.token_expires_at is None:
            return False
        if state.next_refresh_at is not None:
            return now >= state.next_refresh_at
        return now >= state.token_expires_at - timedelta(seconds=self.config.refresh_before_seconds)

    async def _refresh(self) -> None:
        request = RefreshInput(connection_id=self.state.connection_id)
        try:
            result: RefreshResult = await self._run(ConnectionActivities.refresh_token, request, "refresh token",
                                                    _FEW)
        except ActivityError as err:
            result = RefreshResult(ok=False, reason=f"token refresh failed: {err.cause}")
        state = self.state
        if result.ok:
            state.metrics.refreshes += 1
            state.token_expires_at, state.refresh_failed, state.next_refresh_at = result.expires_at, None, None
            return
        # Degrade and alert, try again soon; the supervisor never ends over a refresh.
        state.metrics.refresh_failures += 1
        state.refresh_failed = result.reason or "token refresh failed"
        retry = min(self.config.health_interval_seconds * 2, self.config.reconnect_max_seconds)
        state.next_refresh_at = workflow.now() + timedelta(seconds=retry)

    def _keepalive_due(self) -> bool:
        state = self.state
        if not state.needs_keepalive or state.last_keepalive_at is None:
            return False
        return workflow.now() >= state.last_keepalive_at + timedelta(seconds=self.config.keepalive_interval_seconds)

    async def _keepalive(self) -> None:
        request = KeepAliveInput(connection_id=self.state.connection_id)
        try:
            result: KeepAliveResult = await self._run(ConnectionActivities.keep_alive, request, "keep-alive", _FEW)
        except ActivityError as err:
            result = KeepAliveResult(ok=False, reason=f"keep-alive failed: {err.cause}")
        if result.ok:
            self.state.metrics.keepalives += 1
            self.state.last_keepalive_at = workflow.now()
        else:
            await self._session_lost(result.reason or "keep-alive failed")

