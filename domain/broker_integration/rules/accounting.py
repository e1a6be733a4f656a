"""The account ledger: fills applied to cash and positions, T+1 settlement, day trades, good-faith violations.

Pure functions over `BrokerAccount`: each returns a new account and never mutates its argument. Dates are
trade dates in the market's calendar (the caller passes them; the domain reads no clock).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from ..base import ValueObject
from ..entities import BrokerAccount, GoodFaithViolation, Position, Settlement, UnsettledPurchase
from ..enums import AccountType, AssetClass, OrderSide
from .assets import precision_for

__all__ = [
    "AccountDrift",
    "FillEffect",
    "account_drift",
    "ahead_of_us",
    "apply_fill",
    "business_days_back",
    "day_trade_count",
    "is_stale",
    "mark_to_market",
    "merge_broker_snapshot",
    "next_business_day",
    "roll_to",
    "settled_cash",
    "tracks_good_faith",
]

ZERO = Decimal("0")
CENT = Decimal("0.01")
DAY_TRADE_WINDOW = 5  # business days


def next_business_day(day: date, holidays: Collection[date] = ()) -> date:
    """The first business day strictly after `day`: the T+1 settlement date of a trade on `day`."""
    nxt = day + timedelta(days=1)
    while nxt.weekday() >= 5 or nxt in holidays:
        nxt += timedelta(days=1)
    return nxt


def business_days_back(today: date, count: int, holidays: Collection[date] = ()) -> list[date]:
    """`count` business days ending with `today` (today included when it is a business day)."""
    days: list[date] = []
    day = today
    while len(days) < count:
        if day.weekday() < 5 and day not in holidays:
            days.append(day)
        day -= timedelta(days=1)
    return days


def settled_cash(account: BrokerAccount, today: date) -> Decimal:
    """Cash less the sale proceeds that have not settled by `today`."""
    pending = sum((s.amount for s in account.pending_settlements if s.settles_on > today), ZERO)
    return account.cash - pending


def day_trade_count(account: BrokerAccount, today: date, holidays: Collection[date] = ()) -> int:
    """Day trades in the last five business days, today included (the pattern-day-trader window)."""
    window = set(business_days_back(today, DAY_TRADE_WINDOW, holidays))
    return sum(1 for d in account.day_trades if d in window)


def roll_to(account: BrokerAccount, today: date) -> BrokerAccount:
    """Start a new trade date: settled proceeds and funded purchases drop out, today's openings reset.

    The end-of-day figures (`last_equity`, `last_maintenance_margin`) are the broker's; a sync sets them.
    """
    if account.trade_date is not None and today <= account.trade_date:
        return account  # only forward: a late fill dated an earlier day must not reset today's openings
    return account.model_copy(deep=True, update={
        "trade_date": today,
        "opened_today": {},
        "day_trade_orders": [],
        "pending_settlements": [s for s in account.pending_settlements if s.settles_on > today],
        "unsettled_purchases": [p for p in account.unsettled_purchases if p.funds_settle_on > today],
    })


@dataclass(frozen=True)
class FillEffect:
    """What one fill did to an account."""

    account: BrokerAccount
    realized_pnl: Decimal
    day_trade: bool
    good_faith_violation: GoodFaithViolation | None


def _signed(side: OrderSide, quantity: Decimal) -> Decimal:
    return quantity if side.is_buy else -quantity


def _move_position(position: Position | None, symbol: str, signed_qty: Decimal, price: Decimal,
                   asset_class: AssetClass | None = None) -> tuple[Position | None, Decimal, Decimal]:
    """Average cost: opening adds to the average, reducing realizes P&L. Returns (position, realized, closed).
    Prices are per unit; values count the asset's multiplier (an option contract is 100 of the underlying)."""
    kind = asset_class or (position.asset_class if position else AssetClass.EQUITY)
    multiplier = precision_for(kind, symbol).multiplier
    before = position.quantity if position else ZERO
    avg = position.avg_entry_price if position else ZERO
    realized_before = position.realized_pnl if position else ZERO
    closing = before != 0 and (before > 0) != (signed_qty > 0)
    closed = min(abs(signed_qty), abs(before)) if closing else ZERO
    realized = closed * (price - avg) * (1 if before > 0 else -1) * multiplier if closing else ZERO
    after = before + signed_qty
    if not closing:
        avg = (abs(before) * avg + abs(signed_qty) * price) / abs(after)
    elif after != 0 and (after > 0) != (before > 0):
        avg = price  # flipped through zero: the remainder opened at this price
    if after == 0:
        return None, realized, closed
    last = price  # the fill is the freshest mark
    moved = Position(symbol=symbol, quantity=after, asset_class=kind, avg_entry_price=avg, last_price=last,
                     market_value=after * last * multiplier, unrealized_pnl=(last - avg) * after * multiplier,
                     realized_pnl=realized_before + realized)
    return moved, realized, closed


