"""Order activities: the only place the order workflow reaches brokers and the database."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from domain.broker_integration import (
    AmbiguousOutcomeError,
    BrokerAuthenticationError,
    BrokerDuplicateOrderError,
    BrokerError,
    BrokerGateway,
    BrokerOrder,
    BrokerRateLimitedError,
    BrokerRejectedError,
    ConnectionNotReadyError,
    ExecutionReport,
    FeeReport,
    NotFoundError,
    OrderSnapshot,
    PreTradeRejectedError,
)
from domain.broker_integration.order_state import OPEN_STATUSES
from domain.broker_integration.rules.anomalies import detect_anomalies
from domain.broker_integration.rules.buying_power import check_pre_trade, required_buying_power
from domain.broker_integration.rules.metrics import execution_metrics
from domain.broker_integration.rules.routing import RouteCandidate, choose_route
from domain.broker_integration.rules.validation import capability_problems
from persistence.repositories.connection_health import stores_for

from .models import (
    CancelInput,
    OutcomeInput,
    OutcomeResult,
    PollInput,
    PollResult,
    PreTradeInput,
    PreTradeResult,
    RecordInput,
    ReplaceInput,
    RouteInput,
    RouteResult,
    SessionInput,
    SessionResult,
    SubmitInput,
)
from .ports import ActivityRepositories
from .sessions import SessionPool

__all__ = ["BROKER_REJECTED", "REPLACE_OUTCOME_UNKNOWN", "OrderActivities", "broker_failure"]

log = logging.getLogger("brokerflow.orders")

BROKER_REJECTED = "BrokerRejected"
CLIENT_ORDER_ID_CONFLICT = "ClientOrderIdConflict"
REPLACE_OUTCOME_UNKNOWN = "ReplaceOutcomeUnknown"
MAX_REPLACE_HOPS = 10


def broker_failure(exc: BrokerError) -> ApplicationError:
    """A Temporal failure for a broker error: rejections final, rate limits delayed, the rest retried."""
    if isinstance(exc, BrokerRateLimitedError):
        return ApplicationError(str(exc), type="BrokerRateLimited",
                                next_retry_delay=timedelta(seconds=max(exc.retry_after, 0.5)))
    if isinstance(exc, BrokerRejectedError):
        return ApplicationError(str(exc), exc.code, type=BROKER_REJECTED, non_retryable=True)
    return ApplicationError(str(exc), type=type(exc).__name__)


class OrderActivities:
    """Activities bound to the worker's repositories and broker sessions."""

    def __init__(self, repositories: ActivityRepositories, sessions: SessionPool) -> None:
        self._repos = repositories
        self._sessions = sessions

    def methods(self) -> list[Callable[..., Any]]:
        """The bound activity methods, for Worker(activities=...)."""
        return [self.ensure_session, self.route_order, self.pre_trade_check, self.record_order,
                self.submit_order, self.poll_order, self.cancel_order, self.replace_order, self.record_outcome]

    async def _gateway(self, connection_id: str) -> BrokerGateway:
        try:
            return await self._sessions.gateway(connection_id)
        except NotFoundError as exc:
            raise ApplicationError(str(exc), type="ConnectionNotFound", non_retryable=True) from exc
        except ConnectionNotReadyError as exc:
            raise ApplicationError(str(exc), type="ConnectionNotReady") from exc

    @activity.defn
    async def ensure_session(self, request: SessionInput) -> SessionResult:
        """Make sure the connection is authenticated; report why not when it cannot be."""
        try:
            gateway = await self._sessions.gateway(request.connection_id)
        except NotFoundError as exc:
            return SessionResult(connection_id=request.connection_id, ready=False, status="UNKNOWN", reason=str(exc))
        except ConnectionNotReadyError as exc:
            connection = await self._sessions.connection(request.connection_id)
            if connection.status == "FAILED" and activity.info().attempt >= 3:
                return SessionResult(connection_id=request.connection_id, ready=False,
                                     status=str(connection.status), reason=str(exc))
            raise ApplicationError(str(exc), type="ConnectionNotReady") from exc
        connection = await self._sessions.connection(request.connection_id)
        return SessionResult(connection_id=request.connection_id, ready=True, status=str(connection.status),
                             broker=gateway.broker)

    @activity.defn
    async def route_order(self, request: RouteInput) -> RouteResult:
        """Pick a connection for an order that does not pin one."""
        if request.order.connection_id:
            return RouteResult(connection_id=request.order.connection_id, account_id=request.order.account_id)
        candidates = []
        for connection in await self._repos.connections.list():
            capabilities = self._sessions.provider.gateway_for(connection).capabilities()
            candidates.append(RouteCandidate(connection, capabilities))
        decision = choose_route(request.order, candidates, self._sessions.clock.now())
        return RouteResult(connection_id=decision.connection_id, account_id=request.order.account_id,
                           reason="; ".join(decision.reasons) or None)

    @activity.defn
    async def pre_trade_check(self, request: PreTradeInput) -> PreTradeResult:
        """Capabilities, then buying power and positions on a fresh account snapshot."""
        order = request.order
        assert order.connection_id is not None
        gateway = await self._gateway(order.connection_id)
        problems = capability_problems(order, gateway.capabilities())
        if problems:
            return PreTradeResult(ok=False, reason="; ".join(map(str, problems)), problems=[str(p) for p in problems])
        try:
            account = await gateway.get_account(order.account_id)
            reference = await gateway.latest_price(order.symbol)
        except BrokerError as exc:
            raise broker_failure(exc) from exc
        await self._repos.accounts.save(account)
        price = reference or order.price or order.stop_price or Decimal("0")
        reserved_bp, reserved_qty = await self._reservations(order, price)
        try:
            check_pre_trade(order, account, price, reserved_bp, reserved_qty)
        except PreTradeRejectedError as exc:
            return PreTradeResult(ok=False, reason=str(exc), reference_price=reference)
        return PreTradeResult(ok=True, reference_price=reference or order.price or order.stop_price)

    async def _reservations(self, order: BrokerOrder, price: Decimal) -> tuple[Decimal, Decimal]:
        """Buying power and sell quantity that other open orders on the same connection already hold."""
        open_orders = await self._repos.orders.list_by_status(sorted(OPEN_STATUSES), limit=1000)
        reserved_bp = Decimal("0")
        reserved_qty = Decimal("0")
        for other in open_orders:
            if other.client_order_id == order.client_order_id or other.order.connection_id != order.connection_id:
                continue
            remaining = other.order.quantity - other.filled_quantity
            share = remaining / other.order.quantity
            reserved_bp += required_buying_power(other.order, other.reference_price or price) * share
            if other.order.symbol == order.symbol and other.order.side == "SELL":
                reserved_qty += remaining
        return reserved_bp, reserved_qty

    @activity.defn
    async def record_order(self, request: RecordInput) -> None:
        """Store the order's state, its new status changes and executions (each once)."""
        for report in request.executions:
            await self._repos.executions.add(report)
        if self._repos.fees is not None:
            for fee in request.fees:
                await self._repos.fees.add(fee)
        for update in request.updates:
            await self._repos.statuses.append(update)
        await self._repos.orders.save(request.order)

    @activity.defn
    async def submit_order(self, request: SubmitInput) -> OrderSnapshot:
        """Submit exactly once: any retry first looks the order up by its client order id."""
        order = request.order
        assert order.connection_id is not None
        gateway = await self._gateway(order.connection_id)
        try:
            if activity.info().attempt > 1:
                found = await gateway.get_order_by_client_id(order.client_order_id)
                if found is not None:
                    return _same_order(order, found)
            return await gateway.submit_order(order)
        except BrokerDuplicateOrderError as exc:
            # The id is taken: an earlier attempt got through (or the id was used for another order).
            found = await gateway.get_order_by_client_id(order.client_order_id)
            if found is None:
                raise ApplicationError(f"{exc}; not visible yet, looking again", type="DuplicateNotVisible") from exc
            return _same_order(order, found)
        except BrokerAuthenticationError as exc:
            self._sessions.invalidate(order.connection_id)
            raise broker_failure(exc) from exc
        except BrokerError as exc:
            raise broker_failure(exc) from exc

    @activity.defn
    async def poll_order(self, request: PollInput) -> PollResult:
        """The broker's view of the live order (replacements followed) and its executions since `since`."""
        gateway = await self._gateway(request.connection_id)
        try:
            snapshot, replaced = await _live_order(gateway, request)
            executions = await gateway.executions_since(request.since) if request.since else []
            fees = await gateway.fees_since(request.since) if request.since else []
        except BrokerError as exc:
            raise broker_failure(exc) from exc
        ids = set(request.broker_order_ids) | {s.broker_order_id for s in replaced}
        ids |= {snapshot.broker_order_id} if snapshot else set()
        cid = request.client_order_id
        mine = [_rooted(e, cid) for e in executions if e.broker_order_id in ids or e.client_order_id == cid]
        my_fees = [_rooted_fee(f, cid) for f in fees if f.broker_order_id in ids or f.client_order_id == cid]
        return PollResult(snapshot=snapshot, replaced=replaced, executions=mine, fees=my_fees)

    @activity.defn
    async def record_outcome(self, request: OutcomeInput) -> OutcomeResult:
        """Execution metrics and anomaly rules of a finished order; alerts go to the log and the alerts table."""
        order = request.order
        executions = await self._repos.executions.list_for_order(order.client_order_id)
        metrics = execution_metrics(order, executions)
        alerts = detect_anomalies(order, executions, metrics)
        store = stores_for(self._repos).alerts
        for alert in alerts:
            details = {"metrics": metrics.model_dump(mode="json")}
            _, created = await store.raise_alert(f"order_{alert.kind.lower()}", f"order:{order.client_order_id}",
                                                 str(alert.severity), alert.message, details)
            if created:
                log.warning("order alert %s %s: %s", alert.kind, order.client_order_id, alert.message)
        return OutcomeResult(metrics=metrics, alerts=[f"{a.severity} {a.kind}: {a.message}" for a in alerts])

    @activity.defn
    async def cancel_order(self, request: CancelInput) -> None:
        """Ask the broker to cancel; the outcome arrives as events or on the next poll."""
        gateway = await self._gateway(request.connection_id)
        try:
            await gateway.cancel_order(request.broker_order_id)
        except BrokerError as exc:
            raise broker_failure(exc) from exc

    @activity.defn
    async def replace_order(self, request: ReplaceInput) -> OrderSnapshot:
        """Replace the order's terms; the broker answers with the new order.

        A lost answer is not retried here: the workflow resolves it with a poll, which follows the old
        order's `replaced_by`, so a second replace is never sent for one amend.
        """
        gateway = await self._gateway(request.connection_id)
        try:
            return await gateway.replace_order(request.broker_order_id, request.amendment)
        except AmbiguousOutcomeError as exc:
            raise ApplicationError(str(exc), type=REPLACE_OUTCOME_UNKNOWN, non_retryable=True) from exc
        except BrokerError as exc:
            raise broker_failure(exc) from exc


