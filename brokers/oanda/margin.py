"""OANDA's margin terms for the pre-trade check: each instrument's margin rate, read from
GET /v3/accounts/{id}/instruments and kept per account for an hour (they rarely change).

The rate that applies to a position is the larger of the instrument's `marginRate` and the account's. Our
assumption: v20's documentation only says the account's `marginRate` is a client-set override whose effect is
"the lesser of" it and the division's rate, in leverage terms; a client can lower its leverage, never raise it
above what OANDA allows an instrument, so the stricter (larger) rate wins. Taking the larger is also right if
OANDA already folds the override into each instrument's rate.

A failed read of the instruments never fails the account read: the rates last read are kept (or, with none, the
account's rate alone applies, under the FOREX entry) and the failure is logged.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from domain.broker_integration.entities import BrokerAccount
from domain.broker_integration.enums import AssetClass

from . import parsing
from .errors import OandaError, OandaProtocolError
from .schemas import OandaAccountSummary, OandaInstruments, validated

__all__ = ["MarginRateCache", "effective_rates", "instrument_margin_rates", "with_margin_terms"]

log = logging.getLogger(__name__)

FOREX = str(AssetClass.FOREX)
MAX_RATE = Decimal(1)  # the whole notional: no instrument asks for more
Fetch = Callable[[str], Awaitable[Any]]


@parsing.typed_parser
def instrument_margin_rates(payload: Any, what: str = "GET …/instruments") -> dict[str, Decimal]:
    """Each currency pair's `marginRate` by our symbol (`EUR_USD` -> `EUR/USD`); other instruments and those
    without a rate are left out, a rate outside (0, 1] is refused (OandaProtocolError)."""
    wire = validated(OandaInstruments, payload, what)
    rates: dict[str, Decimal] = {}
    for instrument in wire.instruments:
        symbol = parsing.from_instrument(instrument.name)
        rate = parsing.decimal_or_none(instrument.marginRate)
        if rate is None or symbol == instrument.name:  # no rate, or not a currency pair (a CFD: not traded here)
            continue
        if not 0 < rate <= MAX_RATE:
            raise OandaProtocolError(f"{what}: {symbol} marginRate out of range: {rate}")
        rates[symbol] = max(rate, rates.get(symbol, rate))  # listed twice: the stricter
    return rates


def effective_rates(instrument_rates: dict[str, Decimal], account_rate: Decimal | None) -> dict[str, Decimal]:
    """`margin_rates` of the domain's account: each symbol at the larger of its rate and the account's, and the
    account's rate under FOREX for the pairs not listed."""
    floor = account_rate if account_rate is not None and account_rate > 0 else None
    rates = {symbol: rate if floor is None else max(rate, floor) for symbol, rate in instrument_rates.items()}
    if floor is not None:
        rates[FOREX] = floor
    return rates


def with_margin_terms(account: BrokerAccount, wire: OandaAccountSummary,
                      instrument_rates: dict[str, Decimal] | None = None) -> BrokerAccount:
    """The account with OANDA's margin terms: each instrument's effective rate, the account's `marginRate`
    (0.02: 50:1) for every other pair, and `marginAvailable` as reported."""
    account_rate = parsing.decimal_or_none(wire.marginRate)
    if account_rate is not None and account_rate > MAX_RATE:
        raise OandaProtocolError(f"account {wire.id[:40]!r}: marginRate out of range: {account_rate}")
    return account.model_copy(update={
        "margin_rates": effective_rates(instrument_rates or {}, account_rate),
        "margin_available": parsing.decimal_or_none(wire.marginAvailable)})


@dataclass
class _Entry:
    rates: dict[str, Decimal]
    fresh_until: float


class MarginRateCache:
    """Each account's instrument margin rates, read again after `ttl` seconds (after `retry` when a read failed)."""

    def __init__(self, ttl: float = 3600.0, retry: float = 60.0, clock: Callable[[], float] = time.monotonic
                 ) -> None:
        self.ttl = ttl
        self.retry = retry
        self.clock = clock
        self._entries: dict[str, _Entry] = {}

    async def rates(self, account: str, fetch: Fetch) -> dict[str, Decimal]:
        """The account's rates, read with `fetch(account)` when unknown or stale; never raises an OandaError."""
        entry = self._entries.get(account)
        now = self.clock()
        if entry is not None and now < entry.fresh_until:
            return entry.rates
        try:
            rates = instrument_margin_rates(await fetch(account))
        except OandaError as exc:
            kept = entry.rates if entry is not None else {}
            log.warning("oanda %s: instrument margin rates unreadable (%s); %s", account, type(exc).__name__,
                        "keeping the last ones read" if kept else "the account's margin rate applies")
            self._entries[account] = _Entry(kept, now + self.retry)
            return kept
        self._entries[account] = _Entry(rates, now + self.ttl)
        return rates

    def forget(self, account: str | None = None) -> None:
        """Drop one account's rates (or all): the next read fetches them."""
        if account is None:
            self._entries.clear()
        else:
            self._entries.pop(account, None)
