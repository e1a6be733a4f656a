"""Hostile broker payloads for Tradier, OANDA and ccxt: each adapter answers with its typed error or a sane report.

The same idea as test_fuzz_broker_responses.py (Alpaca): recorded payloads (tests/resources/<broker>) are
mutated field by field, nested objects included, with hostile values (wrong types, NaN and infinities, huge
and negative numbers, malformed timestamps, unicode, missing and extra keys). Every case must end either in
the adapter's typed error (TradierError, OandaError, CcxtError) or in a sane domain report: finite decimals
within range, non-negative quantities and prices, fills no larger than the order, aware UTC datetimes.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import ccxt.async_support as ccxt
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from brokers.ccxt import parsing as cparsing
from brokers.ccxt.client import MarketRules
from brokers.ccxt.errors import CcxtError, CcxtProtocolError
from brokers.oanda import fills as ofills
from brokers.oanda import parsing as oparsing
from brokers.oanda.errors import OandaError, OandaProtocolError
from brokers.oanda.margin import instrument_margin_rates, with_margin_terms
from brokers.oanda.schemas import OandaAccountSummary, OandaOrder, OandaPosition, OandaTransaction
from brokers.oanda.schemas import validated as ovalidated
from brokers.tradier import parsing as tparsing
from brokers.tradier.errors import TradierError, TradierProtocolError
from brokers.tradier.feed import _snapshot as tradier_event_snapshot
from brokers.tradier.fills import FillLedger as TradierLedger
from brokers.tradier.fills import OrderInfo as TradierInfo
from brokers.tradier.schemas import (
    TradierAccountEvent,
    TradierBalances,
    TradierOrder,
    TradierPosition,
    TradierQuote,
    items,
)
from brokers.tradier.schemas import validated as tvalidated
from domain.broker_integration import OrderSide, OrderStatus
from domain.broker_integration.entities import BrokerAccount
from domain.broker_integration.ports import OrderSnapshot
from domain.broker_integration.value_objects import ExecutionReport

RESOURCES = Path(__file__).resolve().parents[1] / "resources"
LIMIT = Decimal(10) ** 15
NOW = datetime(2026, 3, 2, 16, tzinfo=UTC)


def load(broker: str, name: str) -> Any:
    return json.loads((RESOURCES / broker / name).read_text())


# Hostile values (the same families as the Alpaca fuzz test).
json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=30)
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=8)
hostile_numbers = st.sampled_from(["NaN", "nan", "sNaN", "Infinity", "-Infinity", "inf", "1e999999", "-1e999999",
                                   "1e-999999", "-5", "-0.0001", "0", "1" * 400, "12,5", "", " ", "0x10", "1_000",
                                   "\u0661\u0662\u0663", "\uff11\uff12", "1e18", "99999999999999999999.5",
                                   "1e9999999999", "1E+1000000000"])
hostile_floats = st.sampled_from([float("nan"), float("inf"), float("-inf"), -1.0, 1e300, -1e300, 5e-324, 1e16])
hostile_times = st.sampled_from(["", "yesterday", "2026-13-45T25:61:61Z", "2026-03-02T15:04:07", "0000-00-00",
                                 "9999-12-31T23:59:59.999999999+25:00", "9999-12-31T23:59:59-23:59",
                                 "0001-01-01T00:00:00+23:59", "2026-03-02T15:04:07Z\x00", "1e10",
                                 "2026-03-02T15:04:07.123456789123Z"])
hostile_millis = st.sampled_from([-1, -10 ** 20, 10 ** 20, 2 ** 63, float("nan"), float("inf"), 1e300, True,
                                  "1772463600000", "abc", "", 1772463600000.5])
numeric_strings = st.decimals(allow_nan=True, allow_infinity=True).map(str) | st.integers().map(str) | st.floats().map(
    repr)
hostile = (hostile_numbers | hostile_floats | numeric_strings | hostile_times | hostile_millis | json_values
           | st.text(alphabet=st.characters(codec="utf-8"), max_size=40))


def mutations(base: dict[str, Any], nested: tuple[str, ...] = ()) -> st.SearchStrategy[dict[str, Any]]:
    """`base` with some keys replaced by hostile values, some removed, some junk keys added; the objects
    under `nested` (when they are objects) are mutated the same way."""
    keys = sorted(base)
    top = st.tuples(
        st.dictionaries(st.sampled_from(keys), hostile, max_size=4),
        st.lists(st.sampled_from(keys), max_size=2),
        st.dictionaries(st.text(max_size=6), json_values, max_size=2),
    ).map(lambda t: {**{k: v for k, v in base.items() if k not in t[1]}, **t[2], **t[0]})
    inner = [k for k in nested if isinstance(base.get(k), dict)]
    if not inner:
        return top
    return top.flatmap(lambda d: st.fixed_dictionaries({k: mutations(base[k]) for k in inner}).map(
        lambda subs: {**d, **{k: v for k, v in subs.items() if k in d and d[k] == base[k]}}))


def typed(error: type[Exception]) -> Callable[[Callable[[], Any]], Any]:
    def check(parse: Callable[[], Any]) -> Any:
        """Run `parse`: the adapter's typed error is a fine answer; anything else escaping is a bug."""
        try:
            return parse()
        except error:
            return None

    return check


