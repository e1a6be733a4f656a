"""Trading hours by asset class: equities 09:30-16:00, forex Sunday 17:00 to Friday 17:00 New York, crypto 24/7.

The default simulator starts Monday 2026-03-02 10:00 New York."""

from __future__ import annotations

from datetime import UTC, datetime

from simulator.config import default_config
from simulator.core import OrderStatus
from simulator.core.clock import NEW_YORK, Session, SimClock
from simulator.factory import build_exchange

from .helpers import D, events_of, exchange, frozen_config, order

MONDAY_17 = datetime(2026, 3, 2, 17, 0, tzinfo=NEW_YORK)
FRIDAY = datetime(2026, 3, 6, tzinfo=NEW_YORK)
SATURDAY_NOON = datetime(2026, 3, 7, 12, 0, tzinfo=NEW_YORK)
SUNDAY = datetime(2026, 3, 8, tzinfo=NEW_YORK)


def _at(hour: int, minute: int, day: datetime) -> datetime:
    return day.replace(hour=hour, minute=minute).astimezone(UTC)


def test_forex_trades_sunday_17_to_friday_17_new_york() -> None:
    clock = SimClock()
    assert clock.is_open(_at(16, 59, FRIDAY), Session.FOREX)
    assert not clock.is_open(_at(17, 0, FRIDAY), Session.FOREX)
    assert not clock.is_open(SATURDAY_NOON, Session.FOREX)
    assert not clock.is_open(_at(16, 59, SUNDAY), Session.FOREX)
    assert clock.is_open(_at(17, 0, SUNDAY), Session.FOREX)
    assert clock.is_open(_at(3, 0, FRIDAY), Session.FOREX)  # overnight, equities closed
    assert not clock.is_open(_at(3, 0, FRIDAY), Session.EQUITY)
    assert clock.next_change(Session.FOREX, _at(10, 0, FRIDAY)) == _at(17, 0, FRIDAY)
    assert clock.next_change(Session.FOREX, SATURDAY_NOON) == _at(17, 0, SUNDAY)
    assert clock.next_change(Session.EQUITY, SATURDAY_NOON) == datetime(2026, 3, 9, 9, 30, tzinfo=NEW_YORK)


def test_crypto_never_closes() -> None:
    clock = SimClock()
    assert all(clock.is_open(moment, Session.CRYPTO) for moment in (SATURDAY_NOON, _at(3, 0, SUNDAY)))
    assert clock.next_change(Session.CRYPTO, SATURDAY_NOON) is None
    assert (Session.of("forex"), Session.of("crypto"), Session.of("us_equity")) == (
        Session.FOREX,
        Session.CRYPTO,
        Session.EQUITY,
    )


def test_after_the_equity_close_forex_and_crypto_still_trade_equities_wait() -> None:
    ex = exchange()
    ex.advance(D(7 * 3600))  # Monday 17:00 New York
    assert ex.state.now() == MONDAY_17.astimezone(UTC)
    fx = ex.submit("FX1", order("EUR_USD", "buy", "10000"))
    btc = ex.submit("CRYPTO1", order("BTCUSDT", "buy", "0.1", tif="gtc"))
    stock = ex.submit("ACC1", order("AAPL", "buy", "1"))
    assert events_of(ex, fx.id) == ["new", "fill"]
    assert events_of(ex, btc.id) == ["new", "fill"]
    assert events_of(ex, stock.id) == ["accepted"]
    ex.advance(D(16 * 3600 + 1800 + 1))  # 09:30:01 Tuesday
    assert events_of(ex, stock.id) == ["accepted", "new", "fill"]


def test_a_forex_order_placed_on_saturday_waits_for_sunday_17_crypto_does_not() -> None:
    ex = build_exchange(frozen_config(tick_seconds=D(60)))  # days of 24h sessions: minute ticks
    ex.advance(D(int((SATURDAY_NOON - ex.state.now()).total_seconds())))
    fx = ex.submit("FX1", order("EUR_USD", "sell", "5000"))
    btc = ex.submit("CRYPTO1", order("BTCUSDT", "sell", "0.5", tif="gtc"))
    assert events_of(ex, fx.id) == ["accepted"]
    assert ex.state.orders[btc.id].status is OrderStatus.FILLED
    ex.advance(D(int((_at(17, 0, SUNDAY) - ex.state.now()).total_seconds()) - 1))
    assert events_of(ex, fx.id) == ["accepted"]  # 16:59:59 Sunday
    ex.advance(D(1))
    assert events_of(ex, fx.id) == ["accepted", "new", "fill"]


def test_resting_forex_orders_match_overnight_when_the_price_moves() -> None:
    ex = exchange()
    ex.advance(D(10 * 3600))  # Monday 20:00 New York
    limit = ex.submit("FX1", order("EUR_USD", "buy", "10000", "limit", "gtc", limit_price="1.08000"))
    stock = ex.submit("ACC1", order("AAPL", "buy", "1", "limit", "gtc", limit_price="150"))
    assert ex.state.orders[limit.id].status is OrderStatus.NEW
    ex.set_price("EUR_USD", D("1.07900"))
    ex.set_price("AAPL", D("140"))
    assert ex.state.orders[limit.id].status is OrderStatus.FILLED
    assert events_of(ex, stock.id) == ["accepted"]  # equities match from the next open


def test_only_open_sessions_move_their_prices() -> None:
    ex = build_exchange(default_config(7).model_copy(update={"tick_seconds": D(10)}))
    ex.advance(D(7 * 3600))  # Monday 17:00: equities closed
    before = {symbol: inst.price for symbol, inst in ex.state.instruments.items()}
    ticks = ex.advance(D(600))
    moved = {symbol for symbol, inst in ex.state.instruments.items() if inst.price != before[symbol]}
    assert ticks == 60
    assert "AAPL" not in moved and "SPY" not in moved
    assert {"EUR_USD", "BTCUSDT"} <= moved
