"""Domain services: connection lifecycle and order execution, through ports and repositories."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal

from pydantic import BaseModel

from . import runtime
from .entities import BrokerConnection
from .errors import ConnectionNotReadyError, InvalidOrderError, NotFoundError, PreTradeRejectedError
from .order import Order
from .order_state import OrderStatus
from .ports import (
    AmbiguousOutcomeError,
    BrokerAuthenticationError,
    BrokerError,
    BrokerGateway,
    BrokerRejectedError,
    BrokerUnavailableError,
    Clock,
    ConnectionSupervisor,
    GatewayProvider,
    OrderSnapshot,
)
from .reconcile import apply_snapshot_status
from .repositories import (
    BrokerConnectionRepository,
    ExecutionReportRepository,
    FeeReportRepository,
    OrderExecutionRepository,
    OrderStatusRepository,
)
from .rules.buying_power import check_pre_trade
from .rules.metrics import ExecutionMetrics, execution_metrics
from .rules.validation import capability_problems
from .value_objects import BrokerOrder, ConnectionCredentials, ExecutionReport, OrderStatusUpdate

__all__ = ["BrokerConnectionManager", "OrderExecutionManager", "OrderState", "SubmissionResult"]


class SubmissionResult(BaseModel):
    """What became of a submission: accepted (with the broker's id) or rejected (with the reason)."""

    client_order_id: str
    broker_order_id: str | None
    status: OrderStatus
    accepted: bool
    reason: str | None = None


class OrderState(BaseModel):
    """An order's current state, as get_order_status returns it."""

    client_order_id: str
    broker_order_id: str | None
    symbol: str
    status: OrderStatus
    quantity: Decimal
    filled_quantity: Decimal
    remaining_quantity: Decimal
    avg_fill_price: Decimal | None
    commission: Decimal
    fees: Decimal
    reason: str | None


class BrokerConnectionManager:
    """Connection lifecycle: register, authenticate (rule 1), disconnect."""

    def __init__(
        self,
        connection_repository: BrokerConnectionRepository,
        gateways: GatewayProvider | None = None,
        clock: Clock | None = None,
        supervisor: ConnectionSupervisor | None = None,
    ) -> None:
        self._connections = connection_repository
        self._gateways = gateways
        self._clock = clock
        self._supervisor = supervisor

    def _now_clock(self) -> Clock:
        return self._clock or runtime.default_clock()

    def _provider(self) -> GatewayProvider:
        return self._gateways or runtime.default_gateways()

    async def register_connection(
        self, connection: BrokerConnection, credentials: ConnectionCredentials
    ) -> BrokerConnection:
        """Store a connection and its credentials (encrypted by the repository)."""
        await self._connections.save(connection)
        await self._connections.save_credentials(connection.connection_id, credentials)
        return connection

    async def get_connection(self, connection_id: str) -> BrokerConnection:
        """The connection, or NotFoundError."""
        connection = await self._connections.get(connection_id)
        if connection is None:
            raise NotFoundError(f"connection {connection_id!r} is not registered")
        return connection

    async def establish_connection(self, connection_id: str) -> bool:
        """Authenticate with the broker; True when the connection is usable afterwards."""
        connection = await self.get_connection(connection_id)
        credentials = await self._connections.get_credentials(connection_id)
        clock = self._now_clock()
        connection.begin_connect(clock.now())
        if credentials is None:
            connection.record_failure(clock.now(), "no credentials stored")
            await self._connections.save(connection)
            return False
        try:
            session = await self._provider().gateway_for(connection).authenticate(credentials)
        except BrokerError as exc:
            connection.record_failure(clock.now(), f"authentication failed: {type(exc).__name__}: {exc}")
            await self._connections.save(connection)
            return False
        connection.authenticated(clock.now(), session.expires_at)
        await self._connections.save(connection)
        supervisor = self._supervisor or runtime.default_supervisor()
        if supervisor is not None:
            await supervisor.ensure_supervised(connection_id)
        return True

    async def disconnect(self, connection_id: str, reason: str | None = None) -> None:
        """Close the connection's session."""
        connection = await self.get_connection(connection_id)
        connection.disconnect(self._now_clock().now(), reason)
        await self._connections.save(connection)


class OrderExecutionManager:
    """Validate, submit exactly once, follow and report orders through a BrokerGateway."""

    def __init__(
        self,
        order_repository: OrderExecutionRepository,
        execution_repository: ExecutionReportRepository,
        status_repository: OrderStatusRepository,
        connection_repository: BrokerConnectionRepository,
        gateways: GatewayProvider | None = None,
        clock: Clock | None = None,
        default_connection_id: str | None = None,
        fee_repository: FeeReportRepository | None = None,
    ) -> None:
        self._fees = fee_repository
        self._orders = order_repository
        self._executions = execution_repository
        self._statuses = status_repository
        self._connections = connection_repository
        self._gateways = gateways
        self._clock = clock
        self._default_connection_id = default_connection_id

    def _now(self) -> datetime:
        return (self._clock or runtime.default_clock()).now()

    async def _connection_for(self, order: BrokerOrder) -> BrokerConnection:
        connection_id = order.connection_id or self._default_connection_id
        if connection_id is None:
            connections = list(await self._connections.list())
            if len(connections) != 1:
                raise ConnectionNotReadyError(
                    f"order {order.client_order_id} names no connection and {len(connections)} are registered"
                )
            return connections[0]
        connection = await self._connections.get(connection_id)
        if connection is None:
            raise NotFoundError(f"connection {connection_id!r} is not registered")
        return connection

    async def _gateway(self, order: BrokerOrder) -> BrokerGateway:
        connection = await self._connection_for(order)
        connection.ensure_usable(self._now())
        return (self._gateways or runtime.default_gateways()).gateway_for(connection)

    async def _record(self, order: Order, updates: Sequence[OrderStatusUpdate | None]) -> None:
        await self._orders.save(order)
        for update in updates:
            if update is not None:
                await self._statuses.append(update)

    async def submit_order(self, order: BrokerOrder) -> SubmissionResult:
        """Validate, check the account, and submit once; a repeated submission returns the first outcome."""
        existing = await self._orders.get(order.client_order_id)
        if existing is not None:
            return _result(existing)
        gateway = await self._gateway(order)
        problems = capability_problems(order, gateway.capabilities())
        if problems:
            raise InvalidOrderError(problems)
        account = await gateway.get_account(order.account_id)
        reference = await _reference_price(gateway, order)
        tracked = Order.create(order, self._now(), reference_price=reference)
        try:
            check_pre_trade(order, account, reference or order.price or order.stop_price or Decimal("0"))
        except PreTradeRejectedError as exc:
            await self._record(tracked, [tracked.reject(f"pre-trade: {exc}", self._now())])
            return _result(tracked)
        await self._record(tracked, [tracked.submit(self._now())])
        snapshot = await self._submit_once(gateway, tracked)
        if snapshot is not None:
            await self._apply_snapshot(gateway, tracked, snapshot)
        return _result(tracked)

    async def _submit_once(self, gateway: BrokerGateway, tracked: Order) -> OrderSnapshot | None:
        """Submit; on an unknown outcome look the order up by client order id before trying again."""
        for _attempt in range(3):
            try:
                return await gateway.submit_order(tracked.order)
            except BrokerRejectedError as exc:
                await self._record(tracked, [tracked.reject(str(exc), self._now())])
                return None
            except (AmbiguousOutcomeError, BrokerUnavailableError, BrokerAuthenticationError):
                found = await gateway.get_order_by_client_id(tracked.client_order_id)
                if found is not None:
                    return found
        raise BrokerUnavailableError(f"order {tracked.client_order_id}: broker unreachable, order not placed")

    async def _apply_snapshot(self, gateway: BrokerGateway, tracked: Order, snapshot: OrderSnapshot) -> None:
        now = self._now()
        updates: list[OrderStatusUpdate | None] = []
        if tracked.status is OrderStatus.SUBMITTED:
            updates.append(tracked.accept(snapshot.broker_order_id, now, snapshot.submitted_at))
        since = snapshot.submitted_at or tracked.submitted_at  # the broker's clock first
        if snapshot.filled_quantity > tracked.filled_quantity and since is not None:
            for report in await gateway.executions_since(since - timedelta(seconds=30)):
                if report.client_order_id == tracked.client_order_id:
                    updates.append(await self._apply_execution(tracked, report))
            for fee in await gateway.fees_since(since - timedelta(seconds=30)):
                if fee.client_order_id == tracked.client_order_id and tracked.apply_fee(fee) and self._fees:
                    await self._fees.add(fee)
        updates += apply_snapshot_status(tracked, snapshot, now)
        await self._record(tracked, updates)

    async def _apply_execution(self, tracked: Order, report: ExecutionReport) -> OrderStatusUpdate | None:
        if report.execution_id in tracked.execution_ids:
            return None
        update = tracked.apply_execution(report)
        await self._executions.add(report)
        return update

    async def _tracked(self, order_id: str) -> Order:
        order = await self._orders.get(order_id) or await self._orders.get_by_broker_order_id(order_id)
        if order is None:
            raise NotFoundError(f"order {order_id!r} is unknown")
        return order

    async def get_order_status(self, order_id: str) -> OrderState:
        """Current state by client or broker order id, refreshed from the broker while the order is open."""
        tracked = await self._tracked(order_id)
        if not tracked.is_terminal and tracked.broker_order_id is not None:
            gateway = await self._gateway(tracked.order)
            await self._apply_snapshot(gateway, tracked, await gateway.get_order(tracked.broker_order_id))
        return _state(tracked)

    async def get_execution_history(self, order_id: str) -> list[ExecutionReport]:
        """Every execution of the order, oldest first."""
        tracked = await self._tracked(order_id)
        return list(await self._executions.list_for_order(tracked.client_order_id))

    async def get_execution_metrics(self, order_id: str) -> ExecutionMetrics:
        """Latency, slippage against the arrival price, fill rate, average price, commission and fees (in total
        and per share) of the order, with the broker it went to."""
        tracked = await self._tracked(order_id)
        metrics = execution_metrics(tracked, await self._executions.list_for_order(tracked.client_order_id))
        try:
            connection = await self._connection_for(tracked.order)
        except (ConnectionNotReadyError, NotFoundError):  # the connection is gone (or ambiguous): no broker name
            return metrics
        return metrics.model_copy(update={"broker": connection.broker, "connection_id": connection.connection_id})


async def _reference_price(gateway: BrokerGateway, order: BrokerOrder) -> Decimal | None:
    price = await gateway.latest_price(order.symbol)
    return price or order.price or order.stop_price


def _result(order: Order) -> SubmissionResult:
    return SubmissionResult(
        client_order_id=order.client_order_id,
        broker_order_id=order.broker_order_id,
        status=order.status,
        accepted=order.status is not OrderStatus.REJECTED,
        reason=order.reason,
    )


def _state(order: Order) -> OrderState:
    return OrderState(
        client_order_id=order.client_order_id,
        broker_order_id=order.broker_order_id,
        symbol=order.order.symbol,
        status=order.status,
        quantity=order.order.quantity,
        filled_quantity=order.filled_quantity,
        remaining_quantity=order.remaining_quantity,
        avg_fill_price=order.avg_fill_price,
        commission=order.commission,
        fees=order.fees,
        reason=order.reason,
    )
