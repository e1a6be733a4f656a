"""Alpaca's paged lists, read in full: the open orders and the FILL activities.

Alpaca pages GET /v2/orders by submission time only (`after` and `until` are exclusive, at most 500 a
page). Pages are read oldest first and each next page starts 1 µs before the newest submission of the
last one, so orders sharing that instant are read again (and skipped by id) rather than lost. Only a
whole page submitted in one instant (500 orders to the nanosecond) cannot be paged through: it is
logged as an error and passed.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from .errors import AlpacaProtocolError
from .parsing import parse_timestamp
from .schemas import AlpacaFillActivity, AlpacaOrder, validated

__all__ = ["fill_activities", "open_orders"]

log = logging.getLogger(__name__)

_TICK = timedelta(microseconds=1)


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _submitted(order: AlpacaOrder) -> datetime:
    return parse_timestamp(order.submitted_at or order.created_at)


Send = Callable[..., Awaitable[Any]]


async def open_orders(send: Send, limit: int) -> list[AlpacaOrder]:
    """GET /v2/orders?status=open, every page of `limit` orders, oldest first, each order once."""
    params: dict[str, Any] = {"status": "open", "limit": limit, "direction": "asc"}
    found: dict[str, AlpacaOrder] = {}
    start: datetime | None = None
    stalled = 0
    while True:
        page = await send("GET", "/v2/orders", params=params)
        if not isinstance(page, list):
            raise AlpacaProtocolError("GET /v2/orders: expected a list")
        orders = [validated(AlpacaOrder, item, "GET /v2/orders") for item in page]
        fresh = [o for o in orders if o.id not in found]
        found.update((o.id, o) for o in fresh)
        if len(orders) < limit:
            return list(found.values())
        stalled = 0 if fresh else stalled + 1
        if stalled > 1:
            raise AlpacaProtocolError("GET /v2/orders: the pages do not advance")
        newest = max(_submitted(o) for o in orders)
        if start is not None and newest <= start:
            # A whole page submitted in one instant: Alpaca offers no finer cursor than the time.
            log.error("alpaca: %d or more open orders submitted at %s; some may be missing", limit, _iso(newest))
            params["after"], start = _iso(newest), None
            continue
        params["after"], start = _iso(newest - _TICK), newest


async def fill_activities(send: Send, since: datetime, page_size: int) -> list[AlpacaFillActivity]:
    """GET /v2/account/activities/FILL after `since`, oldest first, every page."""
    params: dict[str, Any] = {"after": _iso(since), "direction": "asc", "page_size": page_size}
    found: list[AlpacaFillActivity] = []
    while True:
        page = await send("GET", "/v2/account/activities/FILL", params=params)
        if not isinstance(page, list):
            raise AlpacaProtocolError("GET /v2/account/activities/FILL: expected a list")
        items = [validated(AlpacaFillActivity, i, "FILL activity") for i in page
                 if not isinstance(i, dict) or i.get("activity_type", "FILL") == "FILL"]
        found += items
        if len(page) < page_size or not items or params.get("page_token") == items[-1].id:
            return found
        params["page_token"] = items[-1].id
