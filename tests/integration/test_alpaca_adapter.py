"""AlpacaGateway against the Alpaca-protocol simulator (in-process, free port): the adapter used in production.

Needs `simulator.testing.running_simulator()`: an async context manager yielding an object with `base_url`,
`ws_url`, `keys` ({account: (key, secret)}) and `admin` (an async client of the /_sim API: prices,
set_price, set_liquidity, advance, set_faults, clear_faults, disconnect_streams, orders, activities).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
from pydantic import SecretStr

from brokers.alpaca import (
    AlpacaConfig,
    AlpacaGateway,
    AlpacaInsufficientFundsError,
    AlpacaOrderNotCancelableError,
)
from domain.broker_integration import (
    AccountType,
    AmbiguousOutcomeError,
    BrokerAuthenticationError,
    BrokerOrder,
    BrokerRejectedError,
    ConnectionCredentials,
    ExecutionParameters,
    OrderAmendment,
    OrderStatus,
    TradeEventKind,
)
from tests.trade_updates import Collector, eventually

testing = pytest.importorskip("simulator.testing")

pytestmark = pytest.mark.integration


@pytest.fixture
async def sim() -> AsyncIterator[Any]:
    async with testing.running_simulator(autotick=False) as handle:
        yield handle


def credentials(sim: Any, account: str = "ACC1") -> ConnectionCredentials:
    key, secret = sim.keys[account]
    return ConnectionCredentials(api_key=key, api_secret=SecretStr(secret))


@pytest.fixture
async def gateway(sim: Any) -> AsyncIterator[AlpacaGateway]:
    config = AlpacaConfig(base_url=sim.base_url, stream_backoff_initial=0.05, stream_backoff_max=0.2)
    gw = AlpacaGateway("sim-alpaca", config)
    await gw.authenticate(credentials(sim))
    yield gw
    await gw.close()


@pytest.fixture
async def stream(gateway: AlpacaGateway) -> AsyncIterator[Collector]:
    collector = Collector(gateway)
    await asyncio.sleep(0.3)  # authenticated and listening
    yield collector
    await collector.stop()


def order(cid: str, **fields: Any) -> BrokerOrder:
    data: dict[str, Any] = {"client_order_id": cid, "symbol": "AAPL", "side": "BUY", "quantity": "10"}
    data.update(fields)
    return BrokerOrder(**data)


async def test_authenticate_and_account(sim: Any, gateway: AlpacaGateway) -> None:
    account = await gateway.get_account()
    assert account.account_type is AccountType.MARGIN and account.buying_power > 0
    assert account.connection_id == "sim-alpaca"
    cash = AlpacaGateway("other", AlpacaConfig(base_url=sim.base_url))
    info = await cash.authenticate(credentials(sim, "ACC2"))
    assert (await cash.get_account(info.account_numbers[0])).account_type is AccountType.CASH
    await cash.close()


async def test_bad_keys_are_refused(sim: Any) -> None:
    gw = AlpacaGateway("bad", AlpacaConfig(base_url=sim.base_url))
    with pytest.raises(BrokerAuthenticationError) as info:
        await gw.authenticate(ConnectionCredentials(api_key="NOPE", api_secret=SecretStr("wrong-secret")))
    assert "wrong-secret" not in str(info.value)
    await gw.close()


COMBOS = [
    *[("MARKET", tif, {}) for tif in ("DAY", "GTC", "IOC", "FOK", "OPG", "CLS")],
    *[("LIMIT", tif, {"price": "150"}) for tif in ("DAY", "GTC", "IOC", "FOK", "OPG", "CLS")],
    *[("STOP", tif, {"stop_price": "200"}) for tif in ("DAY", "GTC")],
    *[("STOP_LIMIT", tif, {"stop_price": "200", "price": "201"}) for tif in ("DAY", "GTC")],
    ("TRAILING_STOP", "DAY", {"trail_price": "1.5", "side": "SELL"}),
    ("TRAILING_STOP", "GTC", {"trail_percent": "2", "side": "SELL"}),
]


@pytest.mark.parametrize(("order_type", "tif", "extra"), COMBOS, ids=[f"{c[0]}-{c[1]}" for c in COMBOS])
async def test_every_order_type_and_time_in_force(sim: Any, gateway: AlpacaGateway, order_type: str, tif: str,
                                                  extra: dict[str, str]) -> None:
    if tif == "OPG":
        await sim.admin.advance(until="close")  # at-the-open orders are taken before the open only
    if extra.get("side") == "SELL":
        await gateway.submit_order(order(f"seed-{tif}", quantity="10"))  # a position to sell
    cid = f"{order_type.lower()}-{tif.lower()}"
    snapshot = await gateway.submit_order(order(cid, order_type=order_type,
                                                execution_params=ExecutionParameters(time_in_force=tif), **extra))
    assert snapshot.client_order_id == cid and snapshot.status is not OrderStatus.REJECTED
    wire, _ = await gateway.fetch_order(snapshot.broker_order_id)
    assert (wire.type, wire.time_in_force) == (order_type.lower(), tif.lower())
    found = await gateway.get_order_by_client_id(cid)
    assert found is not None and found.broker_order_id == snapshot.broker_order_id


async def test_extended_hours_limit(gateway: AlpacaGateway) -> None:
    params = ExecutionParameters(time_in_force="DAY", extended_hours=True)
    snapshot = await gateway.submit_order(order("ext-1", order_type="LIMIT", price="150", execution_params=params))
    wire, _ = await gateway.fetch_order(snapshot.broker_order_id)
    assert wire.extended_hours is True


async def test_partial_fills_arrive_once_each(sim: Any, gateway: AlpacaGateway, stream: Collector) -> None:
    await sim.admin.set_liquidity("AAPL", 3)
    snapshot = await gateway.submit_order(order("partial-1"))
    for _ in range(6):
        await sim.admin.advance(1)
    await eventually(lambda: any(e.kind is TradeEventKind.FILL for e in stream.of("partial-1")))
    fills = [e.execution for e in stream.of("partial-1") if e.execution is not None]
    assert len(fills) >= 2 and sum(f.quantity for f in fills) == Decimal("10")
    assert [f.cumulative_quantity for f in fills] == sorted(f.cumulative_quantity for f in fills)
    assert len({f.execution_id for f in fills}) == len(fills)
    assert TradeEventKind.PARTIAL_FILL in {e.kind for e in stream.of("partial-1")}
    assert snapshot.submitted_at is not None
    history = [r for r in await gateway.executions_since(snapshot.submitted_at) if r.client_order_id == "partial-1"]
    assert {r.execution_id for r in history} == {f.execution_id for f in fills}


async def test_replace_creates_a_new_order(gateway: AlpacaGateway, stream: Collector) -> None:
    old = await gateway.submit_order(order("replace-1", order_type="LIMIT", price="150",
                                           execution_params=ExecutionParameters(time_in_force="GTC")))
    new = await gateway.replace_order(old.broker_order_id, OrderAmendment(limit_price="151", quantity="12"))
    assert new.broker_order_id != old.broker_order_id and new.replaces == old.broker_order_id
    assert new.client_order_id == "replace-1" and new.limit_price == Decimal("151")
    assert new.quantity == Decimal("12")
    await eventually(lambda: any(e.kind is TradeEventKind.REPLACED for e in stream.of("replace-1")))
    replaced = await gateway.get_order(old.broker_order_id)
    assert replaced.replaced_by == new.broker_order_id


async def test_replace_after_partial_fill_asks_only_for_the_rest(sim: Any, gateway: AlpacaGateway) -> None:
    await sim.admin.set_liquidity("AAPL", 4)
    old = await gateway.submit_order(order("replace-2", order_type="LIMIT", price="190",
                                           execution_params=ExecutionParameters(time_in_force="GTC")))
    await sim.admin.advance(1)
    await sim.admin.set_price("AAPL", "195", volatility="0")
    filled = (await gateway.get_order(old.broker_order_id)).filled_quantity
    assert Decimal("0") < filled < Decimal("10")
    new = await gateway.replace_order(old.broker_order_id, OrderAmendment(limit_price="189"))
    assert new.quantity == Decimal("10") - filled


async def test_cancel(gateway: AlpacaGateway, stream: Collector) -> None:
    snapshot = await gateway.submit_order(order("cancel-1", order_type="LIMIT", price="150"))
    assert snapshot.broker_order_id in {o.broker_order_id for o in await gateway.list_open_orders()}
    await gateway.cancel_order(snapshot.broker_order_id)
    await eventually(lambda: any(e.kind is TradeEventKind.CANCELED for e in stream.of("cancel-1")))
    assert (await gateway.get_order(snapshot.broker_order_id)).status is OrderStatus.CANCELED
    with pytest.raises(AlpacaOrderNotCancelableError):
        await gateway.cancel_order(snapshot.broker_order_id)


async def test_insufficient_buying_power_is_rejected(sim: Any, gateway: AlpacaGateway) -> None:
    with pytest.raises(AlpacaInsufficientFundsError) as info:
        await gateway.submit_order(order("too-big", symbol="NVDA", quantity="10000"))
    assert isinstance(info.value, BrokerRejectedError) and not info.value.is_retryable()
    assert "too-big" not in (await sim.admin.orders())["by_client_order_id"]


async def test_ambiguous_submit_resolves_to_exactly_one_order(sim: Any, gateway: AlpacaGateway) -> None:
    await sim.admin.set_faults(drop_responses=1, drop_mode="close", drop_match="POST /v2/orders")
    with pytest.raises(AmbiguousOutcomeError):
        await gateway.submit_order(order("ambiguous-1", order_type="LIMIT", price="150"))
    found = await gateway.get_order_by_client_id("ambiguous-1")
    assert found is not None
    again = await gateway.submit_order(order("ambiguous-1", order_type="LIMIT", price="150"))
    assert again.broker_order_id == found.broker_order_id
    view = await sim.admin.orders()
    assert len(view["by_client_order_id"]["ambiguous-1"]) == 1


async def test_no_fill_lost_while_the_stream_is_down(sim: Any, gateway: AlpacaGateway, stream: Collector) -> None:
    await sim.admin.set_price("AAPL", "187.5", volatility="0")
    snapshot = await gateway.submit_order(order("gap-1", order_type="LIMIT", price="180",
                                                execution_params=ExecutionParameters(time_in_force="GTC")))
    await eventually(lambda: bool(stream.of("gap-1")))
    await sim.admin.disconnect_streams(refuse_seconds=1)
    await sim.admin.set_price("AAPL", "179", volatility="0")
    await sim.admin.advance(1)
    await eventually(lambda: any(e.kind is TradeEventKind.FILL for e in stream.of("gap-1")), timeout=10)
    fill_events = [e for e in stream.of("gap-1") if e.execution is not None]
    assert any("::" in (e.sequence or "") for e in fill_events), "the fill should come from the activities replay"
    fills = [e.execution for e in fill_events if e.execution is not None]
    activities = [r for r in await gateway.executions_since(snapshot.submitted_at) if r.client_order_id == "gap-1"]
    assert sorted(f.execution_id for f in fills) == sorted(a.execution_id for a in activities)
    assert sum(f.quantity for f in fills) == Decimal("10")


async def test_latest_price_from_market_data(gateway: AlpacaGateway, sim: Any) -> None:
    await sim.admin.set_price("AAPL", "187.43", volatility=0)
    assert await gateway.latest_price("AAPL") == Decimal("187.43")
    assert await gateway.latest_price("NOSUCH") is None


async def test_reauthentication_while_streaming_keeps_fills_exactly_once(sim: Any) -> None:
    config = AlpacaConfig(base_url=sim.base_url, stream_backoff_initial=0.05, stream_backoff_max=0.2)
    first = (await sim.admin.issue_token("ACC1"))["token"]
    gw = AlpacaGateway("sim-oauth", config)
    await gw.authenticate(ConnectionCredentials(access_token=SecretStr(first)))
    collector = Collector(gw)
    await asyncio.sleep(0.3)
    await sim.admin.set_liquidity("AAPL", 2)
    snapshot = await gw.submit_order(order("relogin-1"))

    def fills() -> list[Any]:
        return [e.execution for e in collector.of("relogin-1") if e.execution is not None]

    async def more_fills() -> None:
        before = len(fills())
        await sim.admin.advance(1)
        await eventually(lambda: len(fills()) > before, timeout=10)

    await more_fills()
    await gw.authenticate(ConnectionCredentials(access_token=SecretStr(first)))  # the same token again
    await more_fills()
    second = (await sim.admin.issue_token("ACC1"))["token"]
    await gw.authenticate(ConnectionCredentials(access_token=SecretStr(second)))  # a refresh...
    await sim.admin.expire_token(first)  # ...then the old token dies, and the stream that used it
    await more_fills()  # while the stream reconnects: replayed from the activities with the new token
    while not any(e.kind is TradeEventKind.FILL for e in collector.of("relogin-1")):
        await more_fills()
    assert not collector._task.done(), "the feed must survive the new logins"
    assert gw._feeds[0]._pairs[0][1].reconnects >= 1, "the stream reconnected with the new token"
    received = fills()
    assert len({f.execution_id for f in received}) == len(received) >= 3
    assert sum(f.quantity for f in received) == Decimal("10")
    history = [r for r in await gw.executions_since(snapshot.submitted_at) if r.client_order_id == "relogin-1"]
    assert sorted(r.execution_id for r in history) == sorted(f.execution_id for f in received)
    await collector.stop()
    await gw.close()


async def test_open_orders_are_listed_across_pages(sim: Any, gateway: AlpacaGateway,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("brokers.alpaca.gateway.OPEN_ORDERS_PAGE", 3)
    await sim.admin.set_price("AAPL", "187.5", volatility="0")
    cids = []
    for instant, count in enumerate([1, 2, 1, 2, 1]):  # some orders share their submission instant
        for n in range(count):
            cids.append(f"page-{instant}-{n}")
            await gateway.submit_order(order(cids[-1], order_type="LIMIT", price="150",
                                             execution_params=ExecutionParameters(time_in_force="GTC")))
        await sim.admin.advance(1)
    listed = [o.client_order_id for o in await gateway.list_open_orders()]
    assert listed == cids
