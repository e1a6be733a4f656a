"""Routing and executions: orders start working, trade against the quote, and book fills, fees and activities."""

from __future__ import annotations

import uuid
from decimal import ROUND_DOWN, Decimal

from simulator.core.clock import next_business_day
from simulator.core.instruments import Instrument, round_price
from simulator.core.matching import auction_price, continuous_price, update_trailing
from simulator.core.model import Activity, OrderStatus, Side, SimOrder, TimeInForce
from simulator.core.state import MarketState

__all__ = ["execute", "expire", "match", "route", "run_auction"]

QTY_STEP = Decimal("0.000000001")
WORKING = (OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED)


def route(state: MarketState, order: SimOrder) -> None:
    """Make an accepted order work: `new` event, then IOC/FOK/market handling at once."""
    inst = state.instruments[order.symbol]
    if order.qty is None and order.notional is not None and order.notional_qty is None:
        order.notional_qty = (order.notional / inst.ask).quantize(QTY_STEP, rounding=ROUND_DOWN)
    order.day_routed = state.clock.today()
    update_trailing(order, inst.price)
    if state.quirks.emit_pending_new:
        state.set_status(order, OrderStatus.PENDING_NEW)
        state.emit("pending_new", order)
    state.set_status(order, OrderStatus.NEW)
    state.emit("new", order)
    if order.time_in_force is TimeInForce.FOK:
        _fill_or_kill(state, order, inst)
    elif order.time_in_force is TimeInForce.IOC:
        match(state, order)
        if order.is_open:
            _cancel_remainder(state, order)
    elif order.time_in_force not in (TimeInForce.OPG, TimeInForce.CLS):
        match(state, order)


def _fill_or_kill(state: MarketState, order: SimOrder, inst: Instrument) -> None:
    price = continuous_price(order, inst)
    available = inst.available(order.side is Side.BUY)
    if price is not None and (available is None or available >= order.leaves_qty):
        qty = order.leaves_qty
        inst.consume(order.side is Side.BUY, qty)
        execute(state, order, qty, price)
    else:
        _cancel_remainder(state, order)


def _cancel_remainder(state: MarketState, order: SimOrder) -> None:
    order.canceled_at = state.now()
    state.set_status(order, OrderStatus.CANCELED)
    state.emit("canceled", order)


def match(state: MarketState, order: SimOrder) -> None:
    """Trade a working continuous-session order against the quote and this tick's liquidity."""
    if order.status not in WORKING or order.time_in_force in (TimeInForce.OPG, TimeInForce.CLS):
        return
    inst = state.instruments[order.symbol]
    price = continuous_price(order, inst)
    if price is None:
        return
    buying = order.side is Side.BUY
    available = inst.available(buying)
    qty = order.leaves_qty if available is None else min(order.leaves_qty, available)
    qty = _stalled_qty(state, order, qty)
    if qty <= 0:
        return
    inst.consume(buying, qty)
    execute(state, order, qty, price)


def _stalled_qty(state: MarketState, order: SimOrder, qty: Decimal) -> Decimal:
    """What an injected stall lets trade now: nothing, or half the order once and then nothing."""
    quirks = state.quirks
    if quirks.stall_fills:
        return Decimal(0)
    if quirks.stall_after_partial:
        if order.filled_qty > 0:
            return Decimal(0)
        if qty == order.leaves_qty and qty > 1:
            return (qty / 2).quantize(Decimal(1), rounding=ROUND_DOWN)
    return qty


def _skewed(state: MarketState, order: SimOrder, price: Decimal) -> Decimal:
    """An injected bad fill: the price moved `bad_fill_bps` against the order (buys pay more)."""
    bps = Decimal(str(state.quirks.bad_fill_bps or 0))
    if bps == 0:
        return price
    factor = 1 + bps / 10000 if order.side is Side.BUY else 1 - bps / 10000
    return round_price(price * factor, state.instruments[order.symbol].spec.tick)


def run_auction(state: MarketState, order: SimOrder) -> None:
    """Fill an OPG/CLS order in full at the auction price, or expire it if its limit is not met."""
    price = auction_price(order, state.instruments[order.symbol])
    if price is None:
        expire(state, order)
    else:
        execute(state, order, order.leaves_qty, price)


def expire(state: MarketState, order: SimOrder) -> None:
    if state.quirks.eod_done_for_day and order.filled_qty > 0:
        state.set_status(order, OrderStatus.DONE_FOR_DAY)
        state.emit("done_for_day", order)
        state.emit("calculated", order)
    order.expired_at = state.now()
    state.set_status(order, OrderStatus.EXPIRED)
    state.emit("expired", order)


def execute(state: MarketState, order: SimOrder, qty: Decimal, price: Decimal) -> None:
    """Book one execution: position, cash, fees, settlement, activities and the fill event."""
    price = _skewed(state, order, price)
    account = state.accounts[order.account_id]
    today = state.clock.today()
    signed = qty if order.side is Side.BUY else -qty
    first_execution = order.filled_qty == 0
    multiplier = state.instruments[order.symbol].spec.multiplier
    if account.apply_execution(order.symbol, order.asset_id, signed, price, multiplier) and first_execution:
        account.record_day_trade(today)
    commission = state.fees.commission(qty, account.commission_per_share, account.commission_minimum)
    fees: list[tuple[str, Decimal]] = [("COMM", commission)] if commission > 0 else []
    if order.side is Side.SELL and state.instruments[order.symbol].spec.asset_class == "us_equity":
        fees += [("REG", state.fees.sec_fee(qty * price)), ("TAF", state.fees.taf(qty))]
        account.unsettled.append((next_business_day(today), qty * price))
    charged = sum((amount for _, amount in fees), Decimal(0))
    account.cash -= charged
    account.fees_paid += charged
    order.filled_qty += qty
    order.filled_value += qty * price
    order.commission += commission
    done = order.leaves_qty == 0
    if done:
        order.filled_at = state.now()
    state.set_status(order, OrderStatus.FILLED if done else OrderStatus.PARTIALLY_FILLED)
    execution_id = str(uuid.uuid4())
    _record_activities(state, order, execution_id, qty, price, fees)
    state.emit(
        "fill" if done else "partial_fill", order, execution_id=execution_id, price=price, qty=qty,
        position_qty=account.position_qty(order.symbol),
    )
    from simulator.core.groups import after_fill  # (cycle) the other orders of a bracket/OCO/OTO move with it

    after_fill(state, order)


def _record_activities(
    state: MarketState, order: SimOrder, execution_id: str, qty: Decimal, price: Decimal,
    fees: list[tuple[str, Decimal]],
) -> None:
    now = state.now()
    state.activities.append(Activity(
        id=execution_id, activity_type="FILL", account_id=order.account_id, transaction_time=now,
        symbol=order.symbol,
        data={
            "type": "fill" if order.leaves_qty == 0 else "partial_fill", "price": price, "qty": qty,
            "side": order.side.value, "leaves_qty": order.leaves_qty, "cum_qty": order.filled_qty,
            "order_id": order.id, "order_status": order.status.value,
        },
    ))
    for sub_type, amount in fees:
        if amount <= 0:
            continue
        state.activities.append(Activity(
            id=str(uuid.uuid4()), activity_type="FEE", account_id=order.account_id, transaction_time=now,
            symbol=order.symbol,
            data={
                "activity_sub_type": sub_type, "net_amount": -amount, "qty": qty, "order_id": order.id,
                "execution_id": execution_id, "proceeds": qty * price, "date": state.clock.today(),
            },
        ))
