"""Domain errors of broker integration.

Exception tree::

    DomainError
    ├── DomainValidationError        bad input; lists every problem with its field
    │   └── InvalidOrderError        an order that cannot exist
    ├── IllegalTransitionError       the order state machine refused a move
    ├── DuplicateExecutionError      an execution id applied twice
    ├── OverfillError                cumulative quantity would exceed the order
    ├── ForeignReportError           an execution or fee of another order
    ├── ConnectionNotReadyError      rule 1: a connection is authenticated before use
    ├── NotFoundError                an order, connection or account is unknown
    ├── PreTradeRejectedError        the account cannot take the order (buying power, position, type)
    └── ConfigurationError           a service was built without something it needs
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "ConfigurationError",
    "ConnectionNotReadyError",
    "DomainError",
    "DomainValidationError",
    "DuplicateExecutionError",
    "ForeignReportError",
    "IllegalTransitionError",
    "InvalidOrderError",
    "NotFoundError",
    "OverfillError",
    "PreTradeRejectedError",
    "Problem",
]


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with an input: the field and what is wrong with it."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class DomainError(Exception):
    """Base of every error the domain raises."""


class DomainValidationError(DomainError, ValueError):
    """Input that cannot be accepted; `problems` lists every problem at once."""

    def __init__(self, problems: list[Problem], subject: str = "input") -> None:
        unique = list(dict.fromkeys(problems))
        self.problems: tuple[Problem, ...] = tuple(unique)
        self.subject = subject
        details = "; ".join(str(p) for p in unique)
        super().__init__(f"invalid {subject} ({len(unique)} problem(s)): {details}")

    @property
    def fields(self) -> list[str]:
        """Names of the fields that have a problem, in order."""
        return [p.field for p in self.problems]


class InvalidOrderError(DomainValidationError):
    """An order whose fields do not make a valid order."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(problems, subject="order")


class IllegalTransitionError(DomainError):
    """The order state machine does not allow this move."""

    def __init__(self, current: str, target: str, client_order_id: str = "") -> None:
        self.current = current
        self.target = target
        self.client_order_id = client_order_id
        super().__init__(f"order {client_order_id or '?'}: illegal transition {current} -> {target}")


class DuplicateExecutionError(DomainError):
    """An execution id that was already applied to this order."""

    def __init__(self, execution_id: str, client_order_id: str = "") -> None:
        self.execution_id = execution_id
        super().__init__(f"order {client_order_id or '?'}: execution {execution_id} already applied")


class OverfillError(DomainError):
    """A fill that would take the cumulative quantity beyond the order quantity."""


class ForeignReportError(DomainError, ValueError):
    """An execution or fee that belongs to another order."""


class ConnectionNotReadyError(DomainError):
    """The connection is not authenticated (or its session expired) and cannot be used."""


class NotFoundError(DomainError, LookupError):
    """An order, connection or account that does not exist."""


class PreTradeRejectedError(DomainError):
    """The account cannot take the order; `code` says why in one word."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        self.message = message
        super().__init__(f"{code}: {message}")


class ConfigurationError(DomainError):
    """A service lacks a collaborator it needs (a gateway, a clock)."""
