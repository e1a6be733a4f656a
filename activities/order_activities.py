"""Order activities: the only place the order workflow reaches brokers and the database."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from pydantic import BaseModel
from temporalio import activity
from temporalio.exceptions import ApplicationError

import alerting
from domain.broker_integration import (
    AmbiguousOutcomeError,
    BrokerAuthenticationError,
    BrokerCapabilities,
    BrokerDuplicateOrderError,
    BrokerError,
    BrokerGateway,
    BrokerOrder,
    BrokerRateLimitedError,
    BrokerRejectedError,
    ConnectionNotReadyError,
    DomainError,
    ExecutionReport,
    FeeReport,
    InvalidOrderError,
    NotFoundError,
    Order,
    OrderSide,
    OrderSnapshot,
    OrderStatus,
    PreTradeRejectedError,
)
from domain.broker_integration.reconcile import apply_acknowledgement, apply_execution_once, apply_snapshot_status
from domain.broker_integration.repositories import AccountLedgerRepository, ReservationRequest
from domain.broker_integration.rules.anomalies import Alert, Severity, detect_anomalies
from domain.broker_integration.rules.buying_power import check_pre_trade
from domain.broker_integration.rules.fees import estimate_fees, schedule_for
from domain.broker_integration.rules.metrics import ExecutionQuality, execution_metrics
from domain.broker_integration.rules.routing import (
    AccountCandidate,
    RouteCandidate,
    RoutingPolicy,
    choose_route,
    is_smart,
)
from domain.broker_integration.rules.validation import capability_problems
from observability import metrics as observed
from persistence.repositories.alerts import AlertRepository
from persistence.repositories.anomaly_history import history_for
from persistence.repositories.connection_health import stores_for
from persistence.repositories.execution_stats import execution_stats_for

from .calendar import market_date
from .models import (
    CancelInput,
    FinishInput,
    FinishResult,
    OutcomeInput,
    OutcomeResult,
    PollInput,
    PollResult,
    PrepareInput,
    PrepareResult,
    PreTradeInput,
    PreTradeResult,
    RecordInput,
    ReplaceInput,
    RouteInput,
    RouteResult,
    SessionInput,
    SessionResult,
    SubmitInput,
    SubmitResult,
)
from .ports import ActivityRepositories
from .sessions import SessionPool

__all__ = ["BROKER_REJECTED", "REPLACE_OUTCOME_UNKNOWN", "AlertSpec", "OrderActivities", "OrderAlertsInput",
           "broker_failure"]

log = logging.getLogger("brokerflow.orders")

BROKER_REJECTED = "BrokerRejected"
PRE_TRADE_REFUSED = "PreTradeRefused"
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


class AlertSpec(BaseModel):
    """An alert a running order's workflow raises (a domain `Alert`, as a workflow payload)."""

    kind: str
    severity: Severity
    subject: str
    message: str
    scope: str = "order"

    @classmethod
    def of(cls, alert: Alert) -> AlertSpec:
        return cls(kind=alert.kind, severity=alert.severity, subject=alert.subject, message=alert.message,
                   scope=alert.scope)

    def to_alert(self) -> Alert:
        return Alert(self.kind, self.severity, self.subject, self.message, self.scope)


class OrderAlertsInput(BaseModel):
    """Alerts of a running order (time outs, stalls, regressions, duplicates), raised once each."""

    order: Order
    alerts: list[AlertSpec]


async def store_alerts(store: AlertRepository, alerts: list[Alert], details: dict[str, Any]) -> list[Alert]:
    """Store each alert unless an unresolved one of its kind and subject exists; send the new ones to the
    sinks (in the background). Order alerts are `order_<kind>` on `order:<id>`, connection alerts
    `<kind>` on `connection:<id>`."""
    raised = []
    for alert in alerts:
        if alert.scope == "connection":
            kind, subject = alert.kind.lower(), f"connection:{alert.subject}"
        else:
            kind, subject = f"order_{alert.kind.lower()}", f"order:{alert.subject}"
        stored, created = await store.raise_alert(kind, subject, str(alert.severity), alert.message, details)
        if created:  # the log sink writes it (with the sinks' other deliveries, in the background)
            raised.append(alert)
            alerting.publish(stored)
    return raised


