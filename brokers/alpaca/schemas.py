"""Alpaca's wire models, field for field: decimals and timestamps stay strings, enums stay Alpaca's words.

Unknown keys are kept (Alpaca adds fields over time); conversion to domain types lives in parsing.py.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import AlpacaAmbiguousOutcomeError, AlpacaProtocolError

__all__ = [
    "AlpacaAccount",
    "AlpacaErrorBody",
    "AlpacaFeeActivity",
    "AlpacaFillActivity",
    "AlpacaLatestTrade",
    "AlpacaOrder",
    "AlpacaOrderRequest",
    "AlpacaPosition",
    "AlpacaReplaceRequest",
    "AlpacaTradeUpdate",
    "Decimal_",
    "validated",
]

Decimal_ = str  # a decimal as Alpaca sends it: "187.5"


M = TypeVar("M", bound=BaseModel)


def validated(cls: type[M], payload: Any, what: str, *, placed: bool = False) -> M:
    """Validate a payload; an unreadable answer to an order we placed is ambiguous, not a failure."""
    try:
        return cls.model_validate(payload)
    except ValidationError:
        error = AlpacaAmbiguousOutcomeError if placed else AlpacaProtocolError
        raise error(f"{what}: answer does not match Alpaca's {cls.__name__}") from None


class _Wire(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class AlpacaOrder(_Wire):
    """The Order object of POST/GET/PATCH /v2/orders and of trade_updates events."""

    id: str
    client_order_id: str
    created_at: str
    updated_at: str | None = None
    submitted_at: str | None = None
    filled_at: str | None = None
    expired_at: str | None = None
    expires_at: str | None = None
    canceled_at: str | None = None
    cancel_requested_at: str | None = None
    failed_at: str | None = None
    replaced_at: str | None = None
    replaced_by: str | None = None
    replaces: str | None = None
    asset_id: str | None = None
    symbol: str = ""
    asset_class: str | None = None
    notional: Decimal_ | None = None
    qty: Decimal_ | None = None
    filled_qty: Decimal_ = "0"
    filled_avg_price: Decimal_ | None = None
    order_class: str | None = ""
    order_type: str | None = None
    type: str | None = None
    side: str | None = None
    time_in_force: str
    limit_price: Decimal_ | None = None
    stop_price: Decimal_ | None = None
    status: str
    extended_hours: bool = False
    legs: list[AlpacaOrder] | None = None
    trail_percent: Decimal_ | None = None
    trail_price: Decimal_ | None = None
    hwm: Decimal_ | None = None
    position_intent: str | None = None
    subtag: str | None = None
    source: str | None = None


class AlpacaTradeUpdate(_Wire):
    """`data` of a trade_updates message."""

    event: str
    order: AlpacaOrder
    timestamp: str | None = None
    execution_id: str | None = None
    price: Decimal_ | None = None
    qty: Decimal_ | None = None
    position_qty: Decimal_ | None = None
    at: str | None = None
    event_id: str | None = None


class AlpacaAccount(_Wire):
    """GET /v2/account."""

    id: str
    account_number: str
    status: str
    crypto_status: str | None = None
    currency: str = "USD"
    cash: Decimal_ = "0"
    portfolio_value: Decimal_ | None = None
    equity: Decimal_ = "0"
    last_equity: Decimal_ | None = None
    long_market_value: Decimal_ | None = None
    short_market_value: Decimal_ | None = None
    buying_power: Decimal_ = "0"
    regt_buying_power: Decimal_ | None = None
    daytrading_buying_power: Decimal_ | None = None
    non_marginable_buying_power: Decimal_ | None = None
    options_buying_power: Decimal_ | None = None
    multiplier: Decimal_ = "1"
    initial_margin: Decimal_ = "0"
    maintenance_margin: Decimal_ = "0"
    last_maintenance_margin: Decimal_ | None = None
    sma: Decimal_ | None = None
    daytrade_count: int | None = None
    pattern_day_trader: bool | None = None
    shorting_enabled: bool = False
    trading_blocked: bool = False
    transfers_blocked: bool = False
    account_blocked: bool = False
    trade_suspended_by_user: bool = False
    accrued_fees: Decimal_ | None = None
    balance_asof: str | None = None
    created_at: str | None = None


class AlpacaPosition(_Wire):
    """An item of GET /v2/positions."""

    asset_id: str
    symbol: str
    exchange: str | None = None
    asset_class: str | None = None
    asset_marginable: bool | None = None
    avg_entry_price: Decimal_
    qty: Decimal_
    qty_available: Decimal_ | None = None
    side: str
    market_value: Decimal_ | None = None
    cost_basis: Decimal_
    unrealized_pl: Decimal_ | None = None
    unrealized_plpc: Decimal_ | None = None
    current_price: Decimal_ | None = None
    lastday_price: Decimal_ | None = None
    change_today: Decimal_ | None = None


class AlpacaFillActivity(_Wire):
    """An item of GET /v2/account/activities/FILL."""

    id: str
    activity_type: str
    transaction_time: str
    type: str
    price: Decimal_
    qty: Decimal_
    side: str
    symbol: str
    leaves_qty: Decimal_ | None = None
    cum_qty: Decimal_ | None = None
    order_id: str
    order_status: str | None = None


class AlpacaFeeActivity(_Wire):
    """An item of GET /v2/account/activities/FEE (a non-trade activity: REG, TAF, commission...)."""

    id: str
    activity_type: str
    activity_sub_type: str | None = None
    date: str | None = None
    created_at: str | None = None
    net_amount: Decimal_
    symbol: str | None = None
    qty: Decimal_ | None = None
    status: str | None = None
    order_id: str | None = None
    description: str | None = None


class AlpacaErrorBody(_Wire):
    """An error answer: `code` and `message`, plus context keys."""

    code: int | None = None
    message: str = ""


class AlpacaLatestTrade(_Wire):
    """`trade` of GET /v2/stocks/{symbol}/trades/latest (market data sends numbers, not strings)."""

    t: str | None = None
    p: float | str
    s: float | str | None = None
    x: str | None = None
    i: int | None = None
    c: list[str] | None = None
    z: str | None = None


class AlpacaOrderRequest(_Wire):
    """The body of POST /v2/orders (simple orders)."""

    symbol: str
    qty: Decimal_
    side: str
    type: str
    time_in_force: str
    client_order_id: str
    order_class: str = "simple"
    limit_price: Decimal_ | None = None
    stop_price: Decimal_ | None = None
    trail_price: Decimal_ | None = None
    trail_percent: Decimal_ | None = None
    extended_hours: bool = False
    # bracket / oco / oto: the exits' prices (decimal strings)
    take_profit: dict[str, str] | None = None
    stop_loss: dict[str, str] | None = None

    def to_json(self) -> dict[str, Any]:
        """The body, without absent optional fields."""
        return self.model_dump(exclude_none=True)


class AlpacaReplaceRequest(_Wire):
    """The body of PATCH /v2/orders/{order_id}; unsent fields are copied from the old order."""

    qty: Decimal_ | None = None
    time_in_force: str | None = None
    limit_price: Decimal_ | None = None
    stop_price: Decimal_ | None = None
    trail: Decimal_ | None = Field(default=None)
    client_order_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The body, without absent fields."""
        return self.model_dump(exclude_none=True)
