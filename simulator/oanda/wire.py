"""OANDA's JSON conventions: every decimal a string, RFC 3339 times with nanoseconds, signed units."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal

__all__ = ["MONEY", "money", "price", "ts", "units"]

MONEY = Decimal("0.0001")


def ts(moment: datetime | None) -> str | None:
    """`2026-03-02T15:04:10.123456000Z`: RFC 3339, nanosecond precision, UTC."""
    if moment is None:
        return None
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{moment.microsecond:06d}000Z"


def units(value: Decimal) -> str:
    """Units as OANDA writes them: whole numbers, negative when short or selling."""
    text = f"{value.normalize():f}"
    return "0" if text in ("-0", "0") else text


def price(value: Decimal, tick: Decimal | None) -> str:
    """A price in the instrument's display precision (5 decimals for EUR_USD, 3 for USD_JPY)."""
    step = tick if tick is not None else Decimal("0.00001")
    return f"{value.quantize(step, rounding=ROUND_HALF_UP):f}"


def money(value: Decimal) -> str:
    """An amount in the account's currency, four decimals."""
    text = f"{value.quantize(MONEY, rounding=ROUND_HALF_UP):f}"
    return "0.0000" if text == "-0.0000" else text
