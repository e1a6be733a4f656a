"""OANDA's margin: each instrument's marginRate (configured per pair; 0.02, 50:1, when not), the account's rate
(a client override that can only make margin stricter, so the larger of the two applies), the margin the
positions use and what an order needs.

The core checks buying power at the account's rate alone; this front end first refuses (INSUFFICIENT_MARGIN)
an order whose new exposure needs more margin, at the pair's own rate, than the summary's `marginAvailable`,
so a refusal always agrees with what the account reports.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from simulator.config import SimConfig
from simulator.core import Account

__all__ = ["DEFAULT_RATE", "REG_T_RATE", "MarginRates", "configured_rates"]

ZERO = Decimal(0)
DEFAULT_RATE = Decimal("0.02")  # a pair configured without a rate: a major's 50:1
REG_T_RATE = Decimal("0.5")  # an account without a margin rate: the core applies Reg T


def configured_rates(config: SimConfig) -> dict[str, Decimal]:
    """The forex pairs' configured margin rates by instrument name."""
    return {i.symbol: i.margin_rate for i in config.instruments if i.asset_class == "forex" and i.margin_rate}


class MarginRates:
    """The instruments' margin rates and the margin figures of an account at them."""

    def __init__(self, rates: Mapping[str, Decimal]) -> None:
        self._rates = dict(rates)

    def of_instrument(self, instrument: str) -> Decimal:
        """The instrument's own marginRate, as GET …/instruments reports it."""
        return self._rates.get(instrument, DEFAULT_RATE)

    def effective(self, account: Account, instrument: str) -> Decimal:
        """The rate a position in `instrument` is margined at: the larger of the instrument's and the account's."""
        return max(self.of_instrument(instrument), account.margin_rate or REG_T_RATE)

    def used(self, account: Account, marks: Mapping[str, Decimal]) -> Decimal:
        """The positions' margin, each at its effective rate (`marginUsed`)."""
        return sum((abs(p.qty) * marks[s] * self.effective(account, s) for s, p in account.positions.items()), ZERO)

    def available(self, account: Account, marks: Mapping[str, Decimal]) -> Decimal:
        """NAV less the margin used, never negative (`marginAvailable`)."""
        return max(account.equity(marks) - self.used(account, marks), ZERO)

    def required(self, account: Account, instrument: str, signed_units: Decimal, price: Decimal) -> Decimal:
        """The margin the order adds: its units that open or grow the position (a reduction needs none)."""
        held = account.position_qty(instrument)
        opened = max(abs(held + signed_units) - abs(held), ZERO)
        return opened * price * self.effective(account, instrument)
