"""One gateway per broker, each against its own front end of one in-process simulator.

Every test of this package runs once per broker in BROKERS: the same behaviour is asked of each
adapter, and what a broker cannot do is read from its declared capabilities, never from its name.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from pydantic import SecretStr

from brokers.alpaca import AlpacaConfig, AlpacaGateway
from brokers.ccxt import CcxtConfig, CcxtGateway
from brokers.oanda import OandaConfig, OandaGateway
from brokers.tradier import TradierConfig, TradierGateway
from domain.broker_integration import BrokerGateway, ConnectionCredentials
from simulator.testing import SimulatorHandle, running_simulator
from tests.simulator.helpers import frozen_config
from tests.trade_updates import Collector


@dataclass(frozen=True)
class BrokerUnderTest:
    """How to reach one broker's front end, which of its requests places an order, and what it trades.

    The tests' prices (150 to 195) fit AAPL (187.50) and USD/JPY (156.500) as the simulator starts them.
    """

    name: str
    build: Callable[[SimulatorHandle], BrokerGateway]
    credentials: Callable[[SimulatorHandle], ConnectionCredentials]
    place_order_request: str  # a /_sim/faults `drop_match` rule
    symbol: str = "AAPL"  # in brokerflow's unified form
    sim_symbol: str = "AAPL"  # the simulator's instrument (its admin API)
    asset_class: str = "EQUITY"
    # An order that trades at once and keeps working for what the liquidity left: a market DAY order, or
    # where market orders cannot rest (OANDA: FOK/IOC only) a marketable limit.
    marketable: dict[str, Any] = field(default_factory=lambda: {"order_type": "MARKET"})


def _alpaca(sim: SimulatorHandle) -> BrokerGateway:
    config = AlpacaConfig(base_url=sim.base_url, stream_backoff_initial=0.05, stream_backoff_max=0.2)
    return AlpacaGateway("contract-alpaca", config)


def _tradier(sim: SimulatorHandle) -> BrokerGateway:
    config = TradierConfig(base_url=sim.base_url, stream_backoff_initial=0.05, stream_backoff_max=0.2)
    return TradierGateway("contract-tradier", config)


def _oanda(sim: SimulatorHandle) -> BrokerGateway:
    config = OandaConfig(base_url=sim.base_url, stream_backoff_initial=0.05, stream_backoff_max=0.2)
    return OandaGateway("contract-oanda", config)


def _ccxt(sim: SimulatorHandle) -> BrokerGateway:
    return CcxtGateway("contract-ccxt", CcxtConfig(base_url=sim.base_url, poll_interval=0.1))


BROKERS = [
    BrokerUnderTest("alpaca", _alpaca,
                    lambda sim: ConnectionCredentials(api_key=sim.keys["ACC1"][0],
                                                      api_secret=SecretStr(sim.keys["ACC1"][1])),
                    "POST /v2/orders"),
    BrokerUnderTest("tradier", _tradier, lambda sim: ConnectionCredentials(access_token=SecretStr("SIMTOKEN")),
                    "POST /v1/accounts/"),
    BrokerUnderTest("oanda", _oanda, lambda sim: ConnectionCredentials(access_token=SecretStr("OANDATOKEN")),
                    "POST /v3/accounts/", symbol="USD/JPY", sim_symbol="USD_JPY", asset_class="FOREX",
                    marketable={"order_type": "LIMIT", "price": "200", "execution_params": {"time_in_force": "GTC"}}),
    BrokerUnderTest("ccxt", _ccxt, lambda sim: ConnectionCredentials(api_key=sim.keys["CRYPTO1"][0],
                                                                     api_secret=SecretStr(sim.keys["CRYPTO1"][1])),
                    "POST /api/v3/order", symbol="BTC/USDT", sim_symbol="BTCUSDT", asset_class="CRYPTO",
                    marketable={"order_type": "MARKET", "execution_params": {"time_in_force": "GTC"}}),
]


@pytest.fixture(params=BROKERS, ids=[b.name for b in BROKERS])
def broker(request: pytest.FixtureRequest) -> BrokerUnderTest:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
async def sim() -> AsyncIterator[SimulatorHandle]:
    async with running_simulator(frozen_config()) as handle:
        yield handle


@pytest.fixture
async def gateway(broker: BrokerUnderTest, sim: SimulatorHandle) -> AsyncIterator[BrokerGateway]:
    gw = broker.build(sim)
    await gw.authenticate(broker.credentials(sim))
    yield gw
    await gw.close()


@pytest.fixture
async def stream(gateway: BrokerGateway) -> AsyncIterator[Collector]:
    collector = Collector(gateway)
    await asyncio.sleep(0.3)  # connected and subscribed
    yield collector
    await collector.stop()


def accepted_submissions(view: dict[str, Any], client_order_id: str) -> list[dict[str, Any]]:
    """The order placements the broker accepted under a client order id (Tradier: its tag; OANDA answers 201)."""
    return [s for s in view["submissions"].get(client_order_id, []) if s["http_status"] in (200, 201)]
