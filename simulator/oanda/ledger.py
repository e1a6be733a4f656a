"""OANDA's view of the exchange: per-account transaction logs, orders numbered by their create transaction.

Every change an OANDA client sees is a transaction with the account's next id: the order's create
transaction (its id is the order id), each ORDER_FILL, ORDER_CANCEL, and the *_REJECT of refused requests.
Fills come from the core's events; an order being placed right now through this front end owns the core
events that arrive while the core handles it (a market order fills inside the request).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from simulator.core import Exchange, OrderStatus, Side, SimOrder, TradeEvent
from simulator.oanda.margin import MarginRates
from simulator.oanda.wire import money, price, ts, units

__all__ = ["USER_ID", "OandaLedger", "OandaOrder"]

USER_ID = 1000001
ZERO = Decimal(0)
_FILL_REASONS = {"market": "MARKET_ORDER", "limit": "LIMIT_ORDER", "stop": "STOP_ORDER"}


@dataclass
class OandaOrder:
    """One OANDA order: its id (its create transaction's), the request's terms, and the core order behind it."""

    id: str
    account_id: str
    type: str
    instrument: str
    units: Decimal
    time_in_force: str
    create_time: datetime
    price: Decimal | None = None
    gtd_time: str | None = None
    position_fill: str = "DEFAULT"
    client_extensions: dict[str, str] | None = None
    trade_client_extensions: dict[str, str] | None = None
    replaces_order_id: str | None = None
    core_id: str | None = None
    state: str = "PENDING"
    filling_transaction_id: str | None = None
    filled_time: datetime | None = None
    trade_opened_id: str | None = None
    cancelling_transaction_id: str | None = None
    cancelled_time: datetime | None = None
    replaced_by_order_id: str | None = None
    cancel_reason: str | None = None

    @property
    def client_id(self) -> str | None:
        return (self.client_extensions or {}).get("id")


@dataclass
class AccountLog:
    transactions: list[dict[str, Any]] = field(default_factory=list)
    open_trades: dict[str, str] = field(default_factory=dict)  # instrument -> id of the trade last opened

    @property
    def last_id(self) -> str:
        return self.transactions[-1]["id"] if self.transactions else "0"


class OandaLedger:
    """Transactions and orders of the OANDA accounts of one exchange; publishes each new transaction."""

    def __init__(self, exchange: Exchange, publish: Callable[[str, dict[str, Any]], None],
                 margin: MarginRates | None = None) -> None:
        self.exchange = exchange
        self._publish = publish
        self.margin = margin or MarginRates({})
        self.logs: dict[str, AccountLog] = {}
        self.orders: dict[str, dict[str, OandaOrder]] = {}
        self._by_core: dict[str, OandaOrder] = {}
        self.pending: OandaOrder | None = None
        self.batch: str | None = None
        self.request_id = ""
        exchange.state.events.subscribe(self._on_event)

    # -- transactions -------------------------------------------------------------------------------------

    def log(self, account_id: str) -> AccountLog:
        """The account's log, opened with OANDA's CREATE and TRANSFER_FUNDS the first time it is read."""
        found = self.logs.get(account_id)
        if found is None:
            found = self.logs[account_id] = AccountLog()
            account = self.exchange.state.accounts[account_id]
            self.append(account_id, {"type": "CREATE", "divisionID": 1, "siteID": 101, "accountUserID": USER_ID,
                                     "accountNumber": 1, "homeCurrency": "USD"}, account.created_at)
            self.append(account_id, {"type": "TRANSFER_FUNDS", "amount": money(account.cash), "fundingReason":
                                     "CLIENT_FUNDING", "accountBalance": money(account.cash)}, account.created_at)
        return found

    def last_id(self, account_id: str) -> str:
        return self.log(account_id).last_id

    def next_id(self, account_id: str) -> str:
        return str(int(self.log(account_id).last_id) + 1)

    def append(self, account_id: str, body: dict[str, Any], at: datetime | None = None) -> dict[str, Any]:
        """Record a transaction (the common header added) and publish it."""
        log = self.logs[account_id]
        tx_id = str(int(log.last_id) + 1)
        account = self.exchange.state.accounts[account_id]
        header = {"id": tx_id, "time": ts(at or self.exchange.state.now()), "userID": USER_ID,
                  "accountID": account.number, "batchID": self.batch or tx_id, "requestID": self.request_id}
        transaction = {**header, **body}
        log.transactions.append(transaction)
        self._publish(account_id, transaction)
        return transaction

    def since(self, account_id: str, after: int) -> list[dict[str, Any]]:
        return [t for t in self.log(account_id).transactions if int(t["id"]) > after]

    # -- orders -------------------------------------------------------------------------------------------

    def create(self, order: OandaOrder, request: dict[str, Any]) -> dict[str, Any]:
        """Record the order's create transaction; the order takes its id."""
        body = {"type": f"{order.type}_ORDER", **request, "reason": "REPLACEMENT" if order.replaces_order_id
                else "CLIENT_ORDER"}
        if order.replaces_order_id:
            body["replacesOrderID"] = order.replaces_order_id
        self.batch = self.next_id(order.account_id)
        transaction = self.append(order.account_id, body)
        order.id = transaction["id"]
        self.orders.setdefault(order.account_id, {})[order.id] = order
        self.pending = order
        return transaction

    def done_placing(self) -> None:
        self.pending = None
        self.batch = None

    def link(self, order: OandaOrder, core_id: str) -> None:
        order.core_id = core_id
        self._by_core[core_id] = order

    def of_core(self, core_id: str) -> OandaOrder | None:
        found = self._by_core.get(core_id)
        if found is None and self.pending is not None and self.pending.core_id is None:
            self.link(self.pending, core_id)
            found = self.pending
        return found

    def find(self, account_id: str, specifier: str) -> OandaOrder | None:
        """An order by id, or by client id as `@<clientID>`."""
        orders = self.orders.get(account_id, {})
        if specifier.startswith("@"):
            wanted = specifier[1:]
            matches = [o for o in orders.values() if o.client_id == wanted]
            return matches[-1] if matches else None
        return orders.get(specifier)

    def client_id_taken(self, account_id: str, client_id: str) -> bool:
        return any(o.client_id == client_id for o in self.orders.get(account_id, {}).values())

    def of_account(self, account_id: str) -> list[OandaOrder]:
        return sorted(self.orders.get(account_id, {}).values(), key=lambda o: int(o.id), reverse=True)

    def core(self, order: OandaOrder) -> SimOrder | None:
        return None if order.core_id is None else self.exchange.state.orders.get(order.core_id)

    def filled_units(self, order: OandaOrder) -> Decimal:
        core = self.core(order)
        return ZERO if core is None else core.filled_qty

    # -- core events --------------------------------------------------------------------------------------

    def _on_event(self, event: TradeEvent) -> None:
        order = self.of_core(event.order.id)
        if order is None or order.account_id not in self.logs:
            return
        if event.execution_id is not None and event.qty is not None and event.price is not None:
            self._fill(order, event)
        elif event.event in ("canceled", "expired", "rejected") and order.state == "PENDING":
            reason = order.cancel_reason or {"expired": "TIME_IN_FORCE_EXPIRED", "rejected": "MARKET_HALTED"}.get(
                event.event, "INSUFFICIENT_LIQUIDITY")
            self.cancelled(order, reason)

    def cancelled(self, order: OandaOrder, reason: str, replaced_by: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"type": "ORDER_CANCEL", "orderID": order.id, "reason": reason}
        if order.client_id:
            body["clientOrderID"] = order.client_id
        if replaced_by:
            body["replacedByOrderID"] = replaced_by
        transaction = self.append(order.account_id, body)
        order.state, order.cancelling_transaction_id = "CANCELLED", transaction["id"]
        order.cancelled_time, order.replaced_by_order_id = self.exchange.state.now(), replaced_by
        return transaction

    def _fill(self, order: OandaOrder, event: TradeEvent) -> None:
        assert event.qty is not None and event.price is not None
        state = self.exchange.state
        signed = event.qty if event.order.side is Side.BUY else -event.qty
        body = self._fill_body(order, event, signed)
        body.update(self._trade_effect(order, event, signed))
        transaction = self.append(order.account_id, body)
        if event.order.status is OrderStatus.FILLED:
            order.state, order.filling_transaction_id = "FILLED", transaction["id"]
            order.filled_time = state.now()
            order.trade_opened_id = transaction.get("tradeOpened", {}).get("tradeID")

    def _fill_body(self, order: OandaOrder, event: TradeEvent, signed: Decimal) -> dict[str, Any]:
        """ORDER_FILL's own fields: units, price, the quote it filled against, costs and the balance after."""
        assert event.qty is not None and event.price is not None
        state = self.exchange.state
        inst = state.instruments[order.instrument]
        tick = inst.spec.tick
        bid, ask = price(inst.bid, tick), price(inst.ask, tick)
        body: dict[str, Any] = {
            "type": "ORDER_FILL", "orderID": order.id, "instrument": order.instrument, "units": units(signed),
            "gainQuoteHomeConversionFactor": "1", "lossQuoteHomeConversionFactor": "1",
            "price": price(event.price, tick), "fullVWAP": price(event.price, tick),
            "fullPrice": {"type": "PRICE", "instrument": order.instrument, "time": ts(state.now()),
                          "bids": [{"price": bid, "liquidity": "10000000"}],
                          "asks": [{"price": ask, "liquidity": "10000000"}], "closeoutBid": bid, "closeoutAsk": ask},
            "reason": _FILL_REASONS.get(event.order.type.value, "MARKET_ORDER"), "pl": "0.0000",
            "financing": "0.0000", "commission": money(event.order.commission), "guaranteedExecutionFee": "0.0000",
            "accountBalance": money(state.accounts[order.account_id].cash),
            "halfSpreadCost": money(inst.half_spread * event.qty),
        }
        if order.client_id:
            body["clientOrderID"] = order.client_id
        return body

    def _trade_effect(self, order: OandaOrder, event: TradeEvent, signed: Decimal) -> dict[str, Any]:
        """`tradeOpened` when the fill opens or adds, `tradeReduced` / `tradesClosed` when it reduces or closes."""
        assert event.qty is not None and event.price is not None
        state = self.exchange.state
        inst, account = state.instruments[order.instrument], state.accounts[order.account_id]
        log = self.logs[order.account_id]
        tx_id = str(int(log.last_id) + 1)  # the fill's own id: it names the trade it opens
        held = event.position_qty if event.position_qty is not None else ZERO
        before = held - signed
        common = {"units": units(signed), "price": price(event.price, inst.spec.tick),
                  "guaranteedExecutionFee": "0.0000", "halfSpreadCost": money(inst.half_spread * event.qty)}
        if before == 0 or (before > 0) == (signed > 0):
            log.open_trades[order.instrument] = tx_id
            rate = self.margin.effective(account, order.instrument)
            opened: dict[str, Any] = {"tradeID": tx_id, **common,
                                      "initialMarginRequired": money(abs(signed) * event.price * rate)}
            if order.trade_client_extensions:
                opened["clientExtensions"] = order.trade_client_extensions
            return {"tradeOpened": opened}
        closing = {"tradeID": log.open_trades.get(order.instrument, tx_id), **common, "realizedPL": "0.0000",
                   "financing": "0.0000"}
        return {"tradesClosed": [closing]} if held == 0 else {"tradeReduced": closing}
