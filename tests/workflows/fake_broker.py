"""A scripted in-memory broker behind the BrokerGateway port, for workflow tests (no network)."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal

from domain.broker_integration import (
    AmbiguousOutcomeError,
    BrokerAccount,
    BrokerCapabilities,
    BrokerDuplicateOrderError,
    BrokerOrder,
    BrokerOrderNotFoundError,
    BrokerRejectedError,
    ConnectionCredentials,
    ExecutionReport,
    FeeReport,
    OrderAmendment,
    OrderSnapshot,
    OrderStatus,
    Position,
    SessionInfo,
    TradeEvent,
)

S = OrderStatus


class FakeBroker:
    """Orders rest until the test fills them; every submission the broker saw is kept in `received`."""

    broker = "fakebroker"

    def __init__(self) -> None:
        self.received: list[BrokerOrder] = []
        self.orders: dict[str, OrderSnapshot] = {}
        self.terms: dict[str, BrokerOrder] = {}
        self.fills: list[ExecutionReport] = []
        self.submit_calls = 0
        self.fees: list[FeeReport] = []
        self.ids = itertools.count(1)
        self.price = Decimal("100")
        self.auto_fill_market = True
        self.drop_next_response = False
        self.refuse_cancel = False
        self.drop_replace_response = False  # the replace happens, its answer is lost
        self.replace_unreachable = False  # the replace never arrives, and the caller cannot tell
        self.replaces: list[tuple[str, str]] = []
        self.account = BrokerAccount(
            account_id="ACC1", connection_id="conn-1", account_number="FB0001", account_type="MARGIN",
            cash=Decimal("100000"), settled_cash=Decimal("100000"), equity=Decimal("100000"),
            buying_power=Decimal("200000"), positions={"MSFT": Position(symbol="MSFT", quantity=Decimal("50"))},
        )

    def now(self) -> datetime:
        return datetime.now(UTC)

    def capabilities(self) -> BrokerCapabilities:
        return BrokerCapabilities(broker=self.broker, supports_fractional=True)

    async def authenticate(self, credentials: ConnectionCredentials) -> SessionInfo:
        return SessionInfo(account_numbers=["FB0001"])

    async def submit_order(self, order: BrokerOrder) -> OrderSnapshot:
        self.submit_calls += 1
        if any(o.client_order_id == order.client_order_id for o in self.orders.values()):
            raise BrokerDuplicateOrderError("client_order_id must be unique", status_code=422, code="duplicate")
        self.received.append(order)
        bid = f"B{next(self.ids)}"
        snap = OrderSnapshot(broker_order_id=bid, client_order_id=order.client_order_id, status=S.ACCEPTED,
                             symbol=order.symbol, quantity=order.quantity, limit_price=order.price,
                             submitted_at=self.now())
        self.orders[bid] = snap
        self.terms[bid] = order
        if order.order_type == "MARKET" and self.auto_fill_market:
            self.fill(bid, order.quantity)
        if self.drop_next_response:
            self.drop_next_response = False
            raise AmbiguousOutcomeError("read timeout after sending")
        return self.orders[bid]

    def fill(self, bid: str, quantity: Decimal | int, price: Decimal | None = None) -> ExecutionReport:
        snap = self.orders[bid]
        quantity = Decimal(quantity)
        total = snap.filled_quantity + quantity
        status = S.FILLED if total == snap.quantity else S.PARTIALLY_FILLED
        if snap.status in (S.CANCELED, S.EXPIRED):
            status = S.FILLED if total == snap.quantity else snap.status
        report = ExecutionReport(
            execution_id=f"X{len(self.fills) + 1}", client_order_id=snap.client_order_id, broker_order_id=bid,
            connection_id="conn-1", symbol=snap.symbol, side=self.terms[bid].side, quantity=quantity,
            price=price or self.price, executed_at=self.now(), fees=Decimal("0.01"),
        )
        self.fills.append(report)
        if report.side == "SELL":  # the SEC fee, charged as its own activity
            self.fees.append(FeeReport(fee_id=f"F{len(self.fees) + 1}", client_order_id=snap.client_order_id,
                                       broker_order_id=bid, connection_id="conn-1", kind="SEC_FEE",
                                       amount=Decimal("0.03"), charged_at=report.executed_at))
        self.orders[bid] = snap.model_copy(update={"filled_quantity": total, "status": status,
                                                   "filled_avg_price": price or self.price})
        return report

    def by_client(self, client_order_id: str) -> OrderSnapshot | None:
        found = [o for o in self.orders.values() if o.client_order_id == client_order_id]
        return found[-1] if found else None

    async def get_order_by_client_id(self, client_order_id: str) -> OrderSnapshot | None:
        return self.by_client(client_order_id)

    async def get_order(self, broker_order_id: str) -> OrderSnapshot:
        if broker_order_id not in self.orders:
            raise BrokerOrderNotFoundError(broker_order_id)
        return self.orders[broker_order_id]

    async def cancel_order(self, broker_order_id: str) -> None:
        snap = self.orders[broker_order_id]
        if self.refuse_cancel or snap.status in (S.FILLED, S.CANCELED) or snap.replaced_by is not None:
            raise BrokerRejectedError(f"order is {snap.status}", status_code=422)
        self.orders[broker_order_id] = snap.model_copy(update={"status": S.CANCELED})

    async def replace_order(self, broker_order_id: str, amendment: OrderAmendment) -> OrderSnapshot:
        """Like Alpaca behind the adapter: the old order is `replaced` (working, with `replaced_by`), the new
        one starts unfilled with what is left to fill; a replaced order is answered with its replacement."""
        old = self.orders[broker_order_id]
        if old.replaced_by is not None:
            return self.orders[old.replaced_by]
        if self.replace_unreachable:
            raise AmbiguousOutcomeError("connection reset before the replace reached the broker")
        if old.status.is_terminal:
            raise BrokerRejectedError("order is not open", status_code=422)
        bid = f"B{next(self.ids)}"
        terms = self.terms[broker_order_id]
        new_terms = terms.model_copy(update={
            "quantity": amendment.quantity or terms.quantity, "price": amendment.limit_price or terms.price,
        })
        self.terms[bid] = new_terms
        self.replaces.append((broker_order_id, bid))
        # Alpaca's `replaced` maps to a working status; the order lives on under `replaced_by`.
        working = S.PARTIALLY_FILLED if old.filled_quantity > 0 else S.ACCEPTED
        self.orders[broker_order_id] = old.model_copy(update={"status": working, "replaced_by": bid})
        self.orders[bid] = old.model_copy(update={
            "broker_order_id": bid, "client_order_id": old.client_order_id + "-r",
            "quantity": new_terms.quantity - old.filled_quantity, "limit_price": new_terms.price,
            "replaces": broker_order_id, "replaced_by": None, "status": S.ACCEPTED,
            "filled_quantity": Decimal("0"), "filled_avg_price": None,
        })
        if self.drop_replace_response:
            self.drop_replace_response = False
            raise AmbiguousOutcomeError("read timeout after sending the replace")
        return self.orders[bid]

    async def list_open_orders(self) -> list[OrderSnapshot]:
        return [o for o in self.orders.values() if not o.status.is_terminal]

    async def get_account(self, account_number: str | None = None) -> BrokerAccount:
        return self.account

    async def get_positions(self, account_number: str | None = None) -> list[Position]:
        return list(self.account.positions.values())

    async def executions_since(self, since: datetime) -> list[ExecutionReport]:
        return [f for f in self.fills if f.executed_at >= since]

    async def fees_since(self, since: datetime) -> list[FeeReport]:
        return [f for f in self.fees if f.charged_at >= since]

    async def latest_price(self, symbol: str) -> Decimal | None:
        return self.price

    async def trade_updates(self) -> AsyncIterator[TradeEvent]:  # pragma: no cover - the stream is not faked
        if False:
            yield

    async def close(self) -> None:
        return None

