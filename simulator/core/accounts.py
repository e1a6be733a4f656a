"""Brokerage accounts: cash with T+1 settlement, positions, margin figures and day-trade bookkeeping."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from simulator.core.clock import is_business_day

__all__ = ["Account", "AccountType", "Position"]

ZERO = Decimal(0)
HALF = Decimal("0.5")
PDT_MIN_EQUITY = Decimal(25000)


class AccountType(StrEnum):
    CASH = "cash"
    MARGIN = "margin"
    IRA = "ira"


@dataclass
class Position:
    """A signed position: qty < 0 is short."""

    symbol: str
    asset_id: str
    qty: Decimal = ZERO
    avg_entry_price: Decimal = ZERO

    @property
    def cost_basis(self) -> Decimal:
        return abs(self.qty) * self.avg_entry_price

    def apply(self, signed_qty: Decimal, price: Decimal) -> None:
        """Add a signed execution; opening adds to the average price, reducing keeps it."""
        new_qty = self.qty + signed_qty
        opening = self.qty == 0 or (self.qty > 0) == (signed_qty > 0)
        if opening:
            self.avg_entry_price = (abs(self.qty) * self.avg_entry_price + abs(signed_qty) * price) / abs(new_qty)
        elif new_qty != 0 and (new_qty > 0) != (self.qty > 0):
            self.avg_entry_price = price  # flipped through zero: the remainder opened at this price
        self.qty = new_qty


@dataclass
class Account:
    """One account; figures that need prices take a symbol -> price mapping."""

    id: str
    number: str
    type: AccountType
    cash: Decimal
    created_at: datetime
    shorting_enabled: bool = False
    pattern_day_trader: bool = False
    commission_per_share: Decimal = ZERO
    commission_minimum: Decimal = ZERO
    positions: dict[str, Position] = field(default_factory=dict)
    unsettled: list[tuple[date, Decimal]] = field(default_factory=list)
    day_trades: list[date] = field(default_factory=list)
    opened_today: dict[str, Decimal] = field(default_factory=dict)
    last_equity: Decimal = ZERO
    last_maintenance_margin: Decimal = ZERO
    balance_asof: date | None = None
    fees_paid: Decimal = ZERO
    margin_rate: Decimal | None = None  # a forex broker's margin (0.02: 50:1); None: Reg T

    @property
    def levered(self) -> bool:
        return self.is_margin and self.margin_rate is not None and self.margin_rate > 0

    @property
    def is_margin(self) -> bool:
        return self.type is AccountType.MARGIN

    @property
    def can_short(self) -> bool:
        return self.is_margin and self.shorting_enabled

    def settled_cash(self, today: date) -> Decimal:
        """Return cash less sale proceeds that settle after `today`."""
        pending = sum((amount for when, amount in self.unsettled if when > today), ZERO)
        return self.cash - pending

    def long_market_value(self, marks: Mapping[str, Decimal]) -> Decimal:
        return sum((p.qty * marks[s] for s, p in self.positions.items() if p.qty > 0), ZERO)

    def short_market_value(self, marks: Mapping[str, Decimal]) -> Decimal:
        return sum((p.qty * marks[s] for s, p in self.positions.items() if p.qty < 0), ZERO)

    def equity(self, marks: Mapping[str, Decimal]) -> Decimal:
        return self.cash + self.long_market_value(marks) + self.short_market_value(marks)

    def initial_margin(self, marks: Mapping[str, Decimal]) -> Decimal:
        """Reg T initial margin: 50% of long and short exposure (100% in cash accounts)."""
        gross = self.long_market_value(marks) - self.short_market_value(marks)
        if self.levered and self.margin_rate is not None:
            return gross * self.margin_rate
        return gross * HALF if self.is_margin else gross

    def maintenance_margin(self, marks: Mapping[str, Decimal]) -> Decimal:
        """25% of longs and 30% of shorts in margin accounts, 100% otherwise."""
        if not self.is_margin:
            return self.long_market_value(marks)
        return self.long_market_value(marks) * Decimal("0.25") - self.short_market_value(marks) * Decimal("0.3")

    def multiplier(self, marks: Mapping[str, Decimal]) -> Decimal:
        if not self.is_margin:
            return Decimal(1)
        if self.levered and self.margin_rate is not None:
            return 1 / self.margin_rate
        if self.pattern_day_trader and self.last_equity >= PDT_MIN_EQUITY:
            return Decimal(4)
        return Decimal(2)

    def position_qty(self, symbol: str) -> Decimal:
        pos = self.positions.get(symbol)
        return pos.qty if pos else ZERO

    def apply_execution(self, symbol: str, asset_id: str, signed_qty: Decimal, price: Decimal,
                        multiplier: Decimal = Decimal(1)) -> bool:
        """Book an execution against cash and position (cash moves by price x multiplier per unit: 100 for
        an option contract); return True when it completed a day trade."""
        pos = self.positions.setdefault(symbol, Position(symbol, asset_id))
        before = pos.qty
        closed = min(abs(signed_qty), abs(before)) if before != 0 and (before > 0) != (signed_qty > 0) else ZERO
        pos.apply(signed_qty, price)
        self.cash -= signed_qty * price * multiplier
        if pos.qty == 0:
            del self.positions[symbol]
        opened_today = self.opened_today.get(symbol, ZERO)
        day_trade = closed > 0 and opened_today > 0
        self.opened_today[symbol] = max(opened_today - closed, ZERO) + abs(signed_qty) - closed
        return day_trade

    def closes_position_opened_today(self, symbol: str, buying: bool) -> bool:
        """Return True if an order on this side would close shares opened today (a day trade)."""
        qty = self.position_qty(symbol)
        closing = qty < 0 if buying else qty > 0
        return closing and self.opened_today.get(symbol, ZERO) > 0

    def record_day_trade(self, today: date) -> None:
        self.day_trades.append(today)
        if self.is_margin and self.day_trade_count(today) >= 4:
            self.pattern_day_trader = True

    def day_trade_count(self, today: date) -> int:
        """Count day trades in the last five business days including today."""
        window: list[date] = []
        day = today
        while len(window) < 5:
            if is_business_day(day):
                window.append(day)
            day = date.fromordinal(day.toordinal() - 1)
        return sum(1 for d in self.day_trades if d in window)

    def roll_day(self, marks: Mapping[str, Decimal], today: date) -> None:
        """Snapshot end-of-day figures and forget settled and same-day bookkeeping."""
        self.last_equity = self.equity(marks)
        self.last_maintenance_margin = self.maintenance_margin(marks)
        self.balance_asof = today
        self.opened_today.clear()
        self.unsettled = [(d, a) for d, a in self.unsettled if d > today]
