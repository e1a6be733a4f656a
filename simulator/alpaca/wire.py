"""Alpaca v2 JSON shapes: decimals as strings, nanosecond RFC 3339 timestamps, the order object field for field."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from simulator.core.clock import NEW_YORK, session_close
from simulator.core.model import SimOrder, TimeInForce, TradeEvent

__all__ = ["dec", "event_json", "order_json", "ts", "ts_eastern", "ulid"]

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def dec(value: Decimal | None) -> str | None:
    """Render a decimal the way Alpaca does: a string without trailing zeros or exponent."""
    if value is None:
        return None
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text


def ts(moment: datetime | None) -> str | None:
    """Render an RFC 3339 UTC timestamp with nanosecond precision."""
    if moment is None:
        return None
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{moment.microsecond:06d}000Z"


def ts_eastern(moment: datetime) -> str:
    """Render a timestamp with the New York offset, as /v2/clock does."""
    local = moment.astimezone(NEW_YORK)
    text = local.isoformat(timespec="microseconds")
    return text[:26] + "000" + text[26:]


def ulid(moment: datetime, seq: int) -> str:
    """Return a ULID-shaped, sortable event id built from the event time and its sequence number."""
    value = (int(moment.timestamp() * 1000) << 80) | (seq & ((1 << 80) - 1))
    chars = []
    for _ in range(26):
        chars.append(_CROCKFORD[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def _expires_at(order: SimOrder) -> datetime | None:
    if order.time_in_force is TimeInForce.DAY and order.day_routed is not None:
        return session_close(order.day_routed)
    return None


def order_json(order: SimOrder, *, commission: bool = False) -> dict[str, Any]:
    """Return the Alpaca order object (every field of the v2 order entity)."""
    body: dict[str, Any] = {
        "id": order.id, "client_order_id": order.client_order_id,
        "created_at": ts(order.created_at), "updated_at": ts(order.updated_at or order.created_at),
        "submitted_at": ts(order.submitted_at or order.created_at), "filled_at": ts(order.filled_at),
        "expired_at": ts(order.expired_at), "canceled_at": ts(order.canceled_at), "failed_at": ts(order.failed_at),
        "replaced_at": ts(order.replaced_at), "expires_at": ts(_expires_at(order)),
        "cancel_requested_at": ts(order.cancel_requested_at),
        "replaced_by": order.replaced_by, "replaces": order.replaces,
        "asset_id": order.asset_id, "symbol": order.symbol, "asset_class": "us_equity",
        "notional": dec(order.notional), "qty": dec(order.qty), "filled_qty": dec(order.filled_qty),
        "filled_avg_price": dec(order.filled_avg_price), "order_class": order.order_class,
        "order_type": order.type.value,
        "type": order.type.value, "side": order.side.value, "position_intent": None,
        "time_in_force": order.time_in_force.value, "limit_price": dec(order.limit_price),
        "stop_price": dec(order.stop_price), "status": order.status.value, "extended_hours": order.extended_hours,
        "legs": None, "trail_percent": dec(order.trail_percent), "trail_price": dec(order.trail_price),
        "hwm": dec(order.hwm), "ratio_qty": None, "subtag": None, "source": None,
    }
    if commission:
        body["commission"] = dec(order.commission)
    return body


def event_json(event: TradeEvent, *, commission: bool = False) -> dict[str, Any]:
    """Return the `trade_updates` message for one exchange event."""
    data: dict[str, Any] = {
        "event": event.event, "timestamp": ts(event.timestamp),
        "order": order_json(event.order, commission=commission),
    }
    if event.execution_id is not None:
        data.update({
            "execution_id": event.execution_id, "price": dec(event.price), "qty": dec(event.qty),
            "position_qty": dec(event.position_qty),
        })
    data["at"] = ts(event.timestamp)
    data["event_id"] = ulid(event.timestamp, event.seq)
    return {"stream": "trade_updates", "data": data}


def date_str(day: date | None) -> str | None:
    return day.isoformat() if day else None
