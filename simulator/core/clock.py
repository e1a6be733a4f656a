"""The simulated clock and the US equity session calendar (weekdays 09:30-16:00 New York, no holidays)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo

__all__ = [
    "CLOSE_TIME",
    "DEFAULT_START",
    "NEW_YORK",
    "OPEN_TIME",
    "SimClock",
    "is_business_day",
    "next_business_day",
    "session_close",
    "session_open",
    "trading_date",
]


def _new_york() -> tzinfo:
    try:
        return ZoneInfo("America/New_York")
    except Exception:  # pragma: no cover - tzdata missing: fall back to EST
        from datetime import timezone

        return timezone(timedelta(hours=-5), "EST")


NEW_YORK = _new_york()
OPEN_TIME = time(9, 30)
CLOSE_TIME = time(16, 0)
# Monday 2026-03-02 10:00 New York: the market is open when a default simulator starts.
DEFAULT_START = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


def is_business_day(day: date) -> bool:
    """Return True on Monday to Friday (the simulator has no exchange holidays)."""
    return day.weekday() < 5


def next_business_day(day: date) -> date:
    """Return the first business day strictly after `day` (the T+1 settlement date)."""
    nxt = day + timedelta(days=1)
    while not is_business_day(nxt):
        nxt += timedelta(days=1)
    return nxt


def trading_date(moment: datetime) -> date:
    """Return the New York calendar date of `moment`."""
    return moment.astimezone(NEW_YORK).date()


def session_open(day: date) -> datetime:
    """Return the regular session open of `day` in UTC."""
    return datetime.combine(day, OPEN_TIME, tzinfo=NEW_YORK).astimezone(UTC)


def session_close(day: date) -> datetime:
    """Return the regular session close of `day` in UTC."""
    return datetime.combine(day, CLOSE_TIME, tzinfo=NEW_YORK).astimezone(UTC)


class SimClock:
    """A clock that only moves when told to; all times are timezone-aware UTC."""

    def __init__(self, start: datetime = DEFAULT_START) -> None:
        if start.tzinfo is None:
            raise ValueError("the simulated clock needs a timezone-aware start time")
        self._now = start.astimezone(UTC)

    def now(self) -> datetime:
        """Return the simulated time."""
        return self._now

    def move_to(self, moment: datetime) -> None:
        """Move forward to `moment`; the clock never goes backwards."""
        if moment > self._now:
            self._now = moment.astimezone(UTC)

    def today(self) -> date:
        """Return the New York trading date of now."""
        return trading_date(self._now)

    def is_open(self, moment: datetime | None = None) -> bool:
        """Return True while the regular session is open."""
        moment = moment or self._now
        day = trading_date(moment)
        return is_business_day(day) and session_open(day) <= moment < session_close(day)

    def next_open(self, moment: datetime | None = None) -> datetime:
        """Return the next session open strictly after `moment`."""
        moment = moment or self._now
        day = trading_date(moment)
        while True:
            if is_business_day(day) and session_open(day) > moment:
                return session_open(day)
            day += timedelta(days=1)

    def next_close(self, moment: datetime | None = None) -> datetime:
        """Return the next session close strictly after `moment`."""
        moment = moment or self._now
        day = trading_date(moment)
        while True:
            if is_business_day(day) and session_close(day) > moment:
                return session_close(day)
            day += timedelta(days=1)
