"""Simulator configuration (JSON or YAML file) and the default market: three accounts, a handful of symbols."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from simulator.core.clock import DEFAULT_START

__all__ = [
    "AccountConfig",
    "InstrumentConfig",
    "KeyConfig",
    "OAuthClientConfig",
    "PositionConfig",
    "SimConfig",
    "default_config",
    "load_config",
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class InstrumentConfig(_Model):
    symbol: str
    price: Decimal
    name: str = ""
    exchange: str = "NASDAQ"
    volatility: Decimal = Decimal("0.0004")
    spread: Decimal = Decimal("0.02")
    liquidity: Decimal | None = None
    fractionable: bool = True
    shortable: bool = True
    easy_to_borrow: bool = True
    marginable: bool = True
    tradable: bool = True
    tick: Decimal | None = None
    asset_class: Literal["us_equity", "forex", "crypto"] = "us_equity"
    # OANDA's marginRate for the pair (0.05: 20:1); None: a major's 0.02. The account's rate, when larger, wins.
    margin_rate: Decimal | None = Field(default=None, gt=0, le=1)


class KeyConfig(_Model):
    key: str
    secret: str


class OAuthClientConfig(_Model):
    """A partner application registered for OAuth (Tradier's /v1/oauth endpoints): HTTP Basic id:secret."""

    client_id: str
    client_secret: str


def _default_oauth_clients() -> list[OAuthClientConfig]:
    return [OAuthClientConfig(client_id="SIMCLIENT", client_secret="SIMCLIENTSECRET")]


class PositionConfig(_Model):
    qty: Decimal
    avg_entry_price: Decimal | None = None


class AccountConfig(_Model):
    id: str
    type: Literal["cash", "margin", "ira"] = "margin"
    cash: Decimal = Decimal(100000)
    keys: list[KeyConfig] = Field(default_factory=list)
    tokens: list[str] = Field(default_factory=list)
    positions: dict[str, PositionConfig] = Field(default_factory=dict)
    shorting_enabled: bool | None = None
    pattern_day_trader: bool = False
    commission_per_share: Decimal = Decimal(0)
    commission_minimum: Decimal = Decimal(0)
    account_number: str | None = None
    margin_rate: Decimal | None = None


class SimConfig(_Model):
    seed: int = 42
    start: datetime = DEFAULT_START
    tick_seconds: Decimal = Decimal(1)
    autotick: bool = True
    autotick_interval: float = 0.2
    rate_limit_per_minute: int = 200
    include_pdt_fields: bool = True
    stream_binary_frames: bool = True
    sec_fee_per_million: Decimal = Decimal("27.80")
    taf_per_share: Decimal = Decimal("0.000166")
    taf_max_per_trade: Decimal = Decimal("8.30")
    instruments: list[InstrumentConfig] = Field(default_factory=list)
    accounts: list[AccountConfig] = Field(default_factory=list)
    oauth_clients: list[OAuthClientConfig] = Field(default_factory=_default_oauth_clients)
    oauth_token_ttl_seconds: float = Field(default=86399, gt=0)  # Tradier's documented expires_in
    # Our choice, not Tradier's documented behaviour: a used refresh token answers the same pair this long.
    oauth_refresh_grace_seconds: float = Field(default=60, ge=0)


_DEFAULT_INSTRUMENTS = [
    ("AAPL", "187.50", "Apple Inc. Common Stock", "NASDAQ"),
    ("MSFT", "410.20", "Microsoft Corporation Common Stock", "NASDAQ"),
    ("SPY", "512.30", "SPDR S&P 500 ETF Trust", "ARCA"),
    ("TSLA", "201.10", "Tesla, Inc. Common Stock", "NASDAQ"),
    ("NVDA", "875.40", "NVIDIA Corporation Common Stock", "NASDAQ"),
    ("AMZN", "178.25", "Amazon.com, Inc. Common Stock", "NASDAQ"),
    ("QQQ", "440.10", "Invesco QQQ Trust, Series 1", "NASDAQ"),
]
# Forex pairs (OANDA's instrument names): price, spread, pip-sized tick (3 decimals for JPY quotes) and OANDA's
# margin rate (GBP pairs at 5% = 20:1, as OANDA's US division margins them; the others 2% = 50:1).
# Crypto spot pairs (Binance's symbol names): price; quoted in USDT, the crypto account's cash.
_DEFAULT_CRYPTO = [
    ("BTCUSDT", "60000.00", "Bitcoin / TetherUS"),
    ("ETHUSDT", "3000.00", "Ethereum / TetherUS"),
]
_DEFAULT_FOREX = [
    ("EUR_USD", "1.08500", "0.00010", "0.00001", "0.02"),
    ("GBP_USD", "1.27300", "0.00020", "0.00001", "0.05"),
    ("USD_JPY", "156.500", "0.020", "0.001", "0.02"),
]


def default_config(seed: int = 42) -> SimConfig:
    """Return the standalone configuration: ACC1 margin, ACC2 cash, ACC3 IRA, FX1 (OANDA), CRYPTO1 (Binance)
    and the symbols."""
    instruments = [
        InstrumentConfig(symbol=s, price=Decimal(p), name=n, exchange=x) for s, p, n, x in _DEFAULT_INSTRUMENTS
    ]
    instruments.append(InstrumentConfig(
        symbol="SIRI", price=Decimal("3.85"), name="Sirius XM Holdings Inc.", fractionable=False, shortable=False,
        easy_to_borrow=False,
    ))
    instruments += [
        InstrumentConfig(symbol=s, price=Decimal(p), name=s.replace("_", "/"), exchange="OANDA", spread=Decimal(w),
                         tick=Decimal(t), volatility=Decimal("0.00005"), fractionable=False, asset_class="forex",
                         margin_rate=Decimal(m))
        for s, p, w, t, m in _DEFAULT_FOREX
    ]
    accounts = [
        AccountConfig(id="ACC1", type="margin", cash=Decimal(100000), tokens=["SIMTOKEN"],
                      keys=[KeyConfig(key="SIMKEY", secret="SIMSECRET")]),
        AccountConfig(id="ACC2", type="cash", cash=Decimal(50000), tokens=["SIMTOKEN2"],
                      keys=[KeyConfig(key="SIMKEY2", secret="SIMSECRET2")]),
        AccountConfig(id="ACC3", type="ira", cash=Decimal(50000), tokens=["SIMTOKEN3"],
                      keys=[KeyConfig(key="SIMKEY3", secret="SIMSECRET3")]),
        # An OANDA v20 account: Bearer token, 2% margin (50:1).
        AccountConfig(id="FX1", type="margin", cash=Decimal(100000), tokens=["OANDATOKEN"],
                      account_number="101-001-1000001-001", margin_rate=Decimal("0.02")),
    ]
    instruments += [
        InstrumentConfig(symbol=s, price=Decimal(p), name=n, exchange="BINANCE", tick=Decimal("0.01"),
                         shortable=False, easy_to_borrow=False, marginable=False, asset_class="crypto")
        for s, p, n in _DEFAULT_CRYPTO
    ]
    # A Binance spot account: 1,000,000 USDT (its cash) and 2 BTC; HMAC-signed requests with this key pair.
    accounts.append(AccountConfig(
        id="CRYPTO1", type="cash", cash=Decimal(1000000), keys=[KeyConfig(key="BINANCEKEY", secret="BINANCESECRET")],
        positions={"BTCUSDT": PositionConfig(qty=Decimal(2), avg_entry_price=Decimal(55000))}))
    return SimConfig(seed=seed, instruments=instruments, accounts=accounts)


def load_config(path: str | Path, seed: int | None = None) -> SimConfig:
    """Read a JSON or YAML configuration; missing instruments/accounts fall back to the defaults."""
    text = Path(path).read_text()
    if str(path).endswith((".yaml", ".yml")):
        import yaml

        raw = yaml.safe_load(text) or {}
    else:
        raw = json.loads(text)
    config = SimConfig.model_validate(raw)
    defaults = default_config(config.seed)
    updates: dict[str, object] = {}
    if not config.instruments:
        updates["instruments"] = defaults.instruments
    if not config.accounts:
        updates["accounts"] = defaults.accounts
    if seed is not None:
        updates["seed"] = seed
    return config.model_copy(update=updates)
