"""Connection activities: authenticate, refresh, keep alive, check health, record status, alert, stream.

Broker failures come back as results (ok=False with the reason), not as activity failures: the
supervisor decides what a failure means (degrade, trip the breaker, back off), and nothing retries
behind its back. Secrets stay in the worker: inputs and results carry ids, times and reasons only.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

import alerting
from domain.broker_integration import (
    BrokerAuthenticationError,
    BrokerConnection,
    BrokerError,
    BrokerGateway,
    ConnectionCredentials,
    ConnectionNotReadyError,
    DomainError,
    ExecutionReport,
    FeeReport,
    NotFoundError,
    Order,
)
from domain.broker_integration.ports import account_snapshots
from observability import metrics as observed
from persistence.repositories.connection_health import ConnectionStores, HealthSample, stores_for

from .auth_plugins import AUTH_PLUGINS, AuthPlugins
from .calendar import market_date
from .connection_models import (
    AccountSyncInput,
    AccountSyncResult,
    AlertInput,
    CheckInput,
    CheckResult,
    ConnectInput,
    ConnectResult,
    FeeSweepInput,
    FeeSweepResult,
    KeepAliveInput,
    KeepAliveResult,
    RecordStatusInput,
    RecordStatusResult,
    RefreshInput,
    RefreshResult,
    StreamInput,
    StreamPosition,
)
from .connection_status import follow_status
from .ports import ActivityRepositories
from .sessions import SessionPool
from .trade_stream import EventForwarder, StreamRunner, resume_position

__all__ = ["ConnectionActivities", "alert_subject"]

log = logging.getLogger(__name__)


def alert_subject(connection_id: str) -> str:
    """The `subject` of a connection's alerts."""
    return f"connection:{connection_id}"


