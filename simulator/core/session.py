"""Moving time: ticks while a session is open (prices, matching), the opening and closing auctions, expiries.

Each instrument follows the session of its asset class (clock.Session): equities 09:30-16:00, forex Sunday 17:00 to
Friday 17:00, crypto always; a tick moves and matches only the instruments whose session is open. The day's end
(DAY expiry, account roll) stays at the equity close."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from simulator.core.clock import Session
from simulator.core.execution import expire, match, route, run_auction
from simulator.core.model import OrderStatus, SimOrder, TimeInForce
from simulator.core.state import MarketState

__all__ = ["advance", "advance_to", "match_symbol", "session_of", "tick"]


def session_of(state: MarketState, symbol: str) -> Session:
    """The session the instrument trades in."""
    return Session.of(state.instruments[symbol].spec.asset_class)


def advance(state: MarketState, seconds: Decimal) -> int:
    """Run the market forward by `seconds` of simulated time; return the number of ticks run."""
    if seconds < 0:
        raise ValueError("the simulated clock cannot go backwards")
    clock = state.clock
    target = clock.now() + timedelta(seconds=float(seconds))
    step = timedelta(seconds=float(state.tick_seconds))
    ticks = 0
    while clock.now() < target:
        now = clock.now()
        sessions = {session_of(state, symbol) for symbol in state.instruments}
        trading = {s for s in sessions if clock.is_open(now, s)}
        changes = {s: clock.next_change(s, now) for s in sessions}
        boundary = min((c for c in changes.values() if c is not None), default=None)
        stop = target if boundary is None else min(boundary, target)
        while trading and clock.now() < stop:
            end = min(clock.now() + step, stop)
            clock.move_to(end)
            if end == boundary:  # a session opens or closes: no tick at that moment
                break
            tick(state, trading)
            ticks += 1
        clock.move_to(stop)
        if stop == boundary:
            _change(state, [s for s, c in changes.items() if c == boundary])
    return ticks


def _change(state: MarketState, sessions: list[Session]) -> None:
    """Closes first (the equity close ends the day), then opens."""
    closing = [s for s in sessions if not state.clock.is_open(session=s)]
    for session in closing:
        if session is Session.EQUITY:
            on_close(state)
    for session in sessions:
        if session not in closing:
            on_open(state, session)


def advance_to(state: MarketState, moment: datetime) -> int:
    """Run the market forward until `moment` (no-op if it is in the past)."""
    seconds = (moment - state.clock.now()).total_seconds()
    return advance(state, Decimal(repr(max(seconds, 0.0))))


def tick(state: MarketState, sessions: set[Session] | None = None) -> None:
    """Move every price one step, refill liquidity, then match all working orders in time priority (only the
    instruments of `sessions`, when given)."""
    for inst in state.instruments.values():
        if sessions is None or Session.of(inst.spec.asset_class) in sessions:
            inst.step()
    for order in state.open_orders():
        if sessions is None or session_of(state, order.symbol) in sessions:
            match(state, order)


def match_symbol(state: MarketState, symbol: str) -> None:
    """Re-run matching for one symbol without moving time (after a price is set)."""
    if not state.clock.is_open(session=session_of(state, symbol)):
        return
    for order in state.open_orders(symbol=symbol):
        match(state, order)


def _waiting(order: SimOrder) -> bool:
    return order.status in (OrderStatus.ACCEPTED, OrderStatus.PENDING_NEW)


def on_open(state: MarketState, session: Session = Session.EQUITY) -> None:
    """Route every order of the session's instruments accepted while it was closed (OPG: the opening auction)."""
    for order in state.open_orders():
        if not _waiting(order) or session_of(state, order.symbol) is not session:
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
