"""Alpaca's FEE activities (REG = SEC fee, TAF = FINRA TAF, commissions) as domain FeeReports.

Alpaca posts fees as non-trade activities that name the order; fees without an order id cannot be
attributed to an order and are skipped (they stay visible in the account's activities).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

from domain.broker_integration.enums import FeeKind
from domain.broker_integration.value_objects import FeeReport

from .errors import AlpacaProtocolError
from .parsing import decimal_or_none, parse_timestamp, root_client_order_id, typed_parser
from .schemas import AlpacaFeeActivity, validated

__all__ = ["FEE_KINDS", "fee_from_activity", "fee_pages"]

log = logging.getLogger("brokerflow.alpaca")

FEE_KINDS = {"REG": FeeKind.SEC_FEE, "TAF": FeeKind.FINRA_TAF, "COM": FeeKind.COMMISSION,
             "COMMISSION": FeeKind.COMMISSION}


def _charged_at(activity: AlpacaFeeActivity) -> datetime:
    if activity.created_at:
        return parse_timestamp(activity.created_at)
    return parse_timestamp(f"{activity.date}T00:00:00Z")


@typed_parser
def fee_from_activity(activity: AlpacaFeeActivity, client_order_id: str, connection_id: str | None) -> FeeReport:
    """A FEE activity as a fee of the order `client_order_id` (Alpaca's net_amount is negative)."""
    return FeeReport(
        fee_id=activity.id,
        client_order_id=root_client_order_id(client_order_id),
        broker_order_id=activity.order_id,
        connection_id=connection_id,
        kind=FEE_KINDS.get((activity.activity_sub_type or "").upper(), FeeKind.OTHER),
        amount=abs(decimal_or_none(activity.net_amount) or Decimal("0")),
        charged_at=_charged_at(activity),
        description=activity.description,
    )


async def fee_pages(send: Callable[..., Awaitable[Any]], since: datetime, page_size: int = 100
                    ) -> list[AlpacaFeeActivity]:
    """GET /v2/account/activities/FEE after `since`, oldest first, every page."""
    params: dict[str, Any] = {"after": since.isoformat().replace("+00:00", "Z"), "direction": "asc",
                              "page_size": page_size}
    found: list[AlpacaFeeActivity] = []
    while True:
        page = await send("GET", "/v2/account/activities/FEE", params=params)
        if page is not None and not isinstance(page, list):
            raise AlpacaProtocolError("GET /v2/account/activities/FEE: answer is not a list")
        items = [validated(AlpacaFeeActivity, i, "GET /v2/account/activities/FEE") for i in page or []
                 if isinstance(i, dict) and i.get("activity_type") == "FEE"]
        found += items
        if len(page or []) < page_size or not items or params.get("page_token") == items[-1].id:
            return found
        params["page_token"] = items[-1].id
