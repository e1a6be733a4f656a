"""Fee schedules per broker: our estimate before submission, compared with what the broker charged.

A schedule has a commission part (per share, per contract, per order, with a minimum and a cap) and the
US regulatory fees on equity and option sells: the SEC Section 31 fee on the proceeds and the FINRA
Trading Activity Fee per share (capped per trade), each rounded up to the cent as brokers charge them.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import ROUND_CEILING, Decimal

from ..base import ValueObject
from ..enums import AssetClass, FeeKind, OrderSide

__all__ = [
    "ALPACA_EQUITIES",
    "SCHEDULES",
    "FeeDifference",
    "FeeEstimate",
    "FeeSchedule",
    "compare_fees",
    "estimate_fees",
    "schedule_for",
]

ZERO = Decimal("0")
CENT = Decimal("0.01")
MILLION = Decimal(1_000_000)


def _up(amount: Decimal) -> Decimal:
    return amount.quantize(CENT, rounding=ROUND_CEILING)


class FeeSchedule(ValueObject):
    """One broker's charges for one asset class; amounts in the account currency."""

    name: str
    commission_per_share: Decimal = ZERO
    commission_per_contract: Decimal = ZERO
    commission_per_order: Decimal = ZERO
    commission_minimum: Decimal = ZERO
    commission_maximum: Decimal | None = None
    contract_multiplier: Decimal = Decimal(100)
    sec_fee_per_million: Decimal = Decimal("27.80")
    taf_per_share: Decimal = Decimal("0.000166")
    taf_max_per_trade: Decimal = Decimal("8.30")
    regulatory_fees: bool = True


class FeeEstimate(ValueObject):
    """Estimated charges of one order (or one execution)."""

    commission: Decimal = ZERO
    sec_fee: Decimal = ZERO
    finra_taf: Decimal = ZERO

    @property
    def total(self) -> Decimal:
        return self.commission + self.sec_fee + self.finra_taf

    def __add__(self, other: FeeEstimate) -> FeeEstimate:
        return FeeEstimate(commission=self.commission + other.commission, sec_fee=self.sec_fee + other.sec_fee,
                           finra_taf=self.finra_taf + other.finra_taf)

    def by_kind(self) -> dict[FeeKind, Decimal]:
        return {FeeKind.COMMISSION: self.commission, FeeKind.SEC_FEE: self.sec_fee, FeeKind.FINRA_TAF: self.finra_taf}


ALPACA_EQUITIES = FeeSchedule(name="alpaca-equities")
SCHEDULES: dict[tuple[str, AssetClass], FeeSchedule] = {("alpaca", AssetClass.EQUITY): ALPACA_EQUITIES}


def schedule_for(broker: str, asset_class: AssetClass = AssetClass.EQUITY) -> FeeSchedule:
    """The schedule of a broker and asset class; commission-free with regulatory fees when none is known."""
    return SCHEDULES.get((broker.lower(), asset_class), FeeSchedule(name=f"{broker.lower()}-default"))


def estimate_fees(schedule: FeeSchedule, side: OrderSide, quantity: Decimal, price: Decimal,
                  asset_class: AssetClass = AssetClass.EQUITY) -> FeeEstimate:
    """What an execution of `quantity` at `price` should cost under `schedule`."""
    if quantity <= 0:
        return FeeEstimate()
    contracts = asset_class is AssetClass.OPTION
    commission = schedule.commission_per_order
    commission += quantity * (schedule.commission_per_contract if contracts else schedule.commission_per_share)
    if commission > 0:
        commission = max(_up(commission), schedule.commission_minimum)
        if schedule.commission_maximum is not None:
            commission = min(commission, schedule.commission_maximum)
    sec = taf = ZERO
    selling = side in (OrderSide.SELL, OrderSide.SELL_SHORT)
    if selling and schedule.regulatory_fees and asset_class in (AssetClass.EQUITY, AssetClass.OPTION):
        notional = quantity * price * (schedule.contract_multiplier if contracts else 1)
        sec = _up(notional * schedule.sec_fee_per_million / MILLION)
        taf = min(_up(quantity * schedule.taf_per_share), schedule.taf_max_per_trade)
    return FeeEstimate(commission=commission, sec_fee=sec, finra_taf=taf)


class FeeDifference(ValueObject):
    """A fee kind where the broker charged something other than our estimate."""

    kind: FeeKind
    estimated: Decimal
    charged: Decimal

    @property
    def difference(self) -> Decimal:
        return self.charged - self.estimated


def compare_fees(estimate: FeeEstimate, charged: Iterable[tuple[FeeKind, Decimal]],
                 tolerance: Decimal = CENT) -> list[FeeDifference]:
    """Kinds whose charged total differs from the estimate by more than `tolerance`."""
    totals: dict[FeeKind, Decimal] = {}
    for kind, amount in charged:
        totals[kind] = totals.get(kind, ZERO) + amount
    expected = estimate.by_kind()
    differences = []
    for kind in sorted(set(expected) | set(totals), key=str):
        est, got = expected.get(kind, ZERO), totals.get(kind, ZERO)
        if abs(got - est) > tolerance:
            differences.append(FeeDifference(kind=kind, estimated=est, charged=got))
    return differences
