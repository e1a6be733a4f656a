"""The demo's basket: every order type, an amend, a cancel and a buying-power rejection."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from activities.models import AmendRequest, OrderRequest

__all__ = ["PRICES", "DemoOrder", "basket"]

# Frozen simulator prices, so every run tells the same story.
PRICES = {"AAPL": Decimal("190"), "MSFT": Decimal("410"), "SPY": Decimal("500"), "TSLA": Decimal("250"),
          "NVDA": Decimal("120"), "AMZN": Decimal("180"), "QQQ": Decimal("440")}


@dataclass
class DemoOrder:
    """One order of the basket, with what the demo does to it and the status it should end in."""

    label: str
    request: OrderRequest
    expect: str
    amend: AmendRequest | None = None
    cancel: bool = False
    after_fill_of: str | None = None


def _req(run: str, name: str, connection: str, **fields: Any) -> OrderRequest:
    return OrderRequest(client_order_id=f"demo-{run}-{name}", connection_id=connection, poll_interval_seconds=0.5,
                        **fields)


def basket(margin: str, cash: str) -> list[DemoOrder]:
    """The orders, on a margin and a cash connection."""
    run = uuid.uuid4().hex[:6]
    return [
        DemoOrder("market buy", _req(run, "mkt", margin, symbol="AAPL", side="BUY", quantity=100), "FILLED"),
        DemoOrder("marketable limit", _req(run, "lmt", margin, symbol="MSFT", side="BUY", quantity=50,
                                           order_type="LIMIT", limit_price="414.10"), "FILLED"),
        DemoOrder("resting limit, amended to cross", _req(run, "amend", margin, symbol="SPY", side="BUY",
                                                          quantity=20, order_type="LIMIT", limit_price="450.00",
                                                          time_in_force="GTC"),
                  "FILLED", amend=AmendRequest(quantity=Decimal("25"), limit_price=Decimal("505.00"))),
        DemoOrder("resting limit, canceled", _req(run, "cxl", margin, symbol="TSLA", side="BUY", quantity=10,
                                                  order_type="LIMIT", limit_price="200.00"), "CANCELED",
                  cancel=True),
        DemoOrder("stop (triggered by a rally)", _req(run, "stp", margin, symbol="NVDA", side="BUY", quantity=30,
                                                      order_type="STOP", stop_price="121.20"), "FILLED"),
        DemoOrder("stop limit (triggered)", _req(run, "stplmt", margin, symbol="AMZN", side="BUY", quantity=15,
                                                 order_type="STOP_LIMIT", stop_price="181.80",
                                                 limit_price="186.00"), "FILLED"),
        DemoOrder("trailing stop 1% (sells half)", _req(run, "trail", margin, symbol="AAPL", side="SELL",
                                                        quantity=50, order_type="TRAILING_STOP",
                                                        trail_percent="1"), "FILLED", after_fill_of="market buy"),
        DemoOrder("cash account, too big", _req(run, "bp", cash, symbol="QQQ", side="BUY", quantity=10000),
                  "REJECTED"),
    ]
