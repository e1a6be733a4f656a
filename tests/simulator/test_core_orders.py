"""Exchange core: order types, time in force, partial fills, replace and cancel, reproducible prices."""

from __future__ import annotations

from decimal import Decimal

import pytest

from simulator.config import default_config
from simulator.core import OrderStatus, Rejection, RejectKind
from simulator.factory import build_exchange
from tests.simulator.helpers import events_of, exchange, order

D = Decimal


def test_market_buy_fills_at_the_ask_with_new_then_fill() -> None:
    ex = exchange()
    accepted = ex.submit("ACC1", order("AAPL", "buy", "10"))
    assert accepted.status is OrderStatus.ACCEPTED
    live = ex.state.orders[accepted.id]
    assert live.status is OrderStatus.FILLED and live.filled_avg_price == D("187.51")
    assert events_of(ex, live.id) == ["new", "fill"]
    fill = ex.state.events.history[-1]
    assert (fill.qty, fill.price, fill.position_qty) == (D(10), D("187.51"), D(10))
    assert ex.state.accounts["ACC1"].cash == D(100000) - D("1875.10")


def test_limit_buy_rests_until_the_ask_reaches_the_limit() -> None:
    ex = exchange()
    placed = ex.submit("ACC1", order("AAPL", "buy", "5", "limit", "gtc", limit_price="180"))
    ex.advance(D(5))
    assert ex.state.orders[placed.id].status is OrderStatus.NEW
    ex.set_price("AAPL", D("179.50"))
    live = ex.state.orders[placed.id]
    assert live.status is OrderStatus.FILLED and live.filled_avg_price == D("179.51")


def test_stop_buy_triggers_at_stop_and_stop_limit_respects_its_limit() -> None:
    ex = exchange()
    stop = ex.submit("ACC1", order("MSFT", "buy", "1", "stop", stop_price="415"))
    stop_limit = ex.submit("ACC1", order("MSFT", "buy", "1", "stop_limit", stop_price="415", limit_price="416"))
    ex.set_price("MSFT", D("414"))
    assert ex.state.orders[stop.id].status is OrderStatus.NEW
    ex.set_price("MSFT", D("417"))
    assert ex.state.orders[stop.id].status is OrderStatus.FILLED
    assert ex.state.orders[stop_limit.id].status is OrderStatus.NEW  # triggered, but ask 417.01 > 416
    ex.set_price("MSFT", D("415.50"))
    assert ex.state.orders[stop_limit.id].filled_avg_price == D("415.51")


def test_stop_on_the_wrong_side_of_the_market_is_refused() -> None:
    ex = exchange()
    with pytest.raises(Rejection) as info:
        ex.submit("ACC1", order("MSFT", "buy", "1", "stop", stop_price="400"))
    assert info.value.kind is RejectKind.PRICE and info.value.extra["market_price"] == D("410.20")


def test_trailing_stop_sell_by_price_follows_the_high_water_mark() -> None:
    ex = exchange()
    ex.submit("ACC1", order("TSLA", "buy", "10"))
    trail = ex.submit("ACC1", order("TSLA", "sell", "10", "trailing_stop", "gtc", trail_price="2"))
    live = ex.state.orders[trail.id]
    assert (live.hwm, live.stop_price) == (D("201.10"), D("199.10"))
    ex.set_price("TSLA", D("210"))
    assert (live.hwm, live.stop_price) == (D("210"), D("208"))
    ex.set_price("TSLA", D("209"))
    assert live.stop_price == D("208") and live.status is OrderStatus.NEW
    ex.set_price("TSLA", D("207.90"))
    assert live.status is OrderStatus.FILLED and live.filled_avg_price == D("207.89")


def test_trailing_stop_by_percent_for_buy_tracks_the_low() -> None:
    ex = exchange()
    trail = ex.submit("ACC1", order("SPY", "buy", "1", "trailing_stop", "day", trail_percent="1"))
    live = ex.state.orders[trail.id]
    ex.set_price("SPY", D("500"))
    assert (live.hwm, live.stop_price) == (D("500"), D("505"))
    ex.set_price("SPY", D("505.10"))
    assert live.status is OrderStatus.FILLED


def test_limited_liquidity_makes_partial_fills_per_tick() -> None:
    ex = exchange()
    ex.set_liquidity("AAPL", D(10))
    placed = ex.submit("ACC1", order("AAPL", "buy", "25"))
    live = ex.state.orders[placed.id]
    assert live.status is OrderStatus.PARTIALLY_FILLED and live.filled_qty == D(10)
    ex.advance(D(1))
    assert live.filled_qty == D(20)
    ex.advance(D(1))
    assert live.status is OrderStatus.FILLED
    fills = [(e.event, e.qty, e.order.filled_qty) for e in ex.state.events.history if e.execution_id]
    assert fills == [("partial_fill", D(10), D(10)), ("partial_fill", D(10), D(20)), ("fill", D(5), D(25))]


def test_ioc_cancels_the_rest_and_fok_all_or_nothing() -> None:
    ex = exchange()
    ex.set_liquidity("AAPL", D(4))
    ioc = ex.submit("ACC1", order("AAPL", "buy", "10", tif="ioc"))
    assert events_of(ex, ioc.id) == ["new", "partial_fill", "canceled"]
    ex.advance(D(1))
    fok = ex.submit("ACC1", order("AAPL", "buy", "10", tif="fok"))
    assert events_of(ex, fok.id) == ["new", "canceled"]
    ex.set_liquidity("AAPL", None)
    fok2 = ex.submit("ACC1", order("AAPL", "buy", "10", tif="fok"))
    assert events_of(ex, fok2.id) == ["new", "fill"]


