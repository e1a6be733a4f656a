"""Moving time: ticks during the session (prices, matching), the opening and closing auctions, expiries."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from simulator.core.execution import expire, match, route, run_auction
from simulator.core.model import OrderStatus, SimOrder, TimeInForce
from simulator.core.state import MarketState

__all__ = ["advance", "advance_to", "match_symbol", "tick"]


def advance(state: MarketState, seconds: Decimal) -> int:
    """Run the market forward by `seconds` of simulated time; return the number of ticks run."""
    if seconds < 0:
        raise ValueError("the simulated clock cannot go backwards")
    clock = state.clock
    target = clock.now() + timedelta(seconds=float(seconds))
    step = timedelta(seconds=float(state.tick_seconds))
    ticks = 0
    while clock.now() < target:
        if clock.is_open():
            close = clock.next_close()
            while clock.now() < target:
                step_end = min(clock.now() + step, target)
                if step_end >= close:
                    clock.move_to(close)
                    on_close(state)
                    break
                clock.move_to(step_end)
                tick(state)
                ticks += 1
        else:
            opening = clock.next_open()
            if opening > target:
                clock.move_to(target)
                break
            clock.move_to(opening)
            on_open(state)
    return ticks


def advance_to(state: MarketState, moment: datetime) -> int:
    """Run the market forward until `moment` (no-op if it is in the past)."""
    seconds = (moment - state.clock.now()).total_seconds()
    return advance(state, Decimal(repr(max(seconds, 0.0))))


def tick(state: MarketState) -> None:
    """Move every price one step, refill liquidity, then match all working orders in time priority."""
    for inst in state.instruments.values():
        inst.step()
    for order in state.open_orders():
        match(state, order)


def match_symbol(state: MarketState, symbol: str) -> None:
    """Re-run matching for one symbol without moving time (after a price is set)."""
    if not state.clock.is_open():
        return
    for order in state.open_orders(symbol=symbol):
        match(state, order)


def _waiting(order: SimOrder) -> bool:
    return order.status in (OrderStatus.ACCEPTED, OrderStatus.PENDING_NEW)


def on_open(state: MarketState) -> None:
    """Opening auction for OPG orders, then route every order accepted while closed."""
    for order in state.open_orders():
        if not _waiting(order):
            continue
        route(state, order)
        if order.time_in_force is TimeInForce.OPG and order.is_open:
            run_auction(state, order)


def on_close(state: MarketState) -> None:
    """Closing auction for CLS orders, expire DAY orders, roll every account to the next day."""
    today = state.clock.today()
    for order in state.open_orders():
        if _waiting(order):
            continue  # accepted after hours: works from the next open
        if order.time_in_force is TimeInForce.CLS:
            run_auction(state, order)
        elif order.time_in_force in (TimeInForce.DAY, TimeInForce.OPG):
            expire(state, order)
    marks = state.marks()
    for account in state.accounts.values():
        account.roll_day(marks, today)
    for inst in state.instruments.values():
        inst.close_day()