tradier, oanda, ccxt_check = typed(TradierError), typed(OandaError), typed(CcxtError)


def sane(value: Decimal | None, *, signed: bool = False) -> bool:
    return value is None or (isinstance(value, Decimal) and value.is_finite() and abs(value) < LIMIT
                             and (signed or value >= 0))


def aware(moment: datetime | None) -> bool:
    """None, or an aware datetime in UTC."""
    if moment is None:
        return True
    offset = moment.utcoffset()
    return offset is not None and offset.total_seconds() == 0


def sane_snapshot(snapshot: OrderSnapshot) -> None:
    assert isinstance(snapshot.status, OrderStatus)
    for value in (snapshot.quantity, snapshot.filled_quantity, snapshot.filled_avg_price,
                  snapshot.limit_price, snapshot.stop_price):
        assert sane(value), value
    assert snapshot.filled_quantity <= snapshot.quantity or snapshot.quantity == 0
    assert aware(snapshot.submitted_at) and aware(snapshot.updated_at)
    assert isinstance(snapshot.symbol, str) and isinstance(snapshot.broker_order_id, str)


def sane_report(report: ExecutionReport) -> None:
    assert isinstance(report.side, OrderSide)
    assert report.quantity > 0 and report.price > 0 and sane(report.quantity) and sane(report.price)
    assert sane(report.commission) and sane(report.fees) and sane(report.cumulative_quantity)
    assert aware(report.executed_at)


def sane_account(account: BrokerAccount) -> None:
    for value in (account.cash, account.settled_cash, account.equity, account.buying_power,
                  account.initial_margin, account.maintenance_margin):
        assert sane(value, signed=True), value
    for position in account.positions.values():
        assert sane(position.quantity, signed=True) and sane(position.avg_entry_price)
        assert sane(position.market_value, signed=True) and sane(position.unrealized_pnl, signed=True)
        assert sane(position.last_price, signed=True)


FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --------------------------------------------------------------------------------------------- Tradier

T_ORDERS: list[dict[str, Any]] = items(load("tradier", "orders.json")["list"], "orders", "order")
T_EVENTS: list[dict[str, Any]] = [v for k, v in load("tradier", "events.json").items() if k.startswith("order_")]
T_BALANCES: list[dict[str, Any]] = [b["balances"] for k, b in load("tradier", "balances.json").items()
                                    if not k.startswith("_")]
T_POSITIONS: list[dict[str, Any]] = items(load("tradier", "positions.json")["list"], "positions", "position")
T_INFO = TradierInfo("1107075", "bf-7", "AAPL", OrderSide.BUY, "6YA00005", Decimal("2"))


def _tradier_order(payload: Any) -> tuple[OrderSnapshot, list[ExecutionReport]]:
    """What the gateway does with an order object: a snapshot, its info, the executions it implies."""
    wire = tvalidated(TradierOrder, payload, "GET /v1/accounts/X/orders")
    snapshot = tparsing.order_snapshot(wire)
    info = TradierInfo(snapshot.broker_order_id, snapshot.client_order_id, wire.symbol, tparsing.side_of(wire),
                       "VA000001", snapshot.quantity)
    at = tparsing.ts_or_none(wire.transaction_date) or NOW
    reports = TradierLedger("c1").observe(
        info, tparsing.dec(wire.exec_quantity), tparsing.decimal_or_none(wire.avg_fill_price), at,
        last_qty=tparsing.decimal_or_none(wire.last_fill_quantity),
        last_price=tparsing.decimal_or_none(wire.last_fill_price))
    return snapshot, reports