async def _live_order(gateway: BrokerGateway, request: PollInput) -> tuple[OrderSnapshot | None, list[OrderSnapshot]]:
    """The order as it lives now: from the last known broker id along `replaced_by` (bounded), and the hops."""
    if not request.broker_order_ids:
        return await gateway.get_order_by_client_id(request.client_order_id), []
    snapshot = await gateway.get_order(request.broker_order_ids[-1])
    replaced: list[OrderSnapshot] = []
    # A longer chain is followed further on the next poll (the workflow then knows the later ids).
    while snapshot.replaced_by is not None and len(replaced) < MAX_REPLACE_HOPS:
        replaced.append(snapshot)
        snapshot = await gateway.get_order(snapshot.replaced_by)
    return snapshot, replaced


def _same_order(order: BrokerOrder, found: OrderSnapshot) -> OrderSnapshot:
    """The broker's order under our client order id, if it is this order; else a final conflict."""
    if found.symbol != order.symbol or found.quantity != order.quantity:
        raise ApplicationError(
            f"client order id {order.client_order_id} is already used at the broker for "
            f"{found.quantity} {found.symbol} (order {found.broker_order_id}); this order was not sent",
            type=CLIENT_ORDER_ID_CONFLICT, non_retryable=True,
        )
    return found


def _rooted_fee(fee: FeeReport, client_order_id: str) -> FeeReport:
    """Fees of a replacement order belong to the original order."""
    if fee.client_order_id == client_order_id:
        return fee
    return FeeReport(**{**fee.model_dump(), "client_order_id": client_order_id})


def _rooted(report: ExecutionReport, client_order_id: str) -> ExecutionReport:
    """Executions of a replacement order belong to the original order."""
    if report.client_order_id == client_order_id:
        return report
    return ExecutionReport(**{**report.model_dump(), "client_order_id": client_order_id})
