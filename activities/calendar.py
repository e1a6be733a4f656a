"""Trade dates: US equities settle and count day trades by the New York calendar date."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

__all__ = ["NEW_YORK", "market_date"]

NEW_YORK = ZoneInfo("America/New_York")


def market_date(at: datetime) -> date:
    """The New York trade date of an aware timestamp."""
    return at.astimezone(NEW_YORK).date()
