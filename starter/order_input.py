"""Turning the CLI's order options into requests, with every problem named by its option.

Nothing here talks to Temporal: bad input is refused before anything is started.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from activities.models import AmendRequest, OrderRequest
from domain.broker_integration import (
    BrokerOrder,
    DomainValidationError,
    ExecutionParameters,
    InvalidOrderError,
    OrderAmendment,
    OrderStatus,
    Problem,
)
from domain.broker_integration.base import problems_from_pydantic

__all__ = ["OrderOptions", "build_amendment", "describe", "enum_text", "parse_status"]

# Domain field -> the CLI option a user typed, so messages point at what to fix.
_OPTION_OF_FIELD = {
    "symbol": "--symbol",
    "side": "--side",
    "quantity": "--qty",
    "order_type": "--type",
    "price": "--limit-price",
    "limit_price": "--limit-price",
    "stop_price": "--stop-price",
    "trail_price": "--trail-price",
    "trail_percent": "--trail-percent",
    "trail": "--trail",
    "time_in_force": "--tif",
    "expire_at": "--expire-at",
    "extended_hours": "--extended-hours",
    "connection_id": "--connection",
    "account_id": "--account",
    "client_order_id": "--client-order-id",
}
_REQUIRED = {"symbol": "an instrument symbol, e.g. AAPL", "side": "buy, sell, sell_short or buy_to_cover",
             "quantity": "a positive number"}


def describe(problem: Problem) -> str:
    """Return a problem as '<option>: <what is wrong>'."""
    head = problem.field.split(".", 1)[0]
    return f"{_OPTION_OF_FIELD.get(head, problem.field)}: {problem.message}"


def enum_text(value: str | None) -> str | None:
    """Accept enum names in any case and with dashes ('stop-limit' -> 'STOP_LIMIT')."""
    return None if value is None else value.strip().upper().replace("-", "_")


def parse_status(value: str | None) -> OrderStatus | None:
    """Return the OrderStatus named by ``value``; raise DomainValidationError for an unknown one."""
    if value is None:
        return None
    try:
        return OrderStatus(value.strip().upper().replace("-", "_"))
    except ValueError:
        known = ", ".join(s.value for s in OrderStatus)
        raise DomainValidationError([Problem("--status", f"unknown status {value!r}; one of {known}")]) from None


@dataclass(frozen=True)
class OrderOptions:
    """The options of `order submit`, as typed (strings, parsed here)."""

    symbol: str | None
    side: str | None
    qty: str | None
    order_type: str = "market"
    limit_price: str | None = None
    stop_price: str | None = None
    trail_price: str | None = None
    trail_percent: str | None = None
    tif: str = "day"
    expire_at: str | None = None
    extended_hours: bool = False
    connection: str | None = None
    account: str | None = None
    client_order_id: str | None = None

    def to_request(self) -> OrderRequest:
        """Return the OrderRequest; raise InvalidOrderError listing every problem at once."""
        problems = [Problem(name, f"is required ({hint})") for name, hint in _REQUIRED.items()
                    if not self._raw_order()[name]]
        params = self._execution_params(problems)
        fields = self._raw_order() | ({"execution_params": params} if params else {})
        missing = {p.field for p in problems}
        try:
            BrokerOrder(**fields)
        except InvalidOrderError as exc:
            problems += [p for p in exc.problems if p.field not in missing]
        if problems:
            raise InvalidOrderError(problems)
        return self._request()

    def _raw_order(self) -> dict[str, Any]:
        return {
            "symbol": (self.symbol or "").strip().upper(),
            "side": enum_text(self.side),
            "quantity": self.qty,
            "order_type": enum_text(self.order_type),
            "price": self.limit_price,
            "stop_price": self.stop_price,
            "trail_price": self.trail_price,
            "trail_percent": self.trail_percent,
            "connection_id": self.connection,
            "account_id": self.account,
            "client_order_id": self.client_order_id or "",
        }

    def _execution_params(self, problems: list[Problem]) -> ExecutionParameters | None:
        """Parse time in force, expiry and session; add their problems to ``problems``."""
        expire_at: datetime | None = None
        if self.expire_at:
            try:
                expire_at = datetime.fromisoformat(self.expire_at.strip())
            except ValueError:
                problems.append(Problem("expire_at", f"not an ISO 8601 time: {self.expire_at!r}"))
                return None
        try:
            return ExecutionParameters(
                time_in_force=enum_text(self.tif), expire_at=expire_at, extended_hours=self.extended_hours
            )
        except DomainValidationError as exc:
            problems.extend(exc.problems)
            return None

    def _request(self) -> OrderRequest:
        raw = self._raw_order()
        try:
            return OrderRequest(
                client_order_id=self.client_order_id,
                symbol=raw["symbol"],
                side=raw["side"],
                quantity=raw["quantity"],
                order_type=raw["order_type"],
                limit_price=self.limit_price,
                stop_price=self.stop_price,
                trail_price=self.trail_price,
                trail_percent=self.trail_percent,
                time_in_force=enum_text(self.tif),
                expire_at=datetime.fromisoformat(self.expire_at.strip()) if self.expire_at else None,
                extended_hours=self.extended_hours,
                connection_id=self.connection,
                account_id=self.account,
            )
        except ValidationError as exc:
            raise InvalidOrderError(problems_from_pydantic(exc)) from None


def build_amendment(
    qty: str | None, limit_price: str | None, stop_price: str | None, trail: str | None
) -> AmendRequest:
    """Return the AmendRequest; raise DomainValidationError when a term is invalid or none is given."""
    try:
        amendment = OrderAmendment(quantity=qty, limit_price=limit_price, stop_price=stop_price, trail=trail)
    except ValidationError as exc:
        raise DomainValidationError(problems_from_pydantic(exc), subject="amendment") from None
    if amendment.is_empty():
        hint = "give at least one of --qty, --limit-price, --stop-price, --trail"
        raise DomainValidationError([Problem("amendment", hint)], subject="amendment")
    return AmendRequest(**amendment.model_dump())