class OrderActivities:
    """Activities bound to the worker's repositories and broker sessions."""

    def __init__(self, repositories: ActivityRepositories, sessions: SessionPool) -> None:
        self._repos = repositories
        self._sessions = sessions

    def methods(self) -> list[Callable[..., Any]]:
        """The bound activity methods, for Worker(activities=...)."""
        return [self.ensure_session, self.route_order, self.pre_trade_check, self.record_order,
                self.submit_order, self.poll_order, self.cancel_order, self.replace_order, self.record_outcome,
                self.raise_order_alerts, self.finish_order, self.prepare_order]

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
        connection = await self._sessions.recent(request.connection_id)  # as `gateway` just read it
        return SessionResult(connection_id=request.connection_id, ready=True, status=str(connection.status),
                             broker=gateway.broker)

    @activity.defn
    async def route_order(self, request: RouteInput) -> RouteResult:
        """Pick a connection and account for an order that names none (or SMART), and explain the choice."""
        order = request.order
        if not is_smart(order.connection_id):
            return RouteResult(connection_id=order.connection_id, account_id=order.account_id)
        try:
            policy = RoutingPolicy.from_text(request.routing)
        except InvalidOrderError as exc:
            return RouteResult(connection_id=None, reason=str(exc))
        order = order.model_copy(update={"connection_id": None})
        now = self._sessions.clock.now()
        candidates = await self._route_candidates(order)
        decision = choose_route(order, candidates, now, policy=policy, today=market_date(now),
                                exclude=request.exclude, abandoned=list(request.exclude))
        log.info("route %s: %s", order.client_order_id, " | ".join(decision.explain()))
        return RouteResult(connection_id=decision.connection_id, account_id=decision.account_id or order.account_id,
                           reason="; ".join(decision.reasons) or decision.summary or None, decision=decision)

    async def _route_candidates(self, order: BrokerOrder) -> list[RouteCandidate]:
        """Every registered connection with its capabilities, accounts (with reservations), fee schedule,
        recent execution quality and open orders, read from the database (no broker is asked)."""
        connections = list(await self._repos.connections.list())
        stats = execution_stats_for(self._repos)
        ids = [c.connection_id for c in connections]
        quality = await stats.recent_quality(ids) if stats is not None else {}
        open_orders = await stats.open_orders() if stats is not None else {}
        ledger = getattr(self._repos, "ledger", None)
        candidates = []
        for connection in connections:
            try:
                capabilities = self._sessions.provider.gateway_for(connection).capabilities()
            except DomainError:  # a broker this worker has no adapter for: nothing fits it
                capabilities = BrokerCapabilities(broker=connection.broker, order_types=frozenset(),
                                                  time_in_force=frozenset(), asset_classes=frozenset())
            accounts = []
            for account in await self._repos.accounts.list_for_connection(connection.connection_id):
                held = tuple(await ledger.reservations(account.account_id)) if ledger is not None else ()
                accounts.append(AccountCandidate(account, held))
            candidates.append(RouteCandidate(
                connection, capabilities, tuple(accounts), schedule_for(connection.broker, order.asset_class),
                quality.get(connection.connection_id, ExecutionQuality()),
                open_orders.get(connection.connection_id, 0)))
        return candidates

    @activity.defn
    async def pre_trade_check(self, request: PreTradeInput) -> PreTradeResult:
        """Capabilities, then buying power and positions on a fresh account snapshot."""
        order = request.order
        assert order.connection_id is not None
        gateway = await self._sessions.activity_gateway(order.connection_id)
        problems = capability_problems(order, gateway.capabilities())
        if problems:
            return PreTradeResult(ok=False, reason="; ".join(map(str, problems)), problems=[str(p) for p in problems])
        try:
            # Independent reads, asked at once: the check waits for the slower, not for both in turn.
            account, reference = await asyncio.gather(gateway.get_account(order.account_id),
                                                      gateway.latest_price(order.symbol))
        except BrokerError as exc:
            raise self._broker_failure(order.connection_id, exc) from exc
        price, fees = _price_and_fees(gateway, order, reference)
        if price <= 0 and (order.side.is_buy or order.side is OrderSide.SELL_SHORT):
            return PreTradeResult(ok=False, reason=f"NO_PRICE: no quote for {order.symbol} and no limit or stop "
                                                   "price, so its buying power cannot be checked")
        ledger = getattr(self._repos, "ledger", None)
        if ledger is None:  # in-memory repositories of unit tests: no reservations
            await self._repos.accounts.save(account)
            try:
                check_pre_trade(order, account, price, fees=fees)
            except PreTradeRejectedError as exc:
                return PreTradeResult(ok=False, reason=str(exc), reference_price=reference)
            return PreTradeResult(ok=True, reference_price=reference or order.price or order.stop_price,
                                  account_id=account.account_id, estimated_fees=fees)
        today = market_date(self._sessions.clock.now())
        try:
            reservation, _figures = await ledger.reserve(
                ReservationRequest(order=order, snapshot=account, reference_price=price, estimated_fees=fees,
                                   today=today))
        except PreTradeRejectedError as exc:
            return PreTradeResult(ok=False, reason=str(exc), reference_price=reference)
        return PreTradeResult(ok=True, reference_price=reference or order.price or order.stop_price,
                              account_id=reservation.account_id, estimated_fees=fees)

    @activity.defn
    async def prepare_order(self, request: PrepareInput) -> PrepareResult:
        """The session, then (when it is ready) the pre-trade check: one local activity instead of two
        (patch `fold-records`); each part behaves, and is retried, as its own activity."""
        session = await self.ensure_session(SessionInput(connection_id=request.order.connection_id or ""))
        if not session.ready:
            return PrepareResult(session=session)
        return PrepareResult(session=session, check=await self.pre_trade_check(PreTradeInput(order=request.order)))

    @activity.defn
    async def record_order(self, request: RecordInput) -> None:
        """Store the order's state, its new status changes and executions (each once)."""
        await self._record(request)

    async def _record(self, request: RecordInput) -> None:
        ledger = getattr(self._repos, "ledger", None)
        if ledger is not None:  # fills and fees booked to the account, statuses and the order: one transaction
            stored = await ledger.record(request.order, request.updates, request.executions, request.fees,
                                         market_date)
            fills, fees, updates = stored.executions, stored.fees, stored.updates
        else:
            fills = [report for report in request.executions if await self._repos.executions.add(report)]
            fees = []
            if self._repos.fees is not None:
                fees = [fee for fee in request.fees if await self._repos.fees.add(fee)]
            updates = [update for update in request.updates if await self._repos.statuses.append(update)]
            await self._repos.orders.save(request.order)
        await observed.order_recorded(self._repos.connections, request.order, fills, fees, updates)

    @activity.defn
    async def submit_order(self, request: SubmitInput) -> OrderSnapshot | SubmitResult:
        """Submit exactly once: any retry first looks the order up by its client order id.

        With `request.record` the order is stored (SUBMITTED) before the broker sees it, and stored again
        as the acknowledgement left it (patch `fold-records`: two record activities fewer per order).
        """
        order = request.order
        assert order.connection_id is not None
        gateway = await self._sessions.activity_gateway(order.connection_id)
        began = time.monotonic()
        found = await self._look_up(gateway, order) if activity.info().attempt > 1 else None
        if request.record is None:
            return found or await self._send(gateway, order)
        stored = found is None
        if found is None:
            storing = time.monotonic()
            await self._record(request.record)  # in PostgreSQL before the broker sees the order
            _time_left_to_send(storing)
            found = await self._send(gateway, order)
        acknowledged = request.record.order.model_copy(deep=True)
        updates = apply_acknowledgement(acknowledged, found, _server_time(began))
        # After a lookup, SUBMITTED again (stored once): the earlier attempt that sent the order had stored it.
        earlier = [] if stored else request.record.updates
        await self._record(RecordInput(order=acknowledged, updates=[*earlier, *updates]))
        return SubmitResult(snapshot=found, order=acknowledged)

    async def _look_up(self, gateway: BrokerGateway, order: BrokerOrder) -> OrderSnapshot | None:
        """The order under our client order id at the broker (an earlier attempt may have sent it)."""
        try:
            found = await gateway.get_order_by_client_id(order.client_order_id)
        except BrokerError as exc:
            raise self._broker_failure(order.connection_id, exc) from exc
        return _same_order(order, found) if found is not None else None

    async def _send(self, gateway: BrokerGateway, order: BrokerOrder) -> OrderSnapshot:
        try:
            return await gateway.submit_order(order)
        except BrokerDuplicateOrderError as exc:
            # The id is taken: an earlier attempt got through (or the id was used for another order).
            found = await self._look_up(gateway, order)
            if found is None:
                raise ApplicationError(f"{exc}; not visible yet, looking again", type="DuplicateNotVisible") from exc
            return found
        except BrokerError as exc:
            raise self._broker_failure(order.connection_id, exc) from exc

    def _broker_failure(self, connection_id: str | None, exc: BrokerError) -> ApplicationError:
        """The activity failure for a broker error. A 401 (a token the supervisor has refreshed since) also
        forgets this worker's session, or every later call here would fail the same way."""
        if isinstance(exc, BrokerAuthenticationError) and connection_id is not None:
            self._sessions.invalidate(connection_id)
        return broker_failure(exc)

    @activity.defn
    async def poll_order(self, request: PollInput) -> PollResult:
        """The broker's view of the live order (replacements followed) and its executions since `since`."""
        return await self._poll(request)

    async def _poll(self, request: PollInput, known: Order | None = None) -> PollResult:
        """The poll; `known` is the order as the workflow holds it (the last look of a finished order)."""
        gateway = await self._sessions.activity_gateway(request.connection_id)
        try:
            snapshot, replaced = await _live_order(gateway, request)
            fills_known = known is not None and _all_fills_known(known, snapshot)
            executions = await gateway.executions_since(request.since) if request.since and not fills_known else []
            fees = await gateway.fees_since(request.since) if request.since else []
        except BrokerError as exc:
            raise self._broker_failure(request.connection_id, exc) from exc
        ids = set(request.broker_order_ids) | {s.broker_order_id for s in replaced}
        ids |= {snapshot.broker_order_id} if snapshot else set()
        cid = request.client_order_id
        mine = [_rooted(e, cid) for e in executions if e.broker_order_id in ids or e.client_order_id == cid]
        my_fees = [_rooted_fee(f, cid) for f in fees if f.broker_order_id in ids or f.client_order_id == cid]
        healthy = await self._sessions.stream_healthy(request.connection_id)
        return PollResult(snapshot=snapshot, replaced=replaced, executions=mine, fees=my_fees, stream_healthy=healthy)

    @activity.defn
    async def record_outcome(self, request: OutcomeInput) -> OutcomeResult:
        """Execution metrics and anomaly rules of a finished order; alerts go to the alerts table and the sinks.
        The order's last changes (`request.record`) are stored first."""
        if request.record is not None:
            await self._record(request.record)
        released = request.record is not None and request.record.order.is_terminal
        return await self._outcome(request.order, released=released)

    async def _outcome(self, order: Order, released: bool = False) -> OutcomeResult:
        """`released`: the order was just recorded terminal, which released its reservation."""
        ledger = getattr(self._repos, "ledger", None)
        if ledger is not None and order.is_terminal and not released:
            await ledger.release(order.client_order_id, str(order.status))
        reader = history_for(self._repos)
        if reader is not None:  # one session for both reads
            executions, history = await reader.with_executions(order)
        else:
            executions, history = list(await self._repos.executions.list_for_order(order.client_order_id)), None
        try:
            metrics = execution_metrics(order, executions)
            alerts = detect_anomalies(order, executions, metrics, history=history)
        except Exception:  # pure code: a retry fails the same way, and the activity retries forever
            # A bug in the metrics or a rule must not keep the finished order's workflow open, retrying (the
            # records retry until PostgreSQL answers); the order and its fills are stored already.
            log.exception("metrics and anomaly rules failed on %s; the order finishes without them",
                          order.client_order_id)
            return OutcomeResult(metrics=None, alerts=[])
        details = {"metrics": metrics.model_dump(mode="json"), "client_order_id": order.client_order_id,
                   "connection_id": order.order.connection_id}
        raised = await store_alerts(stores_for(self._repos).alerts, alerts, details)
        await observed.order_outcome(self._repos.connections, order, metrics, raised)
        return OutcomeResult(metrics=metrics, alerts=[f"{a.severity} {a.kind}: {a.message}" for a in alerts])

    @activity.defn
    async def finish_order(self, request: FinishInput) -> FinishResult:
        """Store a finished order's last changes, take one last look at the broker (a fill after the cancel,
        fees posted as their own records) and, when it finds nothing new, record the outcome (metrics and
        anomaly rules). One activity instead of record, poll and outcome (patch `fold-records`)."""
        await self._record(request.record)
        order = request.record.order
        poll: PollResult | None = None
        if request.poll is not None:
            if request.settle_seconds > 0:
                await asyncio.sleep(request.settle_seconds)
            try:
                poll = await self._poll(request.poll, known=order)
            except (ApplicationError, BrokerError) as exc:  # as before: a failed last look is skipped
                log.warning("last look at %s failed: %s", order.client_order_id, exc)
        if poll is not None and _brings_news(order, poll, request.poll):
            return FinishResult(poll=poll)
        return FinishResult(poll=poll, outcome=await self._outcome(order, released=order.is_terminal))

    @activity.defn
    async def raise_order_alerts(self, request: OrderAlertsInput) -> list[str]:
        """Store and send the alerts a running order raised (each kind once per order); the new ones' kinds."""
        order = request.order
        details = {"client_order_id": order.client_order_id, "connection_id": order.order.connection_id,
                   "status": str(order.status), "filled_quantity": str(order.filled_quantity)}
        alerts = [spec.to_alert() for spec in request.alerts]
        raised = await store_alerts(stores_for(self._repos).alerts, alerts, details)
        for alert in raised:
            observed.alert_raised(f"order_{alert.kind.lower()}", str(alert.severity))
        return [a.kind for a in raised]

    @activity.defn
    async def cancel_order(self, request: CancelInput) -> None:
        """Ask the broker to cancel; the outcome arrives as events or on the next poll."""
        gateway = await self._sessions.activity_gateway(request.connection_id)
        try:
            await gateway.cancel_order(request.broker_order_id)
        except BrokerError as exc:
            raise self._broker_failure(request.connection_id, exc) from exc

    @activity.defn
    async def replace_order(self, request: ReplaceInput) -> OrderSnapshot:
        """Replace the order's terms; the broker answers with the new order.

        A lost answer is not retried here: the workflow resolves it with a poll, which follows the old
        order's `replaced_by`, so a second replace is never sent for one amend.
        """
        gateway = await self._sessions.activity_gateway(request.connection_id)
        terms = await self._check_amended(gateway, request)
        try:
            replaced = await gateway.replace_order(request.broker_order_id, request.amendment)
        except AmbiguousOutcomeError as exc:
            raise ApplicationError(str(exc), type=REPLACE_OUTCOME_UNKNOWN, non_retryable=True) from exc
        except BrokerError as exc:
            raise self._broker_failure(request.connection_id, exc) from exc
        if terms is not None:  # the broker took the new terms: the reservation follows them
            await terms.commit()
        return replaced

    async def _check_amended(self, gateway: BrokerGateway, request: ReplaceInput) -> _AmendedTerms | None:
        """Check the amended order against the account before the broker sees it; returns what moving its
        reservation to the new terms takes (done once the broker accepts them)."""
        ledger = getattr(self._repos, "ledger", None)
        amended = request.amended
        if ledger is None or amended is None:
            return None
        try:
            reference = await gateway.latest_price(amended.symbol)
        except BrokerError as exc:
            raise self._broker_failure(request.connection_id, exc) from exc
        price, fees = _price_and_fees(gateway, amended, reference)
        today = market_date(self._sessions.clock.now())
        try:
            await ledger.amend(amended, price, fees, today, commit=False)
        except PreTradeRejectedError as exc:
            raise ApplicationError(f"pre-trade: {exc}", type=PRE_TRADE_REFUSED, non_retryable=True) from exc
        return _AmendedTerms(ledger, amended, price, fees, today)


