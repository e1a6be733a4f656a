"""The simulated clock and the session calendars (no holidays), by asset class:

- US equities: weekdays 09:30-16:00 New York;
- forex: 24 hours, Sunday 17:00 to Friday 17:00 New York;
- crypto: always open.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, tzinfo
from enum import StrEnum
from zoneinfo import ZoneInfo

__all__ = [
    "CLOSE_TIME",
    "DEFAULT_START",
    "FOREX_ROLL_TIME",
    "NEW_YORK",
    "OPEN_TIME",
    "Session",
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
FOREX_ROLL_TIME = time(17, 0)  # forex opens Sunday and closes Friday at this New York time
_FRIDAY, _SATURDAY, _SUNDAY = 4, 5, 6


class Session(StrEnum):
    """The trading hours an instrument follows."""

    EQUITY = "equity"
    FOREX = "forex"
    CRYPTO = "crypto"

    @classmethod
    def of(cls, asset_class: str) -> Session:
        """The session of an instrument's asset class ("us_equity", "forex", "crypto"; anything else: equity)."""
        return _SESSIONS.get(asset_class, cls.EQUITY)


_SESSIONS = {"forex": Session.FOREX, "crypto": Session.CRYPTO}


def _forex_open(moment: datetime) -> bool:
    local = moment.astimezone(NEW_YORK)
    weekday, now = local.weekday(), local.time()
    if weekday == _SATURDAY:
        return False
    if weekday == _FRIDAY:
        return now < FOREX_ROLL_TIME
    if weekday == _SUNDAY:
        return now >= FOREX_ROLL_TIME
    return True


def _forex_next(moment: datetime, weekday: int) -> datetime:
    """The first `weekday` 17:00 New York strictly after `moment` (Sunday: the open, Friday: the close)."""
    day = moment.astimezone(NEW_YORK).date()
    while True:
        edge = datetime.combine(day, FOREX_ROLL_TIME, tzinfo=NEW_YORK).astimezone(UTC)
        if day.weekday() == weekday and edge > moment:
            return edge
        day += timedelta(days=1)


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

    def is_open(self, moment: datetime | None = None, session: Session = Session.EQUITY) -> bool:
        """Return True while `session` (the regular equity session unless told) is open."""
        moment = moment or self._now
        if session is Session.CRYPTO:
            return True
        if session is Session.FOREX:
            return _forex_open(moment)
        day = trading_date(moment)
        return is_business_day(day) and session_open(day) <= moment < session_close(day)

    def next_change(self, session: Session, moment: datetime | None = None) -> datetime | None:
        """When `session` next opens (while closed) or closes (while open), strictly after `moment`; None: never."""
        moment = moment or self._now
        if session is Session.CRYPTO:
            return None
        if session is Session.FOREX:
            return _forex_next(moment, _FRIDAY if _forex_open(moment) else _SUNDAY)
        return self.next_close(moment) if self.is_open(moment) else self.next_open(moment)

    def next_open(self, moment: datetime | None = None) -> datetime:
        """Return the next regular equity session open strictly after `moment`."""
        moment = moment or self._now
        day = trading_date(moment)
        while True:
            if is_business_day(day) and session_open(day) > moment:
                return session_open(day)
            day += timedelta(days=1)

    def next_close(self, moment: datetime | None = None) -> datetime:
        """Return the next regular equity session close strictly after `moment`."""
        moment = moment or self._now
        day = trading_date(moment)
        while True:
            if is_business_day(day) and session_close(day) > moment:
                return session_close(day)
            day += timedelta(days=1)
