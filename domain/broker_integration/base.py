"""The immutable value-object base: pydantic validation turned into typed domain errors."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError

from .errors import DomainValidationError, Problem

__all__ = ["ValueObject", "problems_from_pydantic", "to_decimal", "upper_enum"]


def problems_from_pydantic(exc: ValidationError) -> list[Problem]:
    """Turn pydantic's error list into domain problems named by field."""
    problems: list[Problem] = []
    for err in exc.errors():
        loc = ".".join(str(part) for part in err["loc"]) or "__root__"
        message = str(err["msg"]).removeprefix("Value error, ")
        problems.append(Problem(loc, message))
    return problems


def to_decimal(value: Any) -> Any:
    """Coerce ints, floats (by their shortest repr) and strings to Decimal; leave the rest."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, str) and value.strip():
        try:
            return Decimal(value.strip())
        except InvalidOperation:
            return value
    return value


def upper_enum(value: Any) -> Any:
    """Accept enum values in any case ("buy", "Limit")."""
    if isinstance(value, str):
        return value.strip().upper()
    return value


class ValueObject(BaseModel):
    """Frozen, validated on construction; bad input raises one DomainValidationError."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)
    _error_class: ClassVar[type[DomainValidationError]] = DomainValidationError
    _raw_checks: ClassVar[tuple[Callable[[Mapping[str, Any]], list[Problem]], ...]] = ()

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise self._make_error(self._all_problems(exc, data)) from None

    @classmethod
    def _all_problems(cls, exc: ValidationError, data: Mapping[str, Any]) -> list[Problem]:
        # Cross-field rules also run on the raw input, so one error lists every problem;
        # their message wins over pydantic's for the same field.
        raw = [p for check in cls._raw_checks for p in check(data)]
        covered = {p.field for p in raw}
        parsed = problems_from_pydantic(exc)
        if cls._raw_checks:
            parsed = [p for p in parsed if p.field not in covered and p.field != "__root__"]
        return raw + parsed

    @classmethod
    def _make_error(cls, problems: list[Problem]) -> DomainValidationError:
        if cls._error_class is DomainValidationError:
            return DomainValidationError(problems, subject=cls.__name__)
        return cls._error_class(problems)

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> Any:
        """Build from a mapping, raising the domain's validation error (never pydantic's)."""
        return cls(**dict(data))
