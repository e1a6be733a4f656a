"""Exchange core: instruments, accounts, orders, matching and time; knows no wire protocol."""

from simulator.core.accounts import Account, AccountType, Position
from simulator.core.clock import SimClock
from simulator.core.exchange import Exchange
from simulator.core.fees import FeeSchedule
from simulator.core.instruments import Instrument, InstrumentSpec
from simulator.core.model import (
    OrderRequest,
    OrderStatus,
    OrderType,
    Rejection,
    RejectKind,
    Side,
    SimOrder,
    TimeInForce,
    TradeEvent,
)
from simulator.core.state import ExchangeQuirks, MarketState

__all__ = [
    "Account",
    "AccountType",
    "Exchange",
    "ExchangeQuirks",
    "FeeSchedule",
    "Instrument",
    "InstrumentSpec",
    "MarketState",
    "OrderRequest",
    "OrderStatus",
    "OrderType",
    "Position",
    "RejectKind",
    "Rejection",
    "Side",
    "SimClock",
    "SimOrder",
    "TimeInForce",
    "TradeEvent",
]