def tracks_good_faith(account: BrokerAccount) -> bool:
    """Cash accounts can incur good-faith violations; margin accounts and retirement accounts with limited
    margin (which may spend unsettled proceeds) cannot."""
    if account.account_type is AccountType.MARGIN:
        return False
    return not (account.account_type.is_retirement and account.allow_unsettled_funds)


def apply_fill(account: BrokerAccount, *, symbol: str, side: OrderSide, quantity: Decimal, price: Decimal,
               fees: Decimal = ZERO, trade_date: date, holidays: Collection[date] = (),
               order_id: str | None = None, asset_class: AssetClass | None = None) -> FillEffect:
    """Book one execution at once, before the broker's next figures arrive.

    `asset_class` (None: the position's, else equity) sets the multiplier: an option contract at 5.10 moves
    510.00 of cash.

    Cash moves by the notional and the fees; a sale's proceeds settle T+1; a buy in an account that trades on
    settled funds records the part paid with unsettled proceeds, and selling that purchase before those funds
    settle is a good-faith violation; closing shares opened the same day is a day trade (one per closing
    order, however many fills it takes: pass `order_id`).
    """
    account = roll_to(account, trade_date)
    signed = _signed(side, quantity)
    held_as = account.positions[symbol].asset_class if symbol in account.positions else AssetClass.EQUITY
    kind = asset_class or held_as
    multiplier = precision_for(kind, symbol).multiplier
    notional = quantity * price * multiplier
    cash_accounting = tracks_good_faith(account)
    purchases = list(account.unsettled_purchases)
    violation: GoodFaithViolation | None = None
    if cash_accounting and signed > 0:
        unsettled_used = min(max(notional - max(settled_cash(account, trade_date), ZERO), ZERO), notional)
        if unsettled_used > 0:
            pending = [s.settles_on for s in account.pending_settlements if s.settles_on > trade_date]
            funds_settle_on = max(pending, default=next_business_day(trade_date, holidays))
            share = (quantity * unsettled_used / notional) if notional else quantity
            purchases.append(UnsettledPurchase(symbol=symbol, quantity=share, funds_settle_on=funds_settle_on))
    elif cash_accounting and signed < 0:
        # Fully paid shares are sold first; only the rest comes out of purchases made with unsettled funds.
        held = account.position_quantity(symbol)
        unfunded = sum((p.quantity for p in purchases if p.symbol == symbol and p.funds_settle_on > trade_date),
                       ZERO)
        remaining = max(quantity - max(held - unfunded, ZERO), ZERO)
        kept: list[UnsettledPurchase] = []
        for purchase in purchases:
            if purchase.symbol == symbol and remaining > 0 and purchase.funds_settle_on > trade_date:
                sold = min(purchase.quantity, remaining)
                remaining -= sold
                if violation is None:
                    violation = GoodFaithViolation(symbol=symbol, trade_date=trade_date, quantity=sold,
                                                   funds_settle_on=purchase.funds_settle_on)
                else:
                    violation = violation.model_copy(update={"quantity": violation.quantity + sold})
                if purchase.quantity > sold:
                    kept.append(purchase.model_copy(update={"quantity": purchase.quantity - sold}))
            else:
                kept.append(purchase)
        purchases = kept
    position, realized, closed = _move_position(account.positions.get(symbol), symbol, signed, price, kind)
    positions = dict(account.positions)
    if position is None:
        positions.pop(symbol, None)
    else:
        positions[symbol] = position
    opened_before = account.opened_today.get(symbol, ZERO)
    closes_today = closed > 0 and opened_before > 0
    day_trade = closes_today and (order_id is None or order_id not in account.day_trade_orders)
    opened = dict(account.opened_today)
    opened[symbol] = max(opened_before - closed, ZERO) + quantity - closed
    settlements = list(account.pending_settlements)
    if signed < 0:
        settlements.append(Settlement(amount=notional, settles_on=next_business_day(trade_date, holidays),
                                      symbol=symbol))
    cash = account.cash - signed * price * multiplier - fees
    updated = account.model_copy(deep=True, update={
        "cash": cash,
        "positions": positions,
        "pending_settlements": settlements,
        "unsettled_purchases": purchases,
        "opened_today": opened,
        "realized_pnl": account.realized_pnl + realized,
        "day_trades": [*account.day_trades, trade_date] if day_trade else list(account.day_trades),
        "day_trade_orders": [*account.day_trade_orders, *([order_id] if day_trade and order_id else [])],
        "good_faith_violations": [*account.good_faith_violations, *([violation] if violation else [])],
    })
    updated = updated.model_copy(update={
        "settled_cash": settled_cash(updated, trade_date),
        "day_trade_count": max(account.day_trade_count, day_trade_count(updated, trade_date, holidays)),
        "equity": cash + sum((p.market_value for p in positions.values()), ZERO),
    })
    return FillEffect(account=updated, realized_pnl=realized, day_trade=day_trade, good_faith_violation=violation)