def test_day_orders_expire_at_the_close_and_gtc_orders_survive() -> None:
    ex = exchange()
    day = ex.submit("ACC1", order("AAPL", "buy", "1", "limit", "day", limit_price="100"))
    gtc = ex.submit("ACC1", order("AAPL", "buy", "1", "limit", "gtc", limit_price="100"))
    ex.advance(D(6 * 3600 + 1))
    assert ex.state.orders[day.id].status is OrderStatus.EXPIRED
    assert events_of(ex, day.id) == ["new", "expired"]
    assert ex.state.orders[gtc.id].status is OrderStatus.NEW
    assert not ex.state.clock.is_open()


def test_orders_outside_hours_are_accepted_then_routed_at_the_open() -> None:
    ex = exchange()
    ex.advance(D(7 * 3600))  # 17:00 New York
    placed = ex.submit("ACC1", order("AAPL", "buy", "1"))
    assert events_of(ex, placed.id) == ["accepted"]
    ex.advance(D(17 * 3600))  # 10:00 next day
    assert events_of(ex, placed.id) == ["accepted", "new", "fill"]


def test_opg_only_before_the_open_and_fills_in_the_opening_auction() -> None:
    ex = exchange()
    with pytest.raises(Rejection):
        ex.submit("ACC1", order("SPY", "buy", "2", tif="opg"))
    ex.advance(D(7 * 3600))
    opg = ex.submit("ACC1", order("SPY", "buy", "2", tif="opg"))
    ex.advance(D(16 * 3600 + 1800))  # 09:30 next day
    live = ex.state.orders[opg.id]
    assert live.status is OrderStatus.FILLED and live.filled_avg_price == D("512.30")


def test_cls_fills_at_the_closing_price() -> None:
    ex = exchange()
    cls = ex.submit("ACC1", order("QQQ", "buy", "3", tif="cls"))
    ex.advance(D(3600))
    assert ex.state.orders[cls.id].status is OrderStatus.NEW
    ex.set_price("QQQ", D("441"))
    ex.advance(D(6 * 3600))
    assert ex.state.orders[cls.id].filled_avg_price == D("441")


def test_replace_creates_a_new_order_and_the_old_one_ends_replaced() -> None:
    ex = exchange()
    old = ex.submit("ACC1", order("AAPL", "buy", "5", "limit", "gtc", limit_price="150"))
    new = ex.replace("ACC1", old.id, limit_price=D("151"), client_order_id="r-2")
    assert new.id != old.id and new.replaces == old.id and new.status is OrderStatus.PENDING_NEW
    previous = ex.state.orders[old.id]
    assert previous.status is OrderStatus.REPLACED and previous.replaced_by == new.id
    assert [(e.event, e.order.id) for e in ex.state.events.history[-3:]] == [
        ("pending_replace", old.id), ("replaced", old.id), ("new", new.id)]
    with pytest.raises(Rejection) as info:
        ex.replace("ACC1", new.id, limit_price=D("151"))
    assert info.value.kind is RejectKind.UNCHANGED


def test_replace_of_a_partial_fill_copies_the_original_qty_like_alpaca() -> None:
    ex = exchange()
    ex.set_liquidity("AAPL", D(4))
    old = ex.submit("ACC1", order("AAPL", "buy", "10", "limit", "gtc", limit_price="190"))
    new = ex.replace("ACC1", old.id, limit_price=D("189"))
    assert new.qty == D(10) and ex.state.orders[old.id].filled_qty == D(4)
    ex.advance(D(1))
    assert ex.state.orders[new.id].filled_qty == D(4)
    ex.state.quirks.replace_keeps_original_qty = False
    newer = ex.replace("ACC1", new.id, limit_price=D("188"))
    assert newer.qty == D(6)


def test_cancel_sequence_and_cancel_of_a_filled_order() -> None:
    ex = exchange()
    placed = ex.submit("ACC1", order("AAPL", "buy", "1", "limit", "gtc", limit_price="100"))
    ex.cancel("ACC1", placed.id)
    assert events_of(ex, placed.id) == ["new", "pending_cancel", "canceled"]
    with pytest.raises(Rejection) as info:
        ex.cancel("ACC1", placed.id)
    assert info.value.kind is RejectKind.NOT_CANCELABLE
    with pytest.raises(Rejection):
        ex.cancel("ACC2", placed.id)  # other accounts cannot see it


def test_price_paths_are_reproducible_per_seed() -> None:
    def path(seed: int) -> list[Decimal]:
        ex = build_exchange(default_config(seed))
        ex.advance(D(120))
        return [i.price for i in ex.state.instruments.values()]

    assert path(5) == path(5)
    assert path(5) != path(6)


def test_quirks_reject_after_accept_pending_new_and_verbose_close() -> None:
    ex = exchange()
    ex.state.quirks.reject_after_accept = 1
    rejected = ex.submit("ACC1", order("AAPL", "buy", "1"))
    assert events_of(ex, rejected.id) == ["rejected"]
    ex.state.quirks.emit_pending_new = True
    ex.state.quirks.eod_done_for_day = True
    ex.set_liquidity("AAPL", D(1))
    partial = ex.submit("ACC1", order("AAPL", "buy", "5", "limit", "day", limit_price="190"))
    ex.set_liquidity("AAPL", D(0))
    ex.advance(D(7 * 3600))
    assert events_of(ex, partial.id) == ["pending_new", "new", "partial_fill", "done_for_day", "calculated",
                                         "expired"]


def test_notional_orders_fix_their_qty_when_routed() -> None:
    ex = exchange()
    placed = ex.submit("ACC1", order("AAPL", "buy", None, notional="1000"))
    live = ex.state.orders[placed.id]
    assert live.qty is None and live.filled_qty == D("5.333048904") and live.filled_value <= D(1000)
