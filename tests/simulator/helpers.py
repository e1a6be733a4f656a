"""Shared builders for simulator tests: frozen-price configurations and short order constructors."""

from __future__ import annotations

from decimal import Decimal

from simulator.config import AccountConfig, InstrumentConfig, KeyConfig, SimConfig, default_config
from simulator.core import Exchange, OrderRequest, OrderType, Side, TimeInForce
from simulator.factory import build_exchange

D = Decimal


def frozen_config(seed: int = 1, **updates: object) -> SimConfig:
    """Default accounts and symbols with volatility 0, so prices only move when a test sets them."""
    base = default_config(seed)
    instruments = [i.model_copy(update={"volatility": Decimal(0)}) for i in base.instruments]
    return base.model_copy(update={"instruments": instruments, "autotick": False, **updates})


def small_margin_account(account_id: str = "SMALL", cash: str = "10000") -> AccountConfig:
    return AccountConfig(id=account_id, type="margin", cash=D(cash), keys=[KeyConfig(key="SMALLKEY", secret="S")])


def exchange(seed: int = 1, extra_accounts: list[AccountConfig] | None = None) -> Exchange:
    config = frozen_config(seed)
    if extra_accounts:
        config = config.model_copy(update={"accounts": [*config.accounts, *extra_accounts]})
    return build_exchange(config)


def order(symbol: str, side: str, qty: str | None, kind: str = "market", tif: str = "day",
          **fields: object) -> OrderRequest:
    converted = {k: D(str(v)) if k.endswith(("price", "percent")) or k == "notional" else v
                 for k, v in fields.items()}
    return OrderRequest(symbol, Side(side), OrderType(kind), TimeInForce(tif),
                        qty=D(qty) if qty is not None else None, **converted)  # type: ignore[arg-type]


def events_of(ex: Exchange, order_id: str) -> list[str]:
    return [e.event for e in ex.state.events.history if e.order.id == order_id]


__all__ = ["InstrumentConfig", "events_of", "exchange", "frozen_config", "order", "small_margin_account"]