def mark_to_market(account: BrokerAccount, prices: Mapping[str, Decimal]) -> BrokerAccount:
    """Value positions at `prices` (symbols without a price keep their last mark); equity follows."""
    positions = {}
    for symbol, position in account.positions.items():
        last = prices.get(symbol, position.last_price if position.last_price is not None else position.avg_entry_price)
        positions[symbol] = position.model_copy(update={
            "last_price": last, "market_value": position.quantity * last,
            "unrealized_pnl": (last - position.avg_entry_price) * position.quantity,
        })
    equity = account.cash + sum((p.market_value for p in positions.values()), ZERO)
    return account.model_copy(deep=True, update={"positions": positions, "equity": equity})


class AccountDrift(ValueObject):
    """A figure where our ledger and the broker disagree beyond the tolerance."""

    field: str
    ours: Decimal
    broker: Decimal
    symbol: str | None = None

    def describe(self) -> str:
        where = f" {self.symbol}" if self.symbol else ""
        return f"{self.field}{where}: ours {self.ours}, broker {self.broker}"


def account_drift(ours: BrokerAccount, broker: BrokerAccount, tolerance: Decimal = CENT) -> list[AccountDrift]:
    """Cash, position quantities and average prices that differ (quantities must match exactly)."""
    drifts: list[AccountDrift] = []
    if abs(ours.cash - broker.cash) > tolerance:
        drifts.append(AccountDrift(field="cash", ours=ours.cash, broker=broker.cash))
    for symbol in sorted(set(ours.positions) | set(broker.positions)):
        mine, theirs = ours.positions.get(symbol), broker.positions.get(symbol)
        qty_mine = mine.quantity if mine else ZERO
        qty_theirs = theirs.quantity if theirs else ZERO
        if qty_mine != qty_theirs:
            drifts.append(AccountDrift(field="quantity", symbol=symbol, ours=qty_mine, broker=qty_theirs))
        elif mine and theirs and abs(mine.avg_entry_price - theirs.avg_entry_price) > tolerance:
            drifts.append(AccountDrift(field="avg_entry_price", symbol=symbol, ours=mine.avg_entry_price,
                                       broker=theirs.avg_entry_price))
    return drifts


def is_stale(local: BrokerAccount | None, broker: BrokerAccount) -> bool:
    """The broker's snapshot was taken before our last local booking: it may miss that fill or fee."""
    if local is None or local.booked_at is None or broker.updated_at is None:
        return False
    return broker.updated_at < local.booked_at


def ahead_of_us(local: BrokerAccount | None, broker: BrokerAccount, in_flight_symbols: Collection[str]) -> bool:
    """The broker shows a different quantity in a symbol an order of ours is still working: a fill is on its
    way to us, and merging now would count it twice once we book it."""
    if local is None:
        return False
    return any(local.position_quantity(s) != broker.position_quantity(s) for s in in_flight_symbols)


def merge_broker_snapshot(local: BrokerAccount | None, broker: BrokerAccount, today: date,
                          in_flight_symbols: Collection[str] = ()) -> BrokerAccount:
    """The broker's figures and positions, with our own bookkeeping kept.

    Balances, margin figures and positions come from the broker (it is the book of record); pending
    settlements, unsettled purchases, good-faith violations, day trades and realized P&L are ours. A
    retirement type or a limited-margin setting chosen by the user survives (brokers do not report them).
    """
    if local is not None and (is_stale(local, broker) or ahead_of_us(local, broker, in_flight_symbols)):
        return roll_to(local, today)  # not comparable now; the next snapshot will be
    if local is None:
        merged = roll_to(broker, today)
        return merged.model_copy(update={"settled_cash": min(broker.settled_cash, settled_cash(merged, today))})
    positions = {}
    for symbol, position in broker.positions.items():
        mine = local.positions.get(symbol)
        last = position.market_value / position.quantity if position.quantity else position.last_price
        positions[symbol] = position.model_copy(update={
            "last_price": last,
            "realized_pnl": mine.realized_pnl if mine else ZERO,
            "unrealized_pnl": position.market_value - position.quantity * position.avg_entry_price,
        })
    kept_type = local.account_type if local.account_type.is_retirement else broker.account_type
    merged = roll_to(local, today).model_copy(deep=True, update={
        "account_number": broker.account_number, "account_type": kept_type, "currency": broker.currency,
        "cash": broker.cash, "equity": broker.equity, "buying_power": broker.buying_power,
        "initial_margin": broker.initial_margin, "maintenance_margin": broker.maintenance_margin,
        "last_equity": broker.last_equity or local.last_equity,
        "last_maintenance_margin": broker.last_maintenance_margin or local.last_maintenance_margin,
        "pattern_day_trader": broker.pattern_day_trader, "shorting_enabled": broker.shorting_enabled,
        "margin_rates": broker.margin_rates, "margin_available": broker.margin_available,
        "day_trade_count": max(broker.day_trade_count, day_trade_count(local, today)),
        "positions": positions, "updated_at": broker.updated_at,
    })
    return merged.model_copy(update={"settled_cash": min(broker.settled_cash, settled_cash(merged, today))})
