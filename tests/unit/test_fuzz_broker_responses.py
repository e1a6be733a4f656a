"""Hostile broker payloads: the Alpaca adapter answers each with a typed AlpacaError or a sane report.

Recorded payloads (tests/resources/alpaca) are mutated field by field with hostile values: wrong types,
NaN and infinities, huge and negative numbers, malformed timestamps, unicode, missing keys, extra keys.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from brokers.alpaca import parsing
from brokers.alpaca.client import AlpacaAuth
from brokers.alpaca.config import AlpacaConfig
from brokers.alpaca.errors import AlpacaError, AlpacaProtocolError
from brokers.alpaca.fees import fee_from_activity, fee_pages
from brokers.alpaca.schemas import (
    AlpacaAccount,
    AlpacaFillActivity,
    AlpacaOrder,
    AlpacaPosition,
    AlpacaTradeUpdate,
    validated,
)
from brokers.alpaca.stream import AlpacaTradeStream, StreamGap
from domain.broker_integration import OrderSide

RESOURCES = Path(__file__).resolve().parents[1] / "resources" / "alpaca"
LIMIT = Decimal(10) ** 15


def load(name: str) -> Any:
    return json.loads((RESOURCES / name).read_text())


ORDERS: list[dict[str, Any]] = load("orders_by_type.json")
UPDATES: list[dict[str, Any]] = [m["data"] for m in load("trade_updates.json")]
FILLS: list[dict[str, Any]] = load("activities_fill.json")
ACCOUNT: dict[str, Any] = load("account.json")
POSITIONS: list[dict[str, Any]] = load("positions.json")

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=30)
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=8)
hostile_numbers = st.sampled_from(["NaN", "nan", "sNaN", "Infinity", "-Infinity", "inf", "1e999999", "-1e999999",
                                   "1e-999999", "-5", "-0.0001", "0", "1" * 400, "12,5", "", " ", "0x10", "1_000",
                                   "\u0661\u0662\u0663", "\uff11\uff12", "1e18", "99999999999999999999.5"])
hostile_times = st.sampled_from(["", "yesterday", "2026-13-45T25:61:61Z", "2026-03-02T15:04:07", "0000-00-00",
                                 "9999-12-31T23:59:59.999999999+25:00", "2026-03-02T15:04:07Z\x00", "1e10"])
numeric_strings = st.decimals(allow_nan=True, allow_infinity=True).map(str) | st.integers().map(str) | st.floats().map(
    repr)
hostile = hostile_numbers | numeric_strings | hostile_times | json_values | st.text(
    alphabet=st.characters(codec="utf-8"), max_size=40)


def mutations(base: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """`base` with some keys replaced by hostile values, some removed, some junk keys added."""
    keys = sorted(base)
    return st.tuples(
        st.dictionaries(st.sampled_from(keys), hostile, max_size=4),
        st.lists(st.sampled_from(keys), max_size=2),
        st.dictionaries(st.text(max_size=6), json_values, max_size=2),
    ).map(lambda t: {**{k: v for k, v in base.items() if k not in t[1]}, **t[2], **t[0]})


def check(parse: Callable[[], Any]) -> Any:
    """Run `parse`: a typed AlpacaError is a fine answer; anything else escaping is a bug."""
    try:
        return parse()
    except AlpacaError:
        return None


def sane(value: Decimal | None, *, signed: bool = False) -> bool:
    return value is None or (value.is_finite() and abs(value) < LIMIT and (signed or value >= 0))


FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(st.sampled_from(ORDERS).flatmap(mutations))
def test_orders(payload: dict[str, Any]) -> None:
    snapshot = check(lambda: parsing.order_snapshot(validated(AlpacaOrder, payload, "GET /v2/orders")))
    if snapshot is not None:
        assert snapshot.filled_quantity <= snapshot.quantity or snapshot.quantity == 0
        for value in (snapshot.quantity, snapshot.filled_quantity, snapshot.filled_avg_price,
                      snapshot.limit_price, snapshot.stop_price):
            assert sane(value)
        for moment in (snapshot.submitted_at, snapshot.updated_at):
            assert moment is None or moment.utcoffset() is not None


@FUZZ
@given(st.sampled_from(UPDATES).flatmap(lambda u: mutations(u).flatmap(
    lambda top: mutations(u["order"]).map(lambda order: {**top, "order": order}))),
    st.sampled_from([None, OrderSide.SELL_SHORT, OrderSide.BUY]))
def test_trade_updates(payload: dict[str, Any], side: OrderSide | None) -> None:
    event = check(lambda: parsing.trade_event(validated(AlpacaTradeUpdate, payload, "trade_updates"), "c1", side))
    if event is not None:
        assert event.occurred_at.utcoffset() is not None and sane(event.position_quantity, signed=True)
        if event.execution is not None:
            assert event.execution.quantity > 0 and event.execution.price > 0
            assert sane(event.execution.quantity) and sane(event.execution.price)


@FUZZ
@given(st.sampled_from(FILLS).flatmap(mutations))
def test_fill_activities(payload: dict[str, Any]) -> None:
    report = check(lambda: parsing.execution_from_activity(
        validated(AlpacaFillActivity, payload, "GET /v2/account/activities/FILL"), "cid-1", "c1"))
    if report is not None:
        assert report.quantity > 0 and report.price > 0 and sane(report.quantity) and sane(report.price)


@FUZZ
@given(mutations(ACCOUNT), st.lists(st.sampled_from(POSITIONS).flatmap(mutations), max_size=3))
def test_accounts_and_positions(account: dict[str, Any], positions: list[dict[str, Any]]) -> None:
    def parse() -> Any:
        wires = [validated(AlpacaPosition, p, "GET /v2/positions") for p in positions]
        return parsing.broker_account(validated(AlpacaAccount, account, "GET /v2/account"), wires, "c1")

    parsed = check(parse)
    if parsed is not None:
        assert sane(parsed.cash, signed=True) and sane(parsed.buying_power, signed=True)
        assert all(sane(p.quantity, signed=True) for p in parsed.positions.values())


@FUZZ
@given(json_values)
def test_arbitrary_json_never_passes_for_an_order(payload: Any) -> None:
    check(lambda: parsing.order_snapshot(validated(AlpacaOrder, payload, "GET /v2/orders")))
    check(lambda: parsing.trade_event(validated(AlpacaTradeUpdate, payload, "trade_updates")))


FEE: dict[str, Any] = {"id": "20260302200000000::9b1f", "activity_type": "FEE", "activity_sub_type": "REG",
                       "date": "2026-03-02", "created_at": "2026-03-02T20:00:00Z", "net_amount": "-0.02",
                       "symbol": "AAPL", "qty": "10", "status": "executed", "order_id": "a1000000-0000-4000",
                       "description": "REG fee"}


@FUZZ
@given(st.lists(mutations(FEE) | json_values, max_size=3) | json_values)
def test_fee_activities(page: Any) -> None:
    async def send(method: str, path: str, **_: Any) -> Any:
        return page

    async def parse() -> list[Any]:
        return [fee_from_activity(a, "cid-1", "c1") for a in await fee_pages(send, datetime(2026, 3, 2, tzinfo=UTC))]

    fees = check(lambda: asyncio.run(parse()))
    for fee in fees or []:
        assert fee.amount >= 0 and sane(fee.amount) and fee.charged_at.utcoffset() is not None


@pytest.mark.parametrize("change", [
    {"qty": "1", "filled_qty": "5"}, {"filled_qty": "-1"}, {"limit_price": "NaN"}, {"qty": "Infinity"},
    {"filled_avg_price": "1e999999"}, {"created_at": "2026-03-02T15:04:05", "submitted_at": None},
    {"updated_at": "not a time"}, {"qty": "1." + "0" * 29 + "1"},
])
def test_garbage_orders_are_refused(change: dict[str, Any]) -> None:
    with pytest.raises(AlpacaProtocolError):
        parsing.order_snapshot(validated(AlpacaOrder, {**ORDERS[0], **change}, "GET /v2/orders"))


def test_a_fill_with_a_negative_quantity_is_refused() -> None:
    fill = next(u for u in UPDATES if u["event"] in ("fill", "partial_fill"))
    with pytest.raises(AlpacaProtocolError):
        parsing.trade_event(validated(AlpacaTradeUpdate, {**fill, "qty": "-3"}, "trade_updates"))


@FUZZ
@given(hostile)
def test_scalar_helpers(value: Any) -> None:
    if isinstance(value, str):
        check(lambda: parsing.parse_timestamp(value))
    if value is None or isinstance(value, str | int | float):
        assert sane(check(lambda: parsing.decimal_or_none(value)), signed=True)


# The trade_updates stream: whatever frames arrive after the handshake, the stream yields only readable
# updates and gap markers (an unreadable frame makes it resync), and the parser types what it yields.

HANDSHAKE = [b'[{"stream":"authorization","data":{"action":"authenticate","status":"authorized"}}]',
             b'[{"stream":"listening","data":{"streams":["trade_updates"]}}]']


class _Socket:
    def __init__(self, frames: list[str | bytes]) -> None:
        self.replies, self.frames = list(HANDSHAKE), frames

    async def __aenter__(self) -> _Socket:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def send(self, text: str) -> None:
        return None

    async def recv(self) -> str | bytes:
        return self.replies.pop(0)

    async def __aiter__(self) -> AsyncIterator[str | bytes]:
        for frame in self.frames:
            yield frame


def _collect(frames: list[str | bytes]) -> list[Any]:
    sockets = [_Socket(frames)]

    def connector(url: str, **_: Any) -> _Socket:
        if not sockets:
            trade_stream.close()
            raise OSError("no more sockets")
        return sockets.pop(0)

    async def no_sleep(seconds: float) -> None:
        return None

    trade_stream = AlpacaTradeStream("ws://sim/stream", AlpacaAuth(key_id="K", secret_key="S"), AlpacaConfig(),
                                     connector=connector, sleep=no_sleep)

    async def run() -> list[Any]:
        return [item async for item in trade_stream.updates()]

    return asyncio.run(run())


def _frame(message: Any) -> st.SearchStrategy[str | bytes]:
    text = json.dumps(message)
    return st.sampled_from([text, text.encode(), f"[{text}, {text}]"])


hostile_frames = st.one_of(
    st.binary(max_size=60), st.text(max_size=60),
    st.sampled_from([b"\xff\xfe", b"", "null", "[]", "{}", "[" * 100_000, '{"a":' * 50_000, "NaN", "1e999999",
                     '"' + "x" * 100_000 + '"', '{"stream":"trade_updates"}', '{"stream":"trade_updates","data":7}',
                     '{"stream":"error","data":{"msg":"boom"}}', '{"action":"error"}']),
    json_values.flatmap(lambda v: _frame({"stream": "trade_updates", "data": v})),
    st.sampled_from(UPDATES).flatmap(mutations).flatmap(lambda d: _frame({"stream": "trade_updates", "data": d})),
)


@FUZZ
@given(st.lists(hostile_frames, max_size=4), st.sampled_from(UPDATES))
def test_stream_frames(frames: list[str | bytes], good: dict[str, Any]) -> None:
    frames = [*frames, json.dumps({"stream": "trade_updates", "data": good})]
    items = _collect(frames)
    assert all(isinstance(item, AlpacaTradeUpdate | StreamGap) for item in items)
    for item in items:
        if isinstance(item, AlpacaTradeUpdate):
            check(lambda item=item: parsing.trade_event(item, "c1"))


@pytest.mark.parametrize("value", ["1e9999999999", "-1e9999999999", "1e-9999999999", "1E+400"])
def test_a_decimal_beyond_any_context_is_a_protocol_error_not_an_overflow(value: str) -> None:
    with pytest.raises(AlpacaProtocolError):
        parsing.decimal_or_none(value)
