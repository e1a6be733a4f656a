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
- Margin rates (forex, crypto): the broker sets the margin per instrument (OANDA 0.02: 50:1), reported on the
  account; an order posts notional x rate out of the margin available, equity less the margin of the positions
  (each at its rate, Reg T's 50% for the rest), never more than the broker's own figure. Crypto is cash (rate 1)
  unless the account says otherwise. Equities and options stay on Reg T (or cash) whatever the account reports.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from ..base import ValueObject
from ..entities import BrokerAccount
from ..enums import AccountType, AssetClass
from .accounting import settled_cash

__all__ = [
    "INITIAL_MARGIN",
    "MAINTENANCE_LONG",
    "MAINTENANCE_SHORT",
    "PDT_DAY_TRADES",
    "PDT_MIN_EQUITY",
    "RATED_CLASSES",
    "REG_T_MIN_EQUITY",
    "AccountFigures",
    "compute_figures",
    "margin_rate",
]

ZERO = Decimal("0")
INITIAL_MARGIN = Decimal("0.5")
MAINTENANCE_LONG = Decimal("0.25")
MAINTENANCE_SHORT = Decimal("0.30")
PDT_MIN_EQUITY = Decimal("25000")
PDT_DAY_TRADES = 4
REG_T_MIN_EQUITY = Decimal("2000")  # below it a margin account may not borrow
RATED_CLASSES = frozenset({AssetClass.FOREX, AssetClass.CRYPTO})  # margined at the broker's rate
CASH_RATE = Decimal(1)


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
    margin_used: Decimal = ZERO  # the positions' margin, each at its rate (Reg T's 50% where none)
    margin_available: Decimal = ZERO  # what orders at a margin rate may post


def margin_rate(account: BrokerAccount, asset_class: AssetClass, symbol: str) -> Decimal | None:
    """The broker's margin rate of an instrument (fraction of its notional): the account's rate for the symbol,
    else for its asset class; crypto 1 (cash) unless the account says otherwise. None: the account type's rules
    apply (equities and options always; forex the broker gave no rate for)."""
    if asset_class not in RATED_CLASSES:
        return None
    rates = account.margin_rates
    rate = rates.get(symbol, rates.get(str(asset_class)))
    if rate is not None and rate > 0:
        return rate
    return CASH_RATE if asset_class is AssetClass.CRYPTO else None


def _margin_used(account: BrokerAccount) -> Decimal:
    used = ZERO
    for p in account.positions.values():
        rate = margin_rate(account, p.asset_class, p.symbol)
        used += abs(p.market_value) * (INITIAL_MARGIN if rate is None else rate)
    return used


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
        used = _margin_used(account)
        available = max(equity - used, ZERO)
        if account.margin_available is not None:  # the broker knows of what we do not (financing, fees)
            available = min(available, max(account.margin_available, ZERO))
    else:
        initial = long_mv
        maintenance = long_mv
        multiplier = Decimal(1)
        spendable = account.cash if account.allow_unsettled_funds else min(settled, account.cash)
        buying_power = max(spendable, ZERO)
        regt = buying_power
        daytrading = ZERO
        used, available = long_mv, buying_power
    return AccountFigures(
        account_type=account.account_type, cash=account.cash, settled_cash=settled,
        long_market_value=long_mv, short_market_value=short_mv, equity=equity,
        initial_margin=initial, maintenance_margin=maintenance, multiplier=multiplier,
        regt_buying_power=regt, daytrading_buying_power=daytrading, buying_power=buying_power,
        maintenance_excess=equity - maintenance, margin_call=margin and equity < maintenance,
        margin_used=used, margin_available=available,
    )
