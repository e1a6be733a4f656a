"""Buying power and margin by account type, computed from the ledger (pure; worked examples in the tests).

- Cash: settled cash only (T+1), no shorting, no borrowing.
- Retirement (IRA, Roth, SEP, SIMPLE, solo 401k): cash-like, no shorting, no borrowing; with limited
  margin (`allow_unsettled_funds`, Alpaca's IRA default) unsettled sale proceeds may be spent.
- Margin, Reg T: initial margin 50% of long and short market value, maintenance 25% long / 30% short;
  Reg T buying power = max(equity - initial margin, 0) x 2 (x 1 below $2,000 of equity, which may not
  borrow); a pattern day trader with at least $25,000 of last equity gets day-trading buying power,
  4 x (last equity - last maintenance margin), Alpaca's formula.
- Pattern day trader: 4 or more day trades in 5 business days flags a margin account; below $25,000 of
  equity, an order that would complete another day trade is refused (FINRA rule 4210).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from ..base import ValueObject
from ..entities import BrokerAccount
from ..enums import AccountType
from .accounting import settled_cash

__all__ = [
    "INITIAL_MARGIN",
    "MAINTENANCE_LONG",
    "MAINTENANCE_SHORT",
    "PDT_DAY_TRADES",
    "PDT_MIN_EQUITY",
    "REG_T_MIN_EQUITY",
    "AccountFigures",
    "compute_figures",
]

ZERO = Decimal("0")
INITIAL_MARGIN = Decimal("0.5")
MAINTENANCE_LONG = Decimal("0.25")
MAINTENANCE_SHORT = Decimal("0.30")
PDT_MIN_EQUITY = Decimal("25000")
PDT_DAY_TRADES = 4
REG_T_MIN_EQUITY = Decimal("2000")  # below it a margin account may not borrow


class AccountFigures(ValueObject):
    """Balances and margin as we compute them from cash, positions and marks."""

    account_type: AccountType
    cash: Decimal
    settled_cash: Decimal
    long_market_value: Decimal
    short_market_value: Decimal  # negative, as brokers report it
    equity: Decimal
    initial_margin: Decimal
    maintenance_margin: Decimal
    multiplier: Decimal
    regt_buying_power: Decimal
    daytrading_buying_power: Decimal
    buying_power: Decimal
    maintenance_excess: Decimal
    margin_call: bool


def compute_figures(account: BrokerAccount, today: date) -> AccountFigures:
    """Our figures for `account` on `today`, from its cash, pending settlements and marked positions."""
    long_mv = sum((p.market_value for p in account.positions.values() if p.quantity > 0), ZERO)
    short_mv = sum((p.market_value for p in account.positions.values() if p.quantity < 0), ZERO)
    equity = account.cash + long_mv + short_mv
    settled = settled_cash(account, today)
    margin = account.account_type is AccountType.MARGIN
    if margin:
        initial = (long_mv - short_mv) * INITIAL_MARGIN
        maintenance = long_mv * MAINTENANCE_LONG - short_mv * MAINTENANCE_SHORT
        pdt = account.pattern_day_trader and account.last_equity >= PDT_MIN_EQUITY
        borrows = equity >= REG_T_MIN_EQUITY
        multiplier = Decimal(4) if pdt else Decimal(2) if borrows else Decimal(1)
        regt = max(equity - initial, ZERO) * (2 if borrows else 1)
        daytrading = max(account.last_equity - account.last_maintenance_margin, ZERO) * 4 if pdt else ZERO
        buying_power = daytrading if pdt else regt
    else:
        initial = long_mv
        maintenance = long_mv
        multiplier = Decimal(1)
        spendable = account.cash if account.allow_unsettled_funds else min(settled, account.cash)
        buying_power = max(spendable, ZERO)
        regt = buying_power
        daytrading = ZERO
    return AccountFigures(
        account_type=account.account_type, cash=account.cash, settled_cash=settled,
        long_market_value=long_mv, short_market_value=short_mv, equity=equity,
        initial_margin=initial, maintenance_margin=maintenance, multiplier=multiplier,
        regt_buying_power=regt, daytrading_buying_power=daytrading, buying_power=buying_power,
        maintenance_excess=equity - maintenance, margin_call=margin and equity < maintenance,
    )