@FUZZ
@given(st.sampled_from(T_ORDERS).flatmap(mutations))
@example({**T_ORDERS[0], "quantity": "NaN"})
@example({**T_ORDERS[0], "quantity": -50.0})
@example({**T_ORDERS[1], "exec_quantity": 500.0})
@example({**T_ORDERS[1], "exec_quantity": "1e999999"})
@example({**T_ORDERS[1], "avg_fill_price": -512.3})
@example({**T_ORDERS[1], "avg_fill_price": float("nan")})
@example({**T_ORDERS[1], "last_fill_quantity": 1e-30, "exec_quantity": 40.00000001})
@example({**T_ORDERS[0], "create_date": "yesterday"})
@example({**T_ORDERS[0], "transaction_date": "2026-03-02T14:02:29.700"})
@example({**T_ORDERS[0], "create_date": "9999-12-31T23:59:59-23:59"})
@example({**T_ORDERS[0], "price": "1" * 400})
def test_tradier_orders(payload: dict[str, Any]) -> None:
    parsed = tradier(lambda: _tradier_order(payload))
    if parsed is not None:
        snapshot, reports = parsed
        sane_snapshot(snapshot)
        for report in reports:
            sane_report(report)
            assert report.cumulative_quantity is not None
            assert report.cumulative_quantity <= snapshot.quantity or snapshot.quantity == 0


def _tradier_event(payload: Any) -> tuple[OrderSnapshot, list[ExecutionReport]]:
    """What the account event feed does with an `order` event of a known order."""
    event = tvalidated(TradierAccountEvent, payload, "account events")
    at = tparsing.ts_or_none(event.transaction_date) or NOW
    cumulative = tparsing.dec(event.exec_quantity if event.exec_quantity is not None else event.executed_quantity)
    reports = TradierLedger("c1").observe(
        T_INFO, cumulative, tparsing.decimal_or_none(event.avg_fill_price), at,
        last_qty=tparsing.decimal_or_none(event.last_fill_quantity),
        last_price=tparsing.decimal_or_none(event.last_fill_price))
    return tradier_event_snapshot(T_INFO, event, at), reports


@FUZZ
@given(st.sampled_from(T_EVENTS).flatmap(mutations))
@example({**T_EVENTS[1], "exec_quantity": 5.0})  # more than the order's 2
@example({**T_EVENTS[1], "exec_quantity": -1.0})
@example({**T_EVENTS[1], "avg_fill_price": "Infinity"})
@example({**T_EVENTS[1], "last_fill_price": -3.0, "last_fill_quantity": 0.5})
@example({**T_EVENTS[1], "transaction_date": "2026-13-45T25:61:61Z"})
def test_tradier_account_events(payload: dict[str, Any]) -> None:
    parsed = tradier(lambda: _tradier_event(payload))
    if parsed is not None:
        snapshot, reports = parsed
        sane_snapshot(snapshot)
        for report in reports:
            sane_report(report)
            assert report.cumulative_quantity is not None and report.cumulative_quantity <= T_INFO.quantity


def _tradier_account(balances: Any, positions: Any) -> BrokerAccount:
    wire = tvalidated(TradierBalances, balances, "GET /v1/accounts/X/balances")
    wires = [tvalidated(TradierPosition, p, "GET /v1/accounts/X/positions")
             for p in items(positions, "positions", "position")]
    return tparsing.broker_account(wire, wires, "c1", NOW)


@FUZZ
@given(st.sampled_from(T_BALANCES).flatmap(lambda b: mutations(b, ("margin", "cash", "pdt"))),
       st.lists(st.sampled_from(T_POSITIONS).flatmap(mutations), max_size=3).map(
           lambda ps: {"positions": {"position": ps[0] if len(ps) == 1 else ps}} if ps else {"positions": "null"}))
@example({**T_BALANCES[0], "total_cash": "NaN"}, {"positions": "null"})
@example({**T_BALANCES[1], "cash": {"cash_available": 950.0, "unsettled_funds": "1e999999"}}, {"positions": "null"})
@example(T_BALANCES[0], {"positions": {"position": {**T_POSITIONS[0], "quantity": 1e-20, "cost_basis": 1e14}}})
@example(T_BALANCES[0], {"positions": {"position": {**T_POSITIONS[0], "quantity": 0.1, "cost_basis": "-Infinity"}}})
def test_tradier_accounts_and_positions(balances: dict[str, Any], positions: dict[str, Any]) -> None:
    account = tradier(lambda: _tradier_account(balances, positions))
    if account is not None:
        sane_account(account)