def _price_and_fees(gateway: BrokerGateway, order: BrokerOrder, reference: Decimal | None) -> tuple[Decimal, Decimal]:
    """The price buying power is checked at (the quote, else the order's own prices) and our fee estimate."""
    price = reference or order.price or order.stop_price or Decimal("0")
    fees = estimate_fees(schedule_for(gateway.broker, order.asset_class), order.side, order.quantity,
                         order.price or price, order.asset_class)
    return price, fees.total


@dataclass(frozen=True)
class _AmendedTerms:
    """An amend checked against the account; `commit` moves the order's reservation to its terms."""

    ledger: AccountLedgerRepository
    order: BrokerOrder
    reference_price: Decimal
    fees: Decimal
    today: date

    async def commit(self) -> None:
        await self.ledger.amend(self.order, self.reference_price, self.fees, self.today, commit=True)


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


def _time_left_to_send(storing: float) -> None:
    """Send only if storing the order took less than a third of this attempt's start-to-close timeout. An
    attempt that times out keeps running while the next one starts, looks the order up, finds nothing and
    sends: a slow store before the POST (PostgreSQL restarting) must not leave two attempts sending at once.
    Too slow: fail this attempt, unsent; the next one looks up, stores (once, quickly now) and sends."""
    limit = activity.info().start_to_close_timeout
    spent = time.monotonic() - storing
    if limit is not None and spent > limit.total_seconds() / 3:
        raise ApplicationError(f"stored but not sent: storing took {spent:.1f} s of this attempt's "
                               f"{limit.total_seconds():.0f} s; the next attempt sends it", type="SubmitDeferred")


