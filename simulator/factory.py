"""Build an exchange from a SimConfig: instruments with the run's seed, accounts with their positions."""

from __future__ import annotations

import zlib
from decimal import Decimal

from simulator.config import AccountConfig, InstrumentConfig, SimConfig
from simulator.core import (
    Account,
    AccountType,
    Exchange,
    FeeSchedule,
    Instrument,
    InstrumentSpec,
    MarketState,
    Position,
    SimClock,
)

__all__ = ["build_account", "build_exchange", "build_instrument"]


def build_instrument(cfg: InstrumentConfig, seed: int) -> Instrument:
    spec = InstrumentSpec(
        symbol=cfg.symbol, price=cfg.price, name=cfg.name or cfg.symbol, exchange=cfg.exchange,
        volatility=cfg.volatility, spread=cfg.spread, liquidity=cfg.liquidity, fractionable=cfg.fractionable,
        shortable=cfg.shortable, easy_to_borrow=cfg.easy_to_borrow, marginable=cfg.marginable,
        tradable=cfg.tradable, tick=cfg.tick, asset_class=cfg.asset_class,
    )
    return Instrument(spec, seed)


def build_account(cfg: AccountConfig, exchange: Exchange) -> Account:
    """Create the account described by `cfg` and register it with `exchange`."""
    state = exchange.state
    kind = AccountType(cfg.type)
    account = Account(
        id=cfg.id, number=cfg.account_number or f"PA{zlib.crc32(cfg.id.encode()):010d}", type=kind,
        cash=cfg.cash, created_at=state.now(),
        shorting_enabled=cfg.shorting_enabled if cfg.shorting_enabled is not None else kind is AccountType.MARGIN,
        pattern_day_trader=cfg.pattern_day_trader, commission_per_share=cfg.commission_per_share,
        commission_minimum=cfg.commission_minimum, margin_rate=cfg.margin_rate,
    )
    for symbol, pos in cfg.positions.items():
        inst = state.instrument(symbol)
        price = pos.avg_entry_price if pos.avg_entry_price is not None else inst.price
        account.positions[symbol] = Position(symbol, inst.asset_id, pos.qty, price)
    exchange.add_account(account)
    return account


def build_exchange(config: SimConfig) -> Exchange:
    """Return a fresh exchange in the configured initial state."""
    state = MarketState(
        clock=SimClock(config.start),
        instruments={i.symbol: build_instrument(i, config.seed) for i in config.instruments},
        fees=FeeSchedule(config.sec_fee_per_million, config.taf_per_share, config.taf_max_per_trade),
        tick_seconds=config.tick_seconds if config.tick_seconds > 0 else Decimal(1),
    )
    exchange = Exchange(state)
    for account in config.accounts:
        build_account(account, exchange)
    return exchange