@FUZZ
@given(json_values | hostile, st.sampled_from([("orders", "order"), ("positions", "position"), ("quotes", "quote")]))
def test_tradier_collections_of_anything(block: Any, names: tuple[str, str]) -> None:
    """The XML-to-JSON quirks: `{outer: {inner: x}}` and `{outer: x}` for any x end typed or as items."""
    outer, inner = names
    models: dict[str, type[TradierOrder | TradierPosition | TradierQuote]] = {
        "orders": TradierOrder, "positions": TradierPosition, "quotes": TradierQuote}
    model = models[outer]

    def parse(payload: Any) -> list[BaseModel]:
        return [tvalidated(model, x, outer) for x in items(payload, outer, inner)]

    for payload in ({outer: block}, {outer: {inner: block}}, block):
        tradier(functools.partial(parse, payload))


@FUZZ
@given(hostile)
@example("NaN")
@example(float("inf"))
@example("1e999999")
@example("yesterday")
@example("9999-12-31T23:59:59-23:59")
def test_tradier_scalar_helpers(value: Any) -> None:
    if isinstance(value, str):
        moment = tradier(lambda: tparsing.parse_timestamp(value))
        assert aware(moment)
    if value is None or isinstance(value, str | int | float):
        assert sane(tradier(lambda: tparsing.decimal_or_none(value)), signed=True)
        quote = tradier(lambda: tparsing.decimal_or_none(tvalidated(TradierQuote, {"symbol": "X", "last": value},
                                                                    "quotes").last))
        assert sane(quote, signed=True)


@pytest.mark.parametrize("change", [
    {"quantity": 10.0, "exec_quantity": 50.0}, {"exec_quantity": -1}, {"price": "NaN"}, {"quantity": "Infinity"},
    {"price": -180.0}, {"create_date": "2026-03-02T15:04:05"}, {"transaction_date": "not a time"},
    {"quantity": "1e999999"}, {"side": "sideways"},
])
def test_tradier_garbage_orders_are_refused(change: dict[str, Any]) -> None:
    with pytest.raises(TradierProtocolError):
        _tradier_order({**T_ORDERS[0], **change})


# --------------------------------------------------------------------------------------------- OANDA

O_CREATE = load("oanda", "create_market_filled.json")
O_PENDING: dict[str, Any] = load("oanda", "order_limit_pending.json")["order"]
O_FILLED: dict[str, Any] = {
    "id": "6372", "createTime": "2026-03-02T15:04:10.123456789Z", "state": "FILLED", "type": "MARKET",
    "instrument": "EUR_USD", "units": "-10000", "timeInForce": "FOK", "positionFill": "DEFAULT",
    "clientExtensions": {"id": "strat7-0001", "tag": "strat7"}, "fillingTransactionID": "6373",
    "filledTime": "2026-03-02T15:04:10.123456789Z", "tradeOpenedID": "6373"}
O_CANCELLED: dict[str, Any] = {**O_PENDING, "state": "CANCELLED", "cancellingTransactionID": "6380",
                               "cancelledTime": "2026-03-02T16:00:00.000000000Z"}
O_ORDERS = [O_PENDING, O_FILLED, O_CANCELLED]
O_FILL: dict[str, Any] = O_CREATE["orderFillTransaction"]
O_ACCOUNT: dict[str, Any] = load("oanda", "account_summary.json")["account"]
O_POSITIONS: list[dict[str, Any]] = load("oanda", "open_positions.json")["positions"]
O_INFO = ofills.OrderInfo("6372", "strat7-0001", "EUR/USD", OrderSide.SELL, Decimal("10000"), "101-004-1234567-001")


def _oanda_fill(payload: Any) -> ExecutionReport:
    """What the gateway and the transaction feed do with an ORDER_FILL: the ledger's report."""
    return ofills.FillLedger("c1").add(ovalidated(OandaTransaction, payload, "transactions"), O_INFO)