def _server_time(began: float) -> datetime:
    """Now on the Temporal server's clock (the workflow's): this attempt's start plus the time it took."""
    return activity.info().started_time + timedelta(seconds=time.monotonic() - began)


def _all_fills_known(order: Order, snapshot: OrderSnapshot | None) -> bool:
    """Whether the order can have no fill we do not know: FILLED for its whole quantity, and the broker shows no
    more than that (a replaced order's snapshot counts the replacement's fills only: less). Its last look then
    asks for the fees the broker posts as their own records, not for executions."""
    return (order.status is OrderStatus.FILLED and order.filled_quantity >= order.order.quantity
            and snapshot is not None and snapshot.filled_quantity <= order.filled_quantity)


def _brings_news(order: Order, poll: PollResult, request: PollInput | None) -> bool:
    """Whether a poll would change the finished order (tried on a copy, as the workflow applies it)."""
    known = set(request.broker_order_ids) if request is not None else set()
    live = poll.snapshot
    if poll.replaced or (live is not None and live.broker_order_id not in known):
        return True
    probe = order.model_copy(deep=True)
    try:
        if any(apply_execution_once(probe, report)[0] for report in poll.executions):
            return True
        if any(probe.apply_fee(fee) for fee in poll.fees):
            return True
        return live is not None and bool(apply_snapshot_status(probe, live, probe.updated_at))
    except DomainError:
        return True


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
