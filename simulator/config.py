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


class KeyConfig(_Model):
    key: str
    secret: str


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


_DEFAULT_INSTRUMENTS = [
    ("AAPL", "187.50", "Apple Inc. Common Stock", "NASDAQ"),
    ("MSFT", "410.20", "Microsoft Corporation Common Stock", "NASDAQ"),
    ("SPY", "512.30", "SPDR S&P 500 ETF Trust", "ARCA"),
    ("TSLA", "201.10", "Tesla, Inc. Common Stock", "NASDAQ"),
    ("NVDA", "875.40", "NVIDIA Corporation Common Stock", "NASDAQ"),
    ("AMZN", "178.25", "Amazon.com, Inc. Common Stock", "NASDAQ"),
    ("QQQ", "440.10", "Invesco QQQ Trust, Series 1", "NASDAQ"),
]


def default_config(seed: int = 42) -> SimConfig:
    """Return the standalone configuration: ACC1 margin, ACC2 cash, ACC3 IRA and seven symbols."""
    instruments = [
        InstrumentConfig(symbol=s, price=Decimal(p), name=n, exchange=x) for s, p, n, x in _DEFAULT_INSTRUMENTS
    ]
    instruments.append(InstrumentConfig(
        symbol="SIRI", price=Decimal("3.85"), name="Sirius XM Holdings Inc.", fractionable=False, shortable=False,
        easy_to_borrow=False,
    ))
    accounts = [
        AccountConfig(id="ACC1", type="margin", cash=Decimal(100000), tokens=["SIMTOKEN"],
                      keys=[KeyConfig(key="SIMKEY", secret="SIMSECRET")]),
        AccountConfig(id="ACC2", type="cash", cash=Decimal(50000), tokens=["SIMTOKEN2"],
                      keys=[KeyConfig(key="SIMKEY2", secret="SIMSECRET2")]),
        AccountConfig(id="ACC3", type="ira", cash=Decimal(50000), tokens=["SIMTOKEN3"],
                      keys=[KeyConfig(key="SIMKEY3", secret="SIMSECRET3")]),
    ]
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
