"""The ccxt adapter against the simulator's Binance front end: the polling feed resumes from the last trade id
it saw and rides out failing polls, market rules are refused before anything is sent, secrets stay out of logs."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
import pytest_asyncio
from pydantic import SecretStr

from brokers.ccxt import CcxtConfig, CcxtGateway, CcxtUnsupportedOrderError
from domain.broker_integration import (
    BrokerAuthenticationError,
    BrokerOrder,
    BrokerUnavailableError,
    ConnectionCredentials,
    TradeEventKind,
)
from simulator.testing import SimulatorHandle, running_simulator
from tests.simulator.helpers import frozen_config
from tests.trade_updates import Collector, eventually

KEY, SECRET = "BINANCEKEY", "BINANCESECRET"


@pytest_asyncio.fixture
async def sim() -> AsyncIterator[SimulatorHandle]:
    async with running_simulator(frozen_config()) as handle:
        yield handle


async def connected(sim: SimulatorHandle, **config: Any) -> CcxtGateway:
    gateway = CcxtGateway("ccxt-adapter", CcxtConfig(base_url=sim.base_url, **{"poll_interval": 0.1, **config}))
    await gateway.authenticate(ConnectionCredentials(api_key=KEY, api_secret=SecretStr(SECRET)))
    return gateway


@pytest_asyncio.fixture
async def gateway(sim: SimulatorHandle) -> AsyncIterator[CcxtGateway]:
    gw = await connected(sim, poll_failures_before_error=20)
    yield gw
    await gw.close()


def buy(cid: str, quantity: str = "0.01") -> BrokerOrder:
    return BrokerOrder(client_order_id=cid, symbol="BTC/USDT", side="BUY", quantity=quantity, asset_class="CRYPTO",
                       execution_params={"time_in_force": "GTC"})


def fills(collector: Collector, cid: str) -> list[str]:
    return [e.execution.execution_id for e in collector.of(cid) if e.execution is not None]


async def test_a_restarted_feed_resumes_from_the_last_trade_it_saw(gateway: CcxtGateway) -> None:
    first = Collector(gateway)
    await asyncio.sleep(0.3)  # the cursor is set: earlier trades are not news
    await gateway.submit_order(buy("feed-1"))
    await eventually(lambda: bool(fills(first, "feed-1")))
    await first.stop()
    await gateway.submit_order(buy("feed-2"))  # fills while no feed runs
    second = Collector(gateway)
    try:
        await eventually(lambda: bool(fills(second, "feed-2")))
        await asyncio.sleep(0.3)
        assert fills(second, "feed-1") == [] and len(fills(first, "feed-1")) == 1
        assert [e.kind for e in second.of("feed-2")] == [TradeEventKind.FILL]
    finally:
        await second.stop()


async def test_failing_polls_back_off_and_nothing_is_lost(sim: SimulatorHandle, gateway: CcxtGateway) -> None:
    collector = Collector(gateway)
    try:
        await asyncio.sleep(0.3)
        await sim.admin.set_faults(error_rate=1.0, error_status=503, error_match="GET /api/v3/myTrades")
        await gateway.submit_order(buy("outage-1"))
        await asyncio.sleep(1.0)
        assert fills(collector, "outage-1") == []
        await sim.admin.set_faults(error_rate=0)
        await eventually(lambda: len(fills(collector, "outage-1")) == 1, timeout=10)
    finally:
        await collector.stop()


async def test_a_feed_that_keeps_failing_ends_with_an_unavailable_error(sim: SimulatorHandle) -> None:
    gateway = await connected(sim, poll_failures_before_error=2, poll_backoff_max=0.2)
    try:
        await sim.admin.set_faults(error_rate=1.0, error_status=503, error_match="GET /api/v3/")
        with pytest.raises(BrokerUnavailableError, match="polls failed"):
            async with asyncio.timeout(10):
                async for _ in gateway.trade_updates():
                    pass
    finally:
        await sim.admin.set_faults(error_rate=0)
        await gateway.close()


@pytest.mark.parametrize(("quantity", "reason"), [("0.000001", "amount step"), ("0.00001", "minimum"),
                                                  ("0.0150001", "amount step")])
async def test_orders_outside_the_market_rules_are_refused_unsent(sim: SimulatorHandle, gateway: CcxtGateway,
                                                                  quantity: str, reason: str) -> None:
    with pytest.raises(CcxtUnsupportedOrderError, match=reason) as refused:
        await gateway.submit_order(buy("rules-1", quantity))
    assert not refused.value.is_retryable()
    assert (await sim.admin.orders())["submissions"] == {}


async def test_secrets_never_reach_the_logs(sim: SimulatorHandle, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    gateway = await connected(sim)
    try:
        placed = await gateway.submit_order(buy("secret-1"))
        await gateway.get_order(placed.broker_order_id)
        await gateway.get_account()
        with contextlib.suppress(CcxtUnsupportedOrderError):
            await gateway.submit_order(buy("secret-2", "0.000001"))
        assert placed.filled_quantity == Decimal("0.01")
    finally:
        await gateway.close()
    assert SECRET not in caplog.text and KEY not in caplog.text and "signature=" not in caplog.text


async def test_logging_in_again_keeps_the_client_in_use(sim: SimulatorHandle, gateway: CcxtGateway) -> None:
    before = await gateway.client()
    session = await gateway.authenticate(ConnectionCredentials(api_key=KEY, api_secret=SecretStr(SECRET)))
    assert await gateway.client() is before and session.account_numbers[0].startswith("binance-")
    with pytest.raises(BrokerAuthenticationError):
        await gateway.authenticate(ConnectionCredentials(api_key=KEY, api_secret=SecretStr("wrong")))
    assert await gateway.client() is before  # a refused key pair leaves the working session alone