def _oanda_order(payload: Any, fill: Any, reason: str | None) -> OrderSnapshot:
    wire = ovalidated(OandaOrder, payload, "GET /v3/accounts/X/orders/Y")
    ledger = ofills.FillLedger("c1")
    info = ofills.OrderInfo(wire.id, "c", "EUR/USD", OrderSide.SELL, abs(oparsing.dec(wire.units)), "a")
    if fill is not None:
        ledger.add(ovalidated(OandaTransaction, fill, "transactions"), info)
    return oparsing.order_snapshot(wire, ledger.reports(wire.id), reason)


@FUZZ
@given(st.sampled_from(O_ORDERS).flatmap(lambda o: mutations(o, ("clientExtensions",))),
       st.none() | st.just(O_FILL) | mutations(O_FILL),
       st.sampled_from([None, "TIME_IN_FORCE_EXPIRED", "CLIENT_REQUEST_REPLACED", "CLIENT_REQUEST"]))
@example({**O_PENDING, "units": "NaN"}, None, None)
@example({**O_PENDING, "units": "1e999999"}, None, None)
@example({**O_PENDING, "price": "-150.125"}, None, None)
@example({**O_PENDING, "createTime": "2026-03-02T15:05:00"}, None, None)
@example({**O_PENDING, "createTime": "9999-12-31T23:59:59.999999999-23:59"}, None, None)
@example({**O_FILLED, "units": "100"}, O_FILL, None)  # a fill larger than the order
@example({**O_FILLED, "units": "0.0000000000000000000000000001"}, None, None)
@example(O_FILLED, {**O_FILL, "id": "abc"}, None)
@example(O_FILLED, {**O_FILL, "id": None}, None)
@example(O_FILLED, {**O_FILL, "id": "1" * 5000}, None)
def test_oanda_orders(payload: dict[str, Any], fill: dict[str, Any] | None, reason: str | None) -> None:
    snapshot = oanda(lambda: _oanda_order(payload, fill, reason))
    if snapshot is not None:
        sane_snapshot(snapshot)


@FUZZ
@given(mutations(O_FILL, ("clientExtensions",)))
@example({**O_FILL, "id": "not-a-number"})
@example({**O_FILL, "id": None})
@example({**O_FILL, "units": "1e999999"})
@example({**O_FILL, "price": "1" * 400})
@example({**O_FILL, "commission": "NaN"})
@example({**O_FILL, "commission": "-1e40"})
@example({**O_FILL, "time": "2026-03-02T15:04:10.123456789"})
@example({**O_FILL, "units": "-20000"})  # more than the order's 10000
def test_oanda_fills(payload: dict[str, Any]) -> None:
    report = oanda(lambda: _oanda_fill(payload))
    if report is not None:
        sane_report(report)
        assert report.cumulative_quantity is not None and report.cumulative_quantity <= O_INFO.quantity


def _oanda_account(account: Any, positions: list[Any], marks: dict[str, Decimal] | None) -> BrokerAccount:
    wire = ovalidated(OandaAccountSummary, account, "GET /v3/accounts/X/summary")
    wires = [ovalidated(OandaPosition, p, "GET /v3/accounts/X/openPositions") for p in positions]
    return oparsing.broker_account(wire, wires, "c1", NOW, marks)


@FUZZ
@given(mutations(O_ACCOUNT), st.lists(st.sampled_from(O_POSITIONS).flatmap(
    lambda p: mutations(p, ("long", "short"))), max_size=3),
       st.none() | st.just({"EUR/USD": Decimal("1.085")}))
@example({**O_ACCOUNT, "marginRate": "1e-999999"}, [], None)
@example({**O_ACCOUNT, "NAV": "sNaN"}, [], None)
@example(O_ACCOUNT, [{**O_POSITIONS[0], "short": {**O_POSITIONS[0]["short"], "units": "-1e-30"},
                      "unrealizedPL": "1e14"}], None)
@example(O_ACCOUNT, [{**O_POSITIONS[0], "short": {**O_POSITIONS[0]["short"], "averagePrice": "-1.08"}}], None)
def test_oanda_accounts_and_positions(account: dict[str, Any], positions: list[dict[str, Any]],
                                      marks: dict[str, Decimal] | None) -> None:
    parsed = oanda(lambda: _oanda_account(account, positions, marks))
    if parsed is not None:
        sane_account(parsed)


O_INSTRUMENTS: list[dict[str, Any]] = load("oanda", "account_instruments.json")["instruments"]


