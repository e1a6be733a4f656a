"""Alpaca v2 JSON for accounts, positions, activities, assets and the clock."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from simulator.alpaca.wire import dec, ts, ts_eastern
from simulator.core.accounts import Account, Position
from simulator.core.clock import is_business_day, next_business_day
from simulator.core.instruments import Instrument
from simulator.core.model import Activity
from simulator.core.risk import buying_power, reserved_buying_power
from simulator.core.state import MarketState

__all__ = ["account_json", "activity_id", "activity_json", "asset_json", "calendar_json", "clock_json",
           "position_json"]

ZERO = Decimal(0)


def account_json(state: MarketState, account: Account, *, pdt_fields: bool) -> dict[str, Any]:
    """Return GET /v2/account for `account`."""
    marks = state.marks()
    today = state.clock.today()
    equity = account.equity(marks)
    initial = account.initial_margin(marks)
    reserved = reserved_buying_power(state.open_orders(account.id), state.instruments)
    bp = max(buying_power(account, marks, today) - reserved, ZERO)
    regt = max(equity - initial, ZERO) * 2 if account.is_margin else bp
    non_marginable = max(min(account.settled_cash(today), account.cash) - reserved, ZERO)
    body: dict[str, Any] = {
        "id": str(uuid.uuid5(uuid.NAMESPACE_OID, account.id)), "account_number": account.number,
        "status": "ACTIVE", "crypto_status": "ACTIVE", "currency": "USD", "cash": dec(account.cash),
        "portfolio_value": dec(equity), "equity": dec(equity), "last_equity": dec(account.last_equity),
        "long_market_value": dec(account.long_market_value(marks)),
        "short_market_value": dec(account.short_market_value(marks)),
        "buying_power": dec(bp), "regt_buying_power": dec(regt), "non_marginable_buying_power": dec(non_marginable),
        "options_buying_power": dec(non_marginable), "multiplier": dec(account.multiplier(marks)),
        "initial_margin": dec(initial), "maintenance_margin": dec(account.maintenance_margin(marks)),
        "last_maintenance_margin": dec(account.last_maintenance_margin), "sma": "0",
        "shorting_enabled": account.can_short, "trading_blocked": False, "transfers_blocked": False,
        "account_blocked": False, "trade_suspended_by_user": False, "accrued_fees": "0",
        "pending_transfer_in": "0", "pending_transfer_out": "0", "intraday_adjustments": "0",
        "pending_reg_taf_fees": "0", "balance_asof": (account.balance_asof or today).isoformat(),
        "options_approved_level": 0, "options_trading_level": 0, "created_at": ts(account.created_at),
    }
    if pdt_fields:
        body["daytrading_buying_power"] = dec(max(equity - account.maintenance_margin(marks), ZERO) * 4
                                              if account.is_margin else ZERO)
        body["daytrade_count"] = account.day_trade_count(today)
        body["pattern_day_trader"] = account.pattern_day_trader
    return body


def position_json(position: Position, inst: Instrument, held: Decimal) -> dict[str, Any]:
    """Return one open position; market values are signed (negative for shorts)."""
    price = inst.price
    market_value = position.qty * price
    cost = position.qty * position.avg_entry_price
    intraday_base = position.qty * inst.prev_close
    return {
        "asset_id": inst.asset_id, "symbol": position.symbol, "exchange": inst.spec.exchange,
        "asset_class": "us_equity", "asset_marginable": inst.spec.marginable,
        "avg_entry_price": dec(position.avg_entry_price), "qty": dec(position.qty),
        "qty_available": dec(position.qty - held if position.qty > 0 else position.qty),
        "side": "long" if position.qty > 0 else "short", "market_value": dec(market_value),
        "cost_basis": dec(abs(cost)), "unrealized_pl": dec(market_value - cost),
        "unrealized_plpc": dec(_ratio(market_value - cost, abs(cost))),
        "unrealized_intraday_pl": dec(market_value - intraday_base),
        "unrealized_intraday_plpc": dec(_ratio(market_value - intraday_base, abs(intraday_base))),
        "current_price": dec(price), "lastday_price": dec(inst.prev_close),
        "change_today": dec(_ratio(price - inst.prev_close, inst.prev_close)),
    }


def _ratio(num: Decimal, den: Decimal) -> Decimal:
    return (num / den).quantize(Decimal("0.0000000001")) if den else ZERO


def activity_id(activity: Activity) -> str:
    """Alpaca's `<yyyymmddhhmmssmmm>::<uuid>` activity id."""
    moment = activity.transaction_time
    return moment.strftime("%Y%m%d%H%M%S") + f"{moment.microsecond // 1000:03d}::{activity.id}"


def activity_json(activity: Activity) -> dict[str, Any]:
    """Return a FILL (trade activity) or FEE (non-trade activity) item."""
    data = activity.data
    if activity.activity_type == "FILL":
        return {
            "id": activity_id(activity), "activity_type": "FILL", "transaction_time": ts(activity.transaction_time),
            "type": data["type"], "price": dec(data["price"]), "qty": dec(data["qty"]), "side": data["side"],
            "symbol": activity.symbol, "leaves_qty": dec(data["leaves_qty"]), "cum_qty": dec(data["cum_qty"]),
            "order_id": data["order_id"], "order_status": data["order_status"],
        }
    sub = data["activity_sub_type"]
    what = {"REG": "REG fee", "TAF": "TAF fee", "COM": "Commission"}.get(sub, sub)
    return {
        "id": activity_id(activity), "activity_type": "FEE", "activity_sub_type": sub,
        "date": data["date"].isoformat(), "created_at": ts(activity.transaction_time),
        "net_amount": dec(data["net_amount"]), "symbol": activity.symbol, "qty": dec(data["qty"]),
        "per_share_amount": None, "status": "executed", "order_id": data["order_id"],
        "description": f"{what} for proceed of {dec(data['proceeds'])} on {data['date'].isoformat()}",
    }


def asset_json(inst: Instrument) -> dict[str, Any]:
    spec = inst.spec
    return {
        "id": inst.asset_id, "class": "us_equity", "exchange": spec.exchange, "symbol": spec.symbol,
        "name": spec.name, "status": "active", "tradable": spec.tradable, "marginable": spec.marginable,
        "maintenance_margin_requirement": 30, "margin_requirement_long": "50", "margin_requirement_short": "50",
        "shortable": spec.shortable, "easy_to_borrow": spec.easy_to_borrow, "fractionable": spec.fractionable,
        "attributes": ["has_options"] if spec.fractionable else [], "cusip": None,
    }


def clock_json(state: MarketState) -> dict[str, Any]:
    clock = state.clock
    return {
        "timestamp": ts_eastern(clock.now()), "is_open": clock.is_open(),
        "next_open": ts_eastern(clock.next_open()).replace(".000000000", ""),
        "next_close": ts_eastern(clock.next_close()).replace(".000000000", ""),
    }


def calendar_json(start: date, end: date) -> list[dict[str, Any]]:
    days: list[dict[str, Any]] = []
    day = start
    while day <= end and len(days) < 2000:
        if is_business_day(day):
            days.append({"date": day.isoformat(), "open": "09:30", "close": "16:00", "session_open": "0400",
                         "session_close": "2000", "settlement_date": next_business_day(day).isoformat()})
        day += timedelta(days=1)
    return days