def _why(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


class ConnectionActivities:
    """Activities of ConnectionSupervisorWorkflow, bound to the worker's repositories and sessions."""

    def __init__(self, repositories: ActivityRepositories, sessions: SessionPool,
                 stores: ConnectionStores | None = None, plugins: AuthPlugins | None = None) -> None:
        self._repos = repositories
        self._sessions = sessions
        self.stores = stores or stores_for(repositories)
        self._plugins = plugins or AUTH_PLUGINS

    def methods(self) -> list[Callable[..., Any]]:
        """The bound activity methods, for Worker(activities=...)."""
        return [self.connect, self.refresh_token, self.keep_alive, self.check_health, self.record_status,
                self.set_alert, self.stream_trade_updates, self.sweep_fees, self.sync_accounts]

    def _now(self) -> datetime:
        return self._sessions.clock.now()

    async def _connection(self, connection_id: str) -> BrokerConnection:
        try:
            return await self._sessions.connection(connection_id)
        except NotFoundError as exc:
            raise ApplicationError(str(exc), type="ConnectionNotFound", non_retryable=True) from exc

    def _gateway(self, connection: BrokerConnection) -> BrokerGateway:
        return self._sessions.provider.gateway_for(connection)

    # ---- authentication -------------------------------------------------------------------------------

    @activity.defn
    async def connect(self, request: ConnectInput) -> ConnectResult:
        """(Re)authenticate; refresh an OAuth token first when it is about to expire."""
        connection = await self._connection(request.connection_id)
        connection.begin_connect(self._now())
        credentials = await self._repos.connections.get_credentials(request.connection_id)
        if credentials is None:
            return await self._failed(connection, "no credentials stored", request.max_failures)
        refreshed = False
        lead = timedelta(seconds=request.refresh_before_seconds)
        expires = credentials.token_expires_at
        if credentials.refresh_token is not None and expires is not None and expires - lead <= self._now():
            credentials, problem = await self._refreshed(connection, credentials)
            if credentials is None:
                return await self._failed(connection, problem or "token refresh failed", request.max_failures)
            refreshed = True
        try:
            session = await self._gateway(connection).authenticate(credentials)
        except BrokerAuthenticationError as exc:
            if refreshed or credentials.refresh_token is None:
                return await self._failed(connection, f"authentication failed: {_why(exc)}", request.max_failures,
                                          True)
            # The token was revoked or expired early: one refresh, then one more login.
            return await self._connect_refreshed(connection, credentials, request)
        except BrokerError as exc:
            return await self._failed(connection, f"authentication failed: {_why(exc)}", request.max_failures)
        return await self._authenticated(connection, credentials, session.expires_at, refreshed)

    async def _connect_refreshed(self, connection: BrokerConnection, credentials: ConnectionCredentials,
                                 request: ConnectInput) -> ConnectResult:
        fresh, problem = await self._refreshed(connection, credentials)
        if fresh is None:
            return await self._failed(connection, problem or "token refresh failed", request.max_failures, True)
        try:
            session = await self._gateway(connection).authenticate(fresh)
        except BrokerError as exc:
            auth = isinstance(exc, BrokerAuthenticationError)
            return await self._failed(connection, f"refreshed token refused: {_why(exc)}", request.max_failures,
                                      auth)
        return await self._authenticated(connection, fresh, session.expires_at, True)

    async def _authenticated(self, connection: BrokerConnection, credentials: ConnectionCredentials,
                             expires_at: datetime | None, refreshed: bool) -> ConnectResult:
        connection.authenticated(self._now(), expires_at)
        await self._save(connection)
        return ConnectResult(ok=True, status=connection.status, auth_method=str(credentials.auth_method),
                             expires_at=expires_at or credentials.token_expires_at, refreshed=refreshed,
                             needs_keepalive=self._needs_keepalive(connection))

    def _needs_keepalive(self, connection: BrokerConnection) -> bool:
        # Session logins (IBKR-style) lapse when idle: their brokers register a keep-alive.
        return self._plugins.keepalive_for(connection.broker) is not None

    async def _failed(self, connection: BrokerConnection, reason: str, max_failures: int,
                      auth_error: bool = False) -> ConnectResult:
        connection.record_failure(self._now(), reason, max_failures=max_failures)
        await self._save(connection)
        return ConnectResult(ok=False, status=connection.status, reason=reason, auth_error=auth_error)

    async def _save(self, connection: BrokerConnection) -> None:
        # The order activities' SessionPool keeps a usable row for up to a second; this worker's pool forgets
        # it now, so the verdict counts at once here (other workers' pools within that second).
        await self._repos.connections.save(connection)
        self._sessions.expire(connection.connection_id)

    async def _refreshed(self, connection: BrokerConnection, credentials: ConnectionCredentials
                         ) -> tuple[ConnectionCredentials | None, str | None]:
        """New credentials from the broker's refresher, stored encrypted; (None, why) when that fails."""
        refresher = self._plugins.refresher_for(connection.broker)
        if refresher is None:
            return None, f"no token refresher for broker {connection.broker}"
        if credentials.refresh_token is None:
            return None, "no refresh token stored"
        try:
            fresh = await refresher.refresh(connection, credentials)
        except Exception as exc:  # a plugin may fail in any way; the supervisor must live on
            return None, f"token refresh failed: {type(exc).__name__}"
        await self._repos.connections.save_credentials(connection.connection_id, fresh)
        return fresh, None

    @activity.defn
    async def refresh_token(self, request: RefreshInput) -> RefreshResult:
        """Refresh the OAuth token, store it encrypted, and log the gateway in with it."""
        connection = await self._connection(request.connection_id)
        credentials = await self._repos.connections.get_credentials(request.connection_id)
        if credentials is None:
            return RefreshResult(ok=False, reason="no credentials stored")
        fresh, problem = await self._refreshed(connection, credentials)
        if fresh is None:
            return RefreshResult(ok=False, reason=problem)
        try:
            session = await self._gateway(connection).authenticate(fresh)
        except BrokerError as exc:
            return RefreshResult(ok=False, reason=f"refreshed token refused: {_why(exc)}")
        connection = await self._connection(request.connection_id)
        if connection.status in ("DISCONNECTED", "FAILED"):
            connection.begin_connect(self._now())
        connection.authenticated(self._now(), session.expires_at)
        await self._save(connection)
        return RefreshResult(ok=True, expires_at=session.expires_at or fresh.token_expires_at)

    @activity.defn
    async def keep_alive(self, request: KeepAliveInput) -> KeepAliveResult:
        """Tickle the broker session (for brokers whose sessions lapse when idle)."""
        connection = await self._connection(request.connection_id)
        plugin = self._plugins.keepalive_for(connection.broker)
        if plugin is None:
            return KeepAliveResult(ok=True, reason="no keep-alive needed")
        try:
            expires = await plugin.tickle(connection, self._gateway(connection))
        except Exception as exc:  # a plugin may fail in any way; the supervisor decides
            return KeepAliveResult(ok=False, reason=f"keep-alive failed: {_why(exc)}")
        if expires is not None:
            connection.session_expires_at = expires
            await self._save(connection)
        return KeepAliveResult(ok=True, expires_at=expires)

    # ---- health -------------------------------------------------------------------------------------

    @activity.defn
    async def check_health(self, request: CheckInput) -> CheckResult:
        """One cheap broker call (the account), timed."""
        connection = await self._connection(request.connection_id)
        started = time.monotonic()
        try:
            await self._gateway(connection).get_account()
        except BrokerError as exc:
            latency = (time.monotonic() - started) * 1000
            return CheckResult(ok=False, latency_ms=latency, error=_why(exc),
                               auth_error=isinstance(exc, BrokerAuthenticationError))
        return CheckResult(ok=True, latency_ms=(time.monotonic() - started) * 1000)

    @activity.defn
    async def record_status(self, request: RecordStatusInput) -> RecordStatusResult:
        """Move the connection entity to the supervisor's verdict; store the check as a health sample."""
        connection = await self._connection(request.connection_id)
        try:
            follow_status(connection, request.status, request.at, request.reason, request.check)
        except ConnectionNotReadyError as exc:
            log.warning("connection %s: %s", request.connection_id, exc)
        await self._save(connection)
        observed.connection_status(connection.connection_id, connection.broker, str(connection.status))
        if request.check is not None:
            observed.connection_checked(connection.connection_id, request.check.ok, request.check.latency_ms)
            await self.stores.samples.add(_sample(request, connection))
        return RecordStatusResult(status=connection.status, reason=connection.status_reason)

    @activity.defn
    async def set_alert(self, request: AlertInput) -> bool:
        """Raise (once) or clear an alert of the connection; True when something changed."""
        subject = alert_subject(request.connection_id)
        if not request.raised:
            cleared = await self.stores.alerts.clear(request.kind, subject)
            observed.alert_cleared(request.kind, cleared)
            if cleared:
                log.info("alert cleared: %s %s", request.kind, subject)
            return cleared > 0
        stored, created = await self.stores.alerts.raise_alert(
            request.kind, subject, request.severity, request.message, {"connection_id": request.connection_id})
        if created:
            observed.alert_raised(request.kind, request.severity)
            log.warning("alert raised: %s %s: %s", request.kind, subject, request.message)
            alerting.publish(stored)
        return created

    # ---- fees ---------------------------------------------------------------------------------------

    @activity.defn
    async def sweep_fees(self, request: FeeSweepInput) -> FeeSweepResult:
        """Add fees charged after their order closed (once each); open orders collect their own."""
        connection = await self._connection(request.connection_id)
        since = request.since or datetime.now(UTC) - timedelta(hours=request.lookback_hours)
        try:
            fees = await self._gateway(connection).fees_since(since)
        except BrokerError as exc:
            raise ApplicationError(f"fee sweep: {_why(exc)}", type=type(exc).__name__) from exc
        recorded = 0
        for fee in fees:
            added = await self._record_closed_order_fee(fee)
            if added:
                observed.fee_recorded(connection.broker, str(fee.kind), fee.amount)
            recorded += added
        newest = max((f.charged_at for f in fees), default=None)
        return FeeSweepResult(recorded=recorded, next_since=newest - timedelta(minutes=5) if newest else None)

    async def _record_closed_order_fee(self, fee: FeeReport) -> int:
        order = await self._repos.orders.get(fee.client_order_id)
        fee_store = getattr(self._repos, "fees", None)
        if order is None or not order.is_terminal or fee_store is None or fee.fee_id in order.fee_ids:
            return 0
        ledger = getattr(self._repos, "ledger", None)
        if ledger is not None:
            await ledger.book_fee(fee)  # stored and charged to the account's cash, once
        else:
            await fee_store.add(fee)
        order.apply_fee(fee)
        await self._repos.orders.save(order)
        log.info("fee %s (%s %s) added to closed order %s", fee.fee_id, fee.kind, fee.amount, fee.client_order_id)
        return 1

    async def _apply_late_fill(self, order: Order, report: ExecutionReport) -> None:
        try:
            update = order.apply_execution(report)
        except DomainError as exc:  # already in the order (e.g. its last poll saw it), or an overfill
            log.warning("late fill %s not added to order %s: %s", report.execution_id, order.client_order_id, exc)
            return
        await self._repos.orders.save(order)
        if update is not None:
            await self._repos.statuses.append(update)

    # ---- accounts ------------------------------------------------------------------------------------

    @activity.defn
    async def sync_accounts(self, request: AccountSyncInput) -> AccountSyncResult:
        """Discover the connection's accounts and merge the broker's balances and positions into our ledger.

        Where our figures (after the fills we booked) differ from the broker's while no order of the account
        is in flight, an `account_drift` alert is raised; it clears when they agree again.
        """
        ledger = getattr(self._repos, "ledger", None)
        connection = await self._connection(request.connection_id)
        gateway = self._gateway(connection)
        try:
            snapshots = await account_snapshots(gateway)
        except BrokerError as exc:
            raise ApplicationError(f"account sync: {_why(exc)}", type=type(exc).__name__) from exc
        today = market_date(self._now())
        result = AccountSyncResult()
        for snapshot in snapshots:
            result.accounts.append(snapshot.account_id)
            if ledger is None:
                await self._repos.accounts.save(snapshot)
                continue
            synced = await ledger.sync(snapshot, today)
            subject = f"account:{snapshot.account_id}"
            if synced.drifts and synced.orders_in_flight == 0:
                message = f"account {snapshot.masked_number} differs from the broker: " + "; ".join(
                    d.describe() for d in synced.drifts)
                result.drifts.append(message)
                stored, created = await self.stores.alerts.raise_alert(
                    "account_drift", subject, "WARNING", message,
                    {"drifts": [d.model_dump(mode="json") for d in synced.drifts]})
                if created:
                    log.warning("alert raised: %s", message)
                    alerting.publish(stored)
            elif not synced.drifts:
                await self.stores.alerts.clear("account_drift", subject)
        return result

    # ---- stream -------------------------------------------------------------------------------------

    async def _record_late_fill(self, report: ExecutionReport) -> None:
        """Store a fill of a finished order (once), add it to the order, and raise an alert.

        Fills of orders brokerflow does not know are skipped.
        """
        order = await self._repos.orders.get(report.client_order_id)
        if order is None:
            return
        ledger = getattr(self._repos, "ledger", None)
        stored = (await ledger.book_execution(report, market_date(report.executed_at)) if ledger is not None
                  else await self._repos.executions.add(report))
        if stored:
            await self._apply_late_fill(order, report)
            alert, created = await self.stores.alerts.raise_alert(
                f"order_late_fill_{report.execution_id}", f"order:{report.client_order_id}", "WARNING",
                _late_fill_message(report), {"execution_id": report.execution_id})
            if created:
                alerting.publish(alert)
            observed.alert_raised("order_late_fill", "WARNING")
            log.warning("late fill recorded: %s", _late_fill_message(report))

    @activity.defn
    async def stream_trade_updates(self, request: StreamInput) -> StreamPosition:
        """Forward every trade update to its order workflow until cancelled; resume where the last attempt was."""
        connection = await self._connection(request.connection_id)
        info = activity.info()
        position = resume_position(request.position, info.heartbeat_details)
        forwarder = EventForwarder(activity.client(), position, late_fills=self._record_late_fill)
        runner = StreamRunner(self._gateway(connection), forwarder, request, info.workflow_id,
                              known_open=lambda: self._repos.orders.open_at_connection(connection.connection_id))
        try:
            return await runner.run()
        except BrokerError as exc:
            raise ApplicationError(f"trade stream: {_why(exc)}", type=type(exc).__name__) from exc



def _late_fill_message(report: ExecutionReport) -> str:
    return f"fill {report.execution_id} ({report.quantity} @ {report.price}) arrived after the order was closed"


def _sample(request: RecordStatusInput, connection: BrokerConnection) -> HealthSample:
    check = request.check
    assert check is not None
    metrics = request.metrics
    return HealthSample(
        connection_id=request.connection_id, checked_at=request.at, status=str(connection.status), ok=check.ok,
        latency_ms=check.latency_ms, error=check.error,
        checks=metrics.checks if metrics else 0, failures=metrics.failures if metrics else 0,
        reconnects=metrics.reconnects if metrics else 0,
        degraded_seconds=metrics.degraded_seconds if metrics else 0.0,
        failed_seconds=metrics.failed_seconds if metrics else 0.0,
    )
