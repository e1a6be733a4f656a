"""Immutable value objects: orders, executions, status updates, capabilities, credentials.

Every price and quantity is a Decimal; ints, floats and strings are accepted and normalised.
Every datetime is timezone-aware UTC. Bad input raises one DomainValidationError.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, ClassVar

from pydantic import Field, SecretStr, field_validator, model_validator

from .base import ValueObject, to_decimal, upper_enum
from .enums import AssetClass, AuthMethod, FeeKind, OrderSide, OrderType, TimeInForce
from .errors import InvalidOrderError, Problem
from .order_state import OrderStatus
from .rules.validation import execution_params_problems, order_shape_problems

__all__ = [
    "AccountKey",
    "BrokerCapabilities",
    "BrokerOrder",
    "ConnectionCredentials",
    "ExecutionParameters",
    "ExecutionReport",
    "FeeReport",
    "OrderStatusUpdate",
    "utc",
]


def utc(value: datetime) -> datetime:
    """Reject naive datetimes; convert aware ones to UTC."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("must be timezone-aware")
    return value.astimezone(UTC)


def _raise_if(problems: list[Problem], error: type[Exception] = ValueError) -> None:
    if problems:
        raise error("; ".join(str(p) for p in problems))


class ExecutionParameters(ValueObject):
    """How an order executes: time in force, session, routing and algorithm."""

    _raw_checks = (execution_params_problems,)

    time_in_force: TimeInForce = TimeInForce.DAY
    expire_at: datetime | None = None
    extended_hours: bool = False
    routing_destination: str = "SMART"
    algorithm: str | None = None
    algorithm_params: tuple[tuple[str, str], ...] = ()

    _upper = field_validator("time_in_force", mode="before")(upper_enum)

    @field_validator("expire_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        return None if value is None else utc(value)

    @field_validator("algorithm_params", mode="before")
    @classmethod
    def _params(cls, value: Any) -> Any:
        if isinstance(value, Mapping):
            return tuple(sorted((str(k), str(v)) for k, v in value.items()))
        return value

    @model_validator(mode="after")
    def _check(self) -> ExecutionParameters:
        _raise_if(execution_params_problems(self.model_dump()))
        return self


def _derived_client_order_id(data: Mapping[str, Any]) -> str:
    """A stable id from the order's content, so re-sending the same order is the same order."""
    keys = ("symbol", "side", "quantity", "order_type", "price", "stop_price", "account_id", "connection_id")
    def text(value: Any) -> str:
        return format(value.normalize(), "f") if isinstance(value, Decimal) else str(value)

    canonical = "|".join(f"{k}={text(data.get(k))}" for k in keys)
    return "bf-" + hashlib.sha256(canonical.encode()).hexdigest()[:24]


class BrokerOrder(ValueObject):
    """An order as brokerflow hands it to a broker. Immutable; the Order aggregate tracks its life."""

    _error_class = InvalidOrderError
    _raw_checks = (order_shape_problems,)
    MAX_ID_LENGTH: ClassVar[int] = 48

    client_order_id: str = ""
    broker_order_id: str | None = None
    symbol: str = Field(min_length=1, max_length=32, pattern=r"^[A-Z0-9][A-Z0-9./\-]*$")
    side: OrderSide
    quantity: Decimal
    order_type: OrderType = OrderType.MARKET
    price: Decimal | None = None
    stop_price: Decimal | None = None
    trail_price: Decimal | None = None
    trail_percent: Decimal | None = None
    asset_class: AssetClass = AssetClass.EQUITY
    account_id: str | None = None
    connection_id: str | None = None
    execution_params: ExecutionParameters = Field(default_factory=ExecutionParameters)

    _upper = field_validator("side", "order_type", "asset_class", "symbol", mode="before")(upper_enum)
    _decimals = field_validator(
        "quantity", "price", "stop_price", "trail_price", "trail_percent", mode="before"
    )(to_decimal)

    @model_validator(mode="before")
    @classmethod
    def _client_order_id_from_broker_id(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and not data.get("client_order_id") and data.get("broker_order_id"):
            data = {**data, "client_order_id": data["broker_order_id"]}
        return data

    @field_validator("client_order_id")
    @classmethod
    def _id_shape(cls, value: str) -> str:
        if value and (len(value) > cls.MAX_ID_LENGTH or not value.isprintable() or " " in value or "~" in value):
            # '~' is reserved: brokerflow names replacement orders '<id>~r...'.
            raise ValueError(f"must be 1-{cls.MAX_ID_LENGTH} printable characters without spaces or '~'")
        return value

    @model_validator(mode="after")
    def _check(self) -> BrokerOrder:
        _raise_if(order_shape_problems(self.model_dump()))
        if not self.client_order_id:
            # Frozen model: the derived id is set once, during validation.
            object.__setattr__(self, "client_order_id", _derived_client_order_id(self.model_dump()))
        return self

    @property
    def time_in_force(self) -> TimeInForce:
        """The order's time in force."""
        return self.execution_params.time_in_force

    def describe(self) -> str:
        """A one-line human summary, e.g. 'BUY 100 AAPL LMT 150.00'."""
        short = {
            "MARKET": "MKT",
            "LIMIT": "LMT",
            "STOP": "STP",
            "STOP_LIMIT": "STP LMT",
            "TRAILING_STOP": "TRAIL",
        }
        parts = [str(self.side), f"{self.quantity.normalize():f}", self.symbol, short[self.order_type]]
        if self.stop_price is not None:
            parts.append(f"{self.stop_price}")
        if self.price is not None:
            parts.append(f"{self.price}")
        if self.trail_price is not None:
            parts.append(f"trail {self.trail_price}")
        if self.trail_percent is not None:
            parts.append(f"trail {self.trail_percent}%")
        return " ".join(parts)


class ExecutionReport(ValueObject):
    """One execution (fill) as the broker reported it; unique by (connection, execution_id)."""

    execution_id: str = Field(min_length=1)
    client_order_id: str = Field(min_length=1)
    broker_order_id: str | None = None
    connection_id: str | None = None
    symbol: str = Field(min_length=1)
    side: OrderSide
    quantity: Decimal = Field(gt=0, allow_inf_nan=False)
    price: Decimal = Field(gt=0, allow_inf_nan=False)
    executed_at: datetime
    commission: Decimal = Field(default=Decimal("0"), ge=0, allow_inf_nan=False)
    fees: Decimal = Field(default=Decimal("0"), ge=0, allow_inf_nan=False)
    cumulative_quantity: Decimal | None = Field(default=None, ge=0, allow_inf_nan=False)
    liquidity: str | None = None

    _upper = field_validator("side", mode="before")(upper_enum)
    _decimals = field_validator(
        "quantity", "price", "commission", "fees", "cumulative_quantity", mode="before"
    )(to_decimal)
    _aware = field_validator("executed_at")(utc)

    @property
    def notional(self) -> Decimal:
        """Quantity times price."""
        return self.quantity * self.price


class FeeReport(ValueObject):
    """A commission or regulatory fee the broker charged for an order; unique by (connection, fee_id)."""

    fee_id: str = Field(min_length=1)
    client_order_id: str = Field(min_length=1)
    broker_order_id: str | None = None
    connection_id: str | None = None
    kind: FeeKind = FeeKind.OTHER
    amount: Decimal = Field(ge=0, allow_inf_nan=False)
    charged_at: datetime
    description: str | None = None

    _upper = field_validator("kind", mode="before")(upper_enum)
    _decimals = field_validator("amount", mode="before")(to_decimal)
    _aware = field_validator("charged_at")(utc)


class OrderStatusUpdate(ValueObject):
    """One step of an order's status history."""

    client_order_id: str = Field(min_length=1)
    sequence: int = Field(ge=0)
    previous_status: OrderStatus | None = None
    status: OrderStatus
    occurred_at: datetime
    reason: str | None = None
    broker_order_id: str | None = None

    _aware = field_validator("occurred_at")(utc)


class BrokerCapabilities(ValueObject):
    """What a broker supports: order types, times in force, assets, tick sizes, auth methods."""

    broker: str = Field(min_length=1)
    order_types: frozenset[OrderType] = frozenset(OrderType)
    time_in_force: frozenset[TimeInForce] = frozenset(TimeInForce)
    asset_classes: frozenset[AssetClass] = frozenset({AssetClass.EQUITY})
    auth_methods: frozenset[AuthMethod] = frozenset({AuthMethod.API_KEY})
    supports_fractional: bool = False
    supports_extended_hours: bool = False
    supports_short: bool = True
    supports_replace: bool = True
    # How the broker replaces: a new order with a new id (Alpaca), or the same order changed in place
    # (Tradier); and whether a replace may change the quantity (Tradier: cancel and place a new order).
    replace_keeps_id: bool = False
    supports_replace_quantity: bool = True
    supports_trail_percent: bool = True
    tick_size: Decimal = Decimal("0.01")
    sub_penny_tick: Decimal = Decimal("0.0001")
    sub_penny_threshold: Decimal = Decimal("1.00")
    commission_per_share: Decimal = Decimal("0")
    supports_order_classes: bool = False  # bracket/OCO/OTO held by the broker itself (Alpaca order classes)

    def supports(self, order: BrokerOrder) -> bool:
        """Whether the order's type, time in force and asset class are all supported."""
        return (
            order.order_type in self.order_types
            and order.time_in_force in self.time_in_force
            and order.asset_class in self.asset_classes
        )


class AccountKey(ValueObject):
    """One more API key pair on a connection: at brokers where one key is one account (Alpaca), a connection
    reaches several accounts through several keys."""

    api_key: str = Field(min_length=1)
    api_secret: SecretStr


class ConnectionCredentials(ValueObject):
    """Secrets for a broker connection; never printed, never in workflow payloads."""

    api_key: str | None = None
    api_secret: SecretStr | None = None
    access_token: SecretStr | None = None
    refresh_token: SecretStr | None = None
    session_token: SecretStr | None = None
    token_expires_at: datetime | None = None
    additional_keys: tuple[AccountKey, ...] = ()

    @field_validator("token_expires_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        return None if value is None else utc(value)

    @property
    def auth_method(self) -> AuthMethod:
        """OAuth when a token is given (a key/secret beside it is the OAuth client, for refreshing), else
        API key/secret when both are given, else session."""
        if self.access_token is not None or self.refresh_token is not None:
            return AuthMethod.OAUTH2
        if self.api_key and self.api_secret is not None:
            return AuthMethod.API_KEY
        return AuthMethod.SESSION

    def secret_values(self) -> dict[str, str | None]:
        """The clear values, for the encrypting store and the adapters only."""

        def reveal(s: SecretStr | None) -> str | None:
            return None if s is None else s.get_secret_value()

        return {
            "api_key": self.api_key,
            "api_secret": reveal(self.api_secret),
            "access_token": reveal(self.access_token),
            "refresh_token": reveal(self.refresh_token),
            "session_token": reveal(self.session_token),
        }

    def additional_secret_values(self) -> list[dict[str, str]]:
        """The clear values of the additional key pairs, for the encrypting store only."""
        return [{"api_key": k.api_key, "api_secret": k.api_secret.get_secret_value()} for k in self.additional_keys]

    def for_account_keys(self) -> list[ConnectionCredentials]:
        """Credentials of each additional key pair on its own (each logs in to its own account)."""
        return [ConnectionCredentials(api_key=k.api_key, api_secret=k.api_secret) for k in self.additional_keys]
