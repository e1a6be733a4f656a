"""Commissions and US regulatory fees charged on executions (SEC Section 31 fee and FINRA TAF on sells)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal

__all__ = ["FeeSchedule", "round_up_cent"]

CENT = Decimal("0.01")
MILLION = Decimal(1_000_000)


def round_up_cent(amount: Decimal) -> Decimal:
    """Round up to the next cent, as brokers do for regulatory fees."""
    return amount.quantize(CENT, rounding=ROUND_CEILING)


@dataclass(frozen=True)
class FeeSchedule:
    """Regulatory fee rates; defaults are the published 2024-2025 rates."""

    sec_fee_per_million: Decimal = Decimal("27.80")
    taf_per_share: Decimal = Decimal("0.000166")
    taf_max_per_trade: Decimal = Decimal("8.30")

    def sec_fee(self, sell_value: Decimal) -> Decimal:
        """Return the SEC fee on the proceeds of a sale."""
        return round_up_cent(sell_value * self.sec_fee_per_million / MILLION) if sell_value > 0 else Decimal(0)

    def taf(self, sell_qty: Decimal) -> Decimal:
        """Return the FINRA Trading Activity Fee on the shares sold in one execution."""
        if sell_qty <= 0:
            return Decimal(0)
        return min(round_up_cent(sell_qty * self.taf_per_share), self.taf_max_per_trade)

    @staticmethod
    def commission(qty: Decimal, per_share: Decimal, minimum: Decimal) -> Decimal:
        """Return the broker commission on one execution (zero for a commission-free account)."""
        if per_share <= 0 and minimum <= 0:
            return Decimal(0)
        return max(round_up_cent(qty * per_share), minimum)
