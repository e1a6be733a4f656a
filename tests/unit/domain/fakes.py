"""In-memory twins of the repositories and a scripted BrokerGateway, for unit tests of services."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from domain.broker_integration import (
    AmbiguousOutcomeError,
    BrokerAccount,
    BrokerCapabilities,
    BrokerConnection,
    BrokerGateway,
    BrokerOrder,
    BrokerRejectedError,
    ConnectionCredentials,
    ExecutionReport,
    FeeReport,
    Order,
    OrderAmendment,
    OrderSnapshot,
    OrderStatus,
    OrderStatusUpdate,
    Position,
    SessionInfo,
    TradeEvent,
)
from domain.broker_integration.order_state import OPEN_STATUSES


class FakeClock:
    def __init__(self, start: datetime = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)) -> None:
        self.current = start

    def now(self) -> datetime:
        self.current += timedelta(milliseconds=5)
        return self.current


class FakeConnections:
    def __init__(self) -> None:
        self.items: dict[str, BrokerConnection] = {}
        self.creds: dict[str, ConnectionCredentials] = {}

    async def get(self, connection_id: str) -> BrokerConnection | None:
        item = self.items.get(connection_id)
        return None if item is None else item.model_copy(deep=True)

    async def save(self, connection: BrokerConnection) -> None:
        self.items[connection.connection_id] = connection.model_copy(deep=True)

    async def list(self) -> Sequence[BrokerConnection]:
        return list(self.items.values())

    async def save_credentials(self, connection_id: str, credentials: ConnectionCredentials) -> None:
        self.creds[connection_id] = credentials

    async def get_credentials(self, connection_id: str) -> ConnectionCredentials | None:
        return self.creds.get(connection_id)


class FakeOrders:
    def __init__(self) -> None:
        self.items: dict[str, Order] = {}

    async def get(self, client_order_id: str) -> Order | None:
        item = self.items.get(client_order_id)
        return None if item is None else item.model_copy(deep=True)

    async def get_by_broker_order_id(self, broker_order_id: str) -> Order | None:
        for item in self.items.values():
            if item.broker_order_id == broker_order_id:
                return item.model_copy(deep=True)
        return None

    async def save(self, order: Order) -> None:
        self.items[order.client_order_id] = order.model_copy(deep=True)

    async def list_by_status(self, statuses: Sequence[OrderStatus], limit: int = 100) -> Sequence[Order]:
        return [o for o in self.items.values() if o.status in statuses][:limit]

    async def open_at_connection(self, connection_id: str) -> dict[str, Decimal]:
        return {o.broker_order_id: o.filled_quantity for o in self.items.values()
                if o.broker_order_id and o.order.connection_id == connection_id and o.status in OPEN_STATUSES}


class FakeExecutions:
    def __init__(self) -> None:
        self.items: dict[tuple[str | None, str], ExecutionReport] = {}

    async def add(self, report: ExecutionReport) -> bool:
        key = (report.connection_id, report.execution_id)
        if key in self.items:
            return False
        self.items[key] = report
        return True

    async def list_for_order(self, client_order_id: str) -> Sequence[ExecutionReport]:
        found = [r for r in self.items.values() if r.client_order_id == client_order_id]
        return sorted(found, key=lambda r: r.executed_at)


class FakeFees:
    def __init__(self) -> None:
        self.items: dict[str, FeeReport] = {}

    async def add(self, fee: FeeReport) -> bool:
        if fee.fee_id in self.items:
            return False
        self.items[fee.fee_id] = fee
        return True

    async def list_for_order(self, client_order_id: str) -> list[FeeReport]:
        return [f for f in self.items.values() if f.client_order_id == client_order_id]


class FakeStatuses:
    def __init__(self) -> None:
        self.items: dict[tuple[str, int], OrderStatusUpdate] = {}

    async def append(self, update: OrderStatusUpdate) -> bool:
        key = (update.client_order_id, update.sequence)
        if key in self.items:
            return False
        self.items[key] = update
        return True

    async def history(self, client_order_id: str) -> Sequence[OrderStatusUpdate]:
        return sorted((u for u in self.items.values() if u.client_order_id == client_order_id),
                      key=lambda u: u.sequence)


class FakeGateway:
    """A scripted broker: records every submission it saw; fills market orders at `price`."""

    def __init__(self, clock: FakeClock, price: Decimal = Decimal("100")) -> None:
        self.clock = clock
        self.price = price
        self.received: list[BrokerOrder] = []
        self.orders: dict[str, OrderSnapshot] = {}
        self.fills: list[ExecutionReport] = []
        self.fail_next_submit: Exception | None = None
        self.drop_response = False
        self.account = BrokerAccount(
            account_id="ACC1", connection_id="conn-1", account_number="PA0001", account_type="MARGIN",
            cash=Decimal("10000"), settled_cash=Decimal("10000"), equity=Decimal("10000"),
            buying_power=Decimal("20000"), positions={"MSFT": Position(symbol="MSFT", quantity=Decimal("5"))},
        )

    @property
    def broker(self) -> str:
        return "fake"

    def capabilities(self) -> BrokerCapabilities:
        return BrokerCapabilities(broker="fake", supports_fractional=False)

    async def authenticate(self, credentials: ConnectionCredentials) -> SessionInfo:
        if credentials.api_key != "good":
            raise BrokerRejectedError("bad key", status_code=401)
        return SessionInfo(expires_at=None, account_numbers=["PA0001"])

    async def submit_order(self, order: BrokerOrder) -> OrderSnapshot:
        if self.fail_next_submit is not None:
            exc, self.fail_next_submit = self.fail_next_submit, None
            raise exc
        self.received.append(order)
        snapshot = OrderSnapshot(
            broker_order_id=f"B{len(self.received)}", client_order_id=order.client_order_id,
            status=OrderStatus.ACCEPTED, symbol=order.symbol, quantity=order.quantity,
        )
        if order.order_type == "MARKET":
            self.fills.append(ExecutionReport(
                execution_id=f"X{len(self.received)}", client_order_id=order.client_order_id,
                broker_order_id=snapshot.broker_order_id, connection_id="conn-1", symbol=order.symbol,
                side=order.side, quantity=order.quantity, price=self.price, executed_at=self.clock.now(),
                commission=Decimal("0"), fees=Decimal("0.03"),
            ))
            snapshot = snapshot.model_copy(update={"status": OrderStatus.FILLED, "filled_quantity": order.quantity,
                                                   "filled_avg_price": self.price})
        self.orders[order.client_order_id] = snapshot
        if self.drop_response:
            self.drop_response = False
            raise AmbiguousOutcomeError("read timeout after sending")
        return snapshot

    async def get_order_by_client_id(self, client_order_id: str) -> OrderSnapshot | None:
        return self.orders.get(client_order_id)

    async def get_order(self, broker_order_id: str) -> OrderSnapshot:
        return next(o for o in self.orders.values() if o.broker_order_id == broker_order_id)

    async def cancel_order(self, broker_order_id: str) -> None:
        return None

    async def replace_order(self, broker_order_id: str, amendment: OrderAmendment) -> OrderSnapshot:
        raise NotImplementedError

    async def list_open_orders(self) -> list[OrderSnapshot]:
        return [o for o in self.orders.values() if not o.status.is_terminal]

    async def get_account(self, account_number: str | None = None) -> BrokerAccount:
        return self.account

    async def get_positions(self, account_number: str | None = None) -> list[Position]:
        return list(self.account.positions.values())

    async def executions_since(self, since: datetime) -> list[ExecutionReport]:
        return [f for f in self.fills if f.executed_at >= since]

    async def fees_since(self, since: datetime) -> list[FeeReport]:
        return []

    async def latest_price(self, symbol: str) -> Decimal | None:
        return self.price

    async def trade_updates(self) -> AsyncIterator[TradeEvent]:  # pragma: no cover - not used here
        if False:
            yield

    async def close(self) -> None:
        return None


class FakeProvider:
    """Every connection gets the one scripted gateway."""

    def __init__(self, gateway: BrokerGateway) -> None:
        self.gateway = gateway

    def gateway_for(self, connection: BrokerConnection) -> BrokerGateway:
        return self.gateway