def _oanda_margin_terms(account: Any, instruments: Any) -> BrokerAccount:
    """What get_account does with the summary and GET …/instruments: the account's effective margin rates."""
    wire = ovalidated(OandaAccountSummary, account, "GET /v3/accounts/X/summary")
    rates = instrument_margin_rates(instruments)
    return with_margin_terms(oparsing.broker_account(wire, [], "c1", NOW), wire, rates)


@FUZZ
@given(st.one_of(st.just(O_ACCOUNT), mutations(O_ACCOUNT)),
       st.lists(st.sampled_from(O_INSTRUMENTS).flatmap(mutations), max_size=4))
@example(O_ACCOUNT, [{**O_INSTRUMENTS[0], "marginRate": "1e-999999"}])
@example(O_ACCOUNT, [{**O_INSTRUMENTS[0], "marginRate": "1" * 400}])
@example(O_ACCOUNT, [{**O_INSTRUMENTS[0], "marginRate": "-0.02"}])
@example(O_ACCOUNT, [{**O_INSTRUMENTS[0], "name": "FOREX"}])
@example({**O_ACCOUNT, "marginRate": "-1"}, O_INSTRUMENTS)
@example({**O_ACCOUNT, "marginRate": "1e18"}, O_INSTRUMENTS)
def test_oanda_instrument_margin_rates(account: dict[str, Any], instruments: list[dict[str, Any]]) -> None:
    parsed = oanda(lambda: _oanda_margin_terms(account, {"instruments": instruments}))
    if parsed is not None:
        sane_account(parsed)
        for symbol, rate in parsed.margin_rates.items():
            assert (symbol == "FOREX" or "/" in symbol) and isinstance(rate, Decimal) and 0 < rate <= 1, (symbol, rate)


@FUZZ
@given(json_values)
def test_oanda_arbitrary_json(payload: Any) -> None:
    oanda(lambda: _oanda_order(payload, None, None))
    oanda(lambda: _oanda_fill(payload))
    oanda(lambda: _oanda_account(payload, [payload], None))
    oanda(lambda: instrument_margin_rates(payload))
    oanda(lambda: instrument_margin_rates({"instruments": [payload]}))


@FUZZ
@given(hostile)
@example("2026-03-02T15:04:10.123456789")
@example("9999-12-31T23:59:59.999999999-23:59")
@example("NaN")
def test_oanda_scalar_helpers(value: Any) -> None:
    if isinstance(value, str):
        assert aware(oanda(lambda: oparsing.parse_timestamp(value)))
        assert sane(oanda(lambda: oparsing.decimal_or_none(value)), signed=True)


@pytest.mark.parametrize("change", [
    {"units": "NaN"}, {"units": "Infinity"}, {"units": "1e999999"}, {"price": "-1.2"}, {"price": "sNaN"},
    {"createTime": "2026-03-02T15:05:00"}, {"createTime": "yesterday"},
])
def test_oanda_garbage_orders_are_refused(change: dict[str, Any]) -> None:
    with pytest.raises(OandaProtocolError):
        _oanda_order({**O_PENDING, **change}, None, None)


@pytest.mark.parametrize("change", [{"id": "x1"}, {"id": None}, {"units": "1e999999"}, {"commission": "NaN"},
                                    {"units": "-20000"}, {"price": "-1"}])
def test_oanda_garbage_fills_are_refused(change: dict[str, Any]) -> None:
    with pytest.raises(OandaProtocolError):
        _oanda_fill({**O_FILL, **change})


# --------------------------------------------------------------------------------------------- ccxt

C_WIRE: dict[str, Any] = load("ccxt", "binance_unified.json")
C_ORDERS = [C_WIRE[k] for k in ("market_order", "resting_limit", "partly_filled_stop_limit", "canceled_after_partial")]
C_TRADE: dict[str, Any] = C_WIRE["trade"]
C_BALANCE: dict[str, Any] = C_WIRE["balance"]
C_RULES = MarketRules(C_WIRE["market"], ccxt.TICK_SIZE)
C_PRICES = {"BTC/USDT": Decimal("60000"), "ETH/USDT": Decimal("3000")}


