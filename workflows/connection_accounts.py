"""The supervisor's account sync: balances and positions merged from the broker on a schedule.

Fills are booked into accounts at once as orders record them; this sync reconciles our figures with the
broker's (the book of record) and raises an `account_drift` alert where they differ.
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
    from activities.connection_models import AccountSyncInput, AccountSyncResult, SupervisorConfig

    from .connection_state import SupervisorState

__all__ = ["AccountSync"]

_FEW = RetryPolicy(maximum_attempts=3, initial_interval=timedelta(seconds=1))


class AccountSync:
    """Every `account_sync_seconds`, discover the connection's accounts and merge the broker's figures."""

    state: SupervisorState
    config: SupervisorConfig

    async def _run(self, fn: Any, arg: Any, summary: str, retry: RetryPolicy, timeout: float = 30.0) -> Any:
        raise NotImplementedError

    def _account_sync_due(self) -> bool:
        due = self.state.next_account_sync_at
        return due is None or workflow.now() >= due

    async def _sync_accounts(self) -> None:
        state = self.state
        state.next_account_sync_at = workflow.now() + timedelta(seconds=self.config.account_sync_seconds)
        try:
            result: AccountSyncResult = await self._run(
                ConnectionActivities.sync_accounts, AccountSyncInput(connection_id=state.connection_id),
                "sync accounts", _FEW, timeout=60.0)
        except ActivityError as err:
            workflow.logger.warning("account sync failed: %s", err.cause)
            return
        state.accounts = result.accounts
        state.account_drifts = len(result.drifts)
