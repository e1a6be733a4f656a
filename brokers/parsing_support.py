"""Pieces every adapter's parsing.py shares: the guard that types a parser's failures."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, Protocol, TypeVar

from domain.broker_integration.ports import BrokerError

__all__ = ["ParserGuard", "typed_parser"]

P = ParamSpec("P")
R = TypeVar("R")

# What reading a hostile or malformed structure can raise: pydantic's ValidationError is a ValueError,
# decimal's InvalidOperation and Overflow are ArithmeticErrors, a missing key or index a LookupError.
_UNREADABLE = (ValueError, TypeError, ArithmeticError, LookupError, AttributeError)


class ParserGuard(Protocol):
    """A decorator that keeps a parser's signature."""

    def __call__(self, parse: Callable[P, R], /) -> Callable[P, R]: ...


def typed_parser(error_class: type[BrokerError], *, what: str = "payload") -> ParserGuard:
    """A decorator turning any failure of a parser into `error_class` (never a crash); broker errors pass."""

    def guard(parse: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(parse)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return parse(*args, **kwargs)
            except BrokerError:
                raise
            except _UNREADABLE as error:
                # The type only: a validation message would echo the broker's values into logs.
                raise error_class(f"{parse.__name__}: unreadable {what} ({type(error).__name__})") from None

        return wrapper

    return guard