@FUZZ
@given(st.sampled_from(C_ORDERS).flatmap(lambda o: mutations(o, ("info",))))
@example({**C_ORDERS[0], "timestamp": 10 ** 20})
@example({**C_ORDERS[0], "timestamp": float("nan")})
@example({**C_ORDERS[0], "timestamp": "abc"})
@example({**C_ORDERS[0], "timestamp": True})
@example({**C_ORDERS[0], "lastUpdateTimestamp": -10 ** 20})
@example({**C_ORDERS[0], "amount": float("nan")})
@example({**C_ORDERS[0], "amount": -0.015})
@example({**C_ORDERS[0], "filled": 1.5})  # more than the order's 0.015
@example({**C_ORDERS[0], "average": float("inf")})
@example({**C_ORDERS[1], "price": -50000.0})
@example({**C_ORDERS[1], "price": [1]})
@example({**C_ORDERS[1], "symbol": 7})
@example({**C_ORDERS[1], "clientOrderId": 7})
@example({**C_ORDERS[1], "amount": "1e999999"})
@example({**C_ORDERS[2], "triggerPrice": float("nan")})
def test_ccxt_orders(payload: dict[str, Any]) -> None:
    snapshot = ccxt_check(lambda: cparsing.order_snapshot(payload))
    if snapshot is not None:
        sane_snapshot(snapshot)


@FUZZ
@given(mutations(C_TRADE, ("fee",)), st.none() | st.just(Decimal("0.015")), st.booleans())
@example({**C_TRADE, "timestamp": 10 ** 20}, None, True)
@example({**C_TRADE, "symbol": None}, None, True)
@example({**C_TRADE, "symbol": ["BTC/USDT"]}, None, True)
@example({**C_TRADE, "amount": -0.015}, None, True)
@example({**C_TRADE, "price": float("nan")}, None, True)
@example({**C_TRADE, "fee": {"currency": "BTC", "cost": float("inf")}}, None, True)
@example({**C_TRADE, "fee": {"currency": "USDT", "cost": -1.0}}, None, True)
@example({**C_TRADE, "fee": "free"}, None, True)
@example({**C_TRADE, "fee": {"currency": "BTC", "cost": 1e10}, "price": 1e10}, None, True)
def test_ccxt_trades(payload: dict[str, Any], cumulative: Decimal | None, with_rules: bool) -> None:
    report = ccxt_check(lambda: cparsing.execution_report(payload, "bf-market-1", "c1", cumulative,
                                                          C_RULES if with_rules else None))
    if report is not None:
        sane_report(report)


@FUZZ
@given(mutations(C_BALANCE, ("total", "free", "used")), st.sampled_from(["USDT", "BTC"]))
@example({**C_BALANCE, "total": {"USDT": float("nan"), "BTC": 1.0}}, "USDT")
@example({**C_BALANCE, "total": {"USDT": 1.0, "BTC": 1e300}}, "USDT")
@example({**C_BALANCE, "total": ["USDT"]}, "USDT")
@example({**C_BALANCE, "free": "lots"}, "USDT")
@example({**C_BALANCE, "total": {"USDT": 1.0, 7: 2.0}}, "USDT")
def test_ccxt_balances(balance: dict[str, Any], quote: str) -> None:
    account = ccxt_check(lambda: cparsing.broker_account(balance, C_PRICES, "binance-1", "c1", quote, NOW))
    if account is not None:
        sane_account(account)


@FUZZ
@given(json_values)
def test_ccxt_arbitrary_json(payload: Any) -> None:
    ccxt_check(lambda: cparsing.order_snapshot(payload))
    ccxt_check(lambda: cparsing.execution_report(payload, "bf-1", "c1", None, C_RULES))
    ccxt_check(lambda: cparsing.broker_account(payload, C_PRICES, "binance-1", "c1", "USDT"))


@FUZZ
@given(hostile)
def test_ccxt_scalar_helper(value: Any) -> None:
    assert sane(ccxt_check(lambda: cparsing.dec(value)), signed=True)


@pytest.mark.parametrize("change", [
    {"amount": float("nan")}, {"amount": -1.0}, {"filled": 1.5}, {"average": float("inf")}, {"timestamp": 10 ** 20},
    {"timestamp": "abc"}, {"symbol": 7}, {"price": "1e999999"},
])
def test_ccxt_garbage_orders_are_refused(change: dict[str, Any]) -> None:
    with pytest.raises(CcxtProtocolError):
        cparsing.order_snapshot({**C_ORDERS[0], **change})
