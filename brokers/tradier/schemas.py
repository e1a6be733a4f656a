"""Tradier's wire models, field for field; `items()` undoes the XML-to-JSON collection quirks.

Tradier's JSON is converted from XML: a collection of one is an object instead of a one-element list,
and an empty collection is the string "null". Numbers are JSON numbers; conversion to Decimal (through
their shortest repr, never binary floats) lives in parsing.py. The quantities and prices of orders and
events (`Amount`) are checked here already: a negative, non-finite or out-of-range one fails validation.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr, ValidationError

from domain.broker_integration.rules.validation import decimal_in_range

from .errors import TradierAmbiguousOutcomeError, TradierProtocolError

__all__ = [
    "MAX_MAGNITUDE",
    "MAX_SCALE",
    "Number",
    "TradierAccessToken",
    "TradierAccountEvent",
    "TradierBalances",
    "TradierGroupOrder",
    "TradierOrder",
    "TradierOrderAck",
    "TradierPosition",
    "TradierProfileAccount",
    "TradierQuote",
    "in_range",
    "items",
    "validated",
    "wire_decimal",
]

Number = float | int | str  # Tradier sends JSON numbers; strings are tolerated
# Bounds of a number we accept from Tradier: beyond them it is garbage, not a quantity, a price or a balance.
MAX_MAGNITUDE = Decimal(10) ** 15
MAX_SCALE = 28  # balances come with up to 24 places; Decimal keeps 28 digits


def wire_decimal(value: Number) -> Decimal:
    """A wire number as Decimal: floats through their shortest repr (150.1 is 150.1, not 150.099999...);
    ValueError when it is not a finite number within range."""
    try:
        number = Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise ValueError(f"not a number: {str(value)[:40]!r}") from None
    if not in_range(number):
        raise ValueError(f"number out of range: {str(value)[:40]!r}")
    return Decimal(0) if number.is_zero() else number


def in_range(number: Decimal) -> bool:
    """Whether a decimal is finite, below MAX_MAGNITUDE and at most MAX_SCALE places (the domain's check)."""
    return decimal_in_range(number, max_scale=MAX_SCALE)


def _non_negative(value: Number | None) -> Number | None:
    if value is not None and value != "" and not isinstance(value, bool) and wire_decimal(value) < 0:
        raise ValueError("negative quantity or price")
    return value


# Quantities and prices of orders and events: never negative (a short position is a side, not a sign).
Amount = Annotated[Number, AfterValidator(_non_negative)]

M = TypeVar("M", bound=BaseModel)


def items(payload: Any, outer: str, inner: str) -> list[Any]:
    """The elements of `{outer: {inner: [..] | {..}}}`; `{outer: "null"}` and absent keys are empty."""
    block = payload.get(outer) if isinstance(payload, dict) else None
    if block is None or block == "null" or block == "":
        return []
    if not isinstance(block, dict):
        raise TradierProtocolError(f"{outer}: expected an object or \"null\", got {type(block).__name__}")
    found = block.get(inner)
    if found is None or found == "null":
        return []
    return found if isinstance(found, list) else [found]


def validated(cls: type[M], payload: Any, what: str, *, placed: bool = False) -> M:
    """Validate a payload; an unreadable answer to an order we placed is ambiguous, not a failure."""
    try:
        return cls.model_validate(payload)
    except ValidationError:
        error = TradierAmbiguousOutcomeError if placed else TradierProtocolError
        raise error(f"{what}: answer does not match Tradier's {cls.__name__}") from None


class _Wire(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class TradierOrderAck(_Wire):
    """`order` of the answer to place, modify and cancel: `{"id": 257459, "status": "ok"}`."""

    id: int | str
    status: str
    partner_id: str | None = None


class TradierOrder(_Wire):
    """The order object of GET /v1/accounts/{id}/orders[/{order_id}]."""

    id: int | str
    type: str
    symbol: str
    side: str
    quantity: Amount
    status: str
    duration: str | None = None
    price: Amount | None = None
    stop_price: Amount | None = None
    avg_fill_price: Amount | None = None
    exec_quantity: Amount | None = None
    last_fill_price: Amount | None = None
    last_fill_quantity: Amount | None = None
    remaining_quantity: Amount | None = None
    create_date: str | None = None
    transaction_date: str | None = None
    reason_description: str | None = None
    tag: str | None = None
    option_symbol: str | None = None
    strategy: str | None = None
    num_legs: int | None = None
    leg: Any = None
    class_: str | None = Field(default=None, alias="class")


class TradierAccountEvent(_Wire):
    """An `order` message of the account events stream (no symbol or side: join on `id`)."""

    id: int | str
    event: str
    status: str
    type: str | None = None
    tag: str | None = None
    account: str | None = None
    parent_id: int | str | None = None
    price: Amount | None = None
    stop_price: Amount | None = None
    avg_fill_price: Amount | None = None
    exec_quantity: Amount | None = None
    executed_quantity: Amount | None = None  # the older reference page's name
    last_fill_quantity: Amount | None = None
    last_fill_price: Amount | None = None
    remaining_quantity: Amount | None = None
    create_date: str | None = None
    transaction_date: str | None = None


class TradierProfileAccount(_Wire):
    """An account of GET /v1/user/profile."""

    account_number: str
    type: str | None = None
    status: str | None = None
    classification: str | None = None
    day_trading: bool | None = None
    option_level: int | None = None


class TradierBalances(_Wire):
    """`balances` of GET /v1/accounts/{id}/balances; one of `margin`, `cash`, `pdt` by account type."""

    account_number: str
    account_type: str
    total_equity: Number = 0
    total_cash: Number = 0
    market_value: Number | None = None
    current_requirement: Number | None = None
    option_requirement: Number | None = None
    margin: dict[str, Any] | None = None
    cash: dict[str, Any] | None = None
    pdt: dict[str, Any] | None = None


class TradierPosition(_Wire):
    """An item of GET /v1/accounts/{id}/positions (negative quantity: short)."""

    symbol: str
    quantity: Number
    cost_basis: Number
    date_acquired: str | None = None
    id: int | str | None = None


class TradierQuote(_Wire):
    """An item of GET /v1/markets/quotes."""

    symbol: str
    last: Number | None = None
    bid: Number | None = None
    ask: Number | None = None


class TradierAccessToken(_Wire):
    """The answer of /v1/oauth/accesstoken and /v1/oauth/refreshtoken (tokens kept secret in reprs)."""

    access_token: SecretStr
    refresh_token: SecretStr | None = None
    expires_in: int | None = None
    issued_at: str | None = None
    scope: str | None = None
    status: str | None = None


class TradierGroupOrder(_Wire):
    """An oto/oco/otoco order of GET /v1/accounts/{id}/orders[/{order_id}]: the group, its orders in `leg`
    (a list, one object for one leg, "null" or absent for none). Only what a group needs is required: its
    other fields (a first leg's terms, in the simulator) are not relied on."""

    id: int | str
    status: str
    class_: str = Field(alias="class")
    tag: str | None = None
    num_legs: int | None = None
    leg: Any = None
    create_date: str | None = None
    transaction_date: str | None = None
    reason_description: str | None = None
