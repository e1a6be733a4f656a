"""Each asset class's precision: the quantity step, the price tick and the contract multiplier.

Equities trade in whole shares (or fractions where the broker allows), options in whole contracts of 100,
forex in whole units of the base currency with prices in pips (5 decimals, 3 for JPY quotes), crypto in
1e-8 of a coin. Forex symbols use one unified form, `BASE/QUOTE` (`EUR/USD`): adapters map it to their own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

from ..enums import AssetClass
from ..errors import Problem

__all__ = [
    "FOREX_SYMBOL",
    "FRACTIONAL_EQUITY_STEP",
    "AssetPrecision",
    "forex_pair",
    "is_multiple",
    "notional",
    "precision_for",
    "precision_problems",
]

FRACTIONAL_EQUITY_STEP = Decimal("0.000000001")
FOREX_SYMBOL = re.compile(r"^(?P<base>[A-Z]{3})/(?P<quote>[A-Z]{3})$")
# Quotes whose pip is the second decimal: their prices carry 3 decimals, not 5.
_SECOND_DECIMAL_PIP = frozenset({"JPY", "HUF", "THB"})


@dataclass(frozen=True)
class AssetPrecision:
    """How finely an instrument trades: quantities are multiples of `quantity_step`, prices of
    `price_tick` (None: the broker's own tick rules apply), one unit is `multiplier` of the underlying."""

    quantity_step: Decimal
    price_tick: Decimal | None = None
    multiplier: Decimal = Decimal(1)
    unit: str = "share"


def forex_pair(symbol: str) -> tuple[str, str] | None:
    """(base, quote) of a forex symbol in the unified `EUR/USD` form; None when it is not one."""
    match = FOREX_SYMBOL.match(symbol)
    return (match["base"], match["quote"]) if match else None


def precision_for(asset_class: AssetClass, symbol: str, *, fractional: bool = False) -> AssetPrecision:
    """The precision of `symbol` in `asset_class`; `fractional`: the broker accepts fractional shares."""
    if asset_class is AssetClass.FOREX:
        pair = forex_pair(symbol)
        quote = pair[1] if pair else ""
        tick = Decimal("0.001") if quote in _SECOND_DECIMAL_PIP else Decimal("0.00001")
        return AssetPrecision(quantity_step=Decimal(1), price_tick=tick, unit="unit")
    if asset_class is AssetClass.CRYPTO:
        return AssetPrecision(quantity_step=Decimal("0.00000001"), price_tick=Decimal("0.01"), unit="coin")
    if asset_class is AssetClass.OPTION:
        return AssetPrecision(quantity_step=Decimal(1), price_tick=Decimal("0.01"), multiplier=Decimal(100),
                              unit="contract")
    if asset_class is AssetClass.FUTURE:
        return AssetPrecision(quantity_step=Decimal(1), unit="contract")
    return AssetPrecision(quantity_step=FRACTIONAL_EQUITY_STEP if fractional else Decimal(1))


def is_multiple(value: Decimal, step: Decimal) -> bool:
    """Whether `value` is a whole number of `step`s."""
    return value % step == 0


def precision_problems(asset_class: AssetClass, symbol: str, quantity: Decimal,
                       prices: dict[str, Decimal | None]) -> list[Problem]:
    """Problems of a quantity and prices against the asset class's precision (equity fractions aside:
    whether a broker takes fractional shares is a capability, checked with the broker)."""
    problems: list[Problem] = []
    if asset_class is AssetClass.FOREX and forex_pair(symbol) is None:
        problems.append(Problem("symbol", f"a forex symbol is BASE/QUOTE (e.g. EUR/USD), got {symbol!r}"))
    precision = precision_for(asset_class, symbol, fractional=True)
    if asset_class is not AssetClass.EQUITY and not is_multiple(quantity, precision.quantity_step):
        problems.append(Problem(
            "quantity", f"{asset_class} quantities are multiples of {precision.quantity_step} "
                        f"{precision.unit}s, got {quantity}"))
    tick = precision.price_tick
    for field, value in prices.items():
        if tick is not None and value is not None and not is_multiple(value, tick):
            problems.append(Problem(field, f"{value} is not a multiple of the {symbol} price tick {tick}"))
    return problems


def notional(asset_class: AssetClass, symbol: str, quantity: Decimal, price: Decimal,
             currency: str = "USD") -> Decimal:
    """What `quantity` at `price` is worth in the account's `currency`: options count their multiplier; a
    forex pair quoted in another currency is worth its units when the account holds its base (USD/JPY
    in a USD account), else its quote value (a cross such as EUR/GBP stays in GBP: no rates here)."""
    if asset_class is AssetClass.FOREX:
        pair = forex_pair(symbol)
        if pair is not None and pair[0] == currency and pair[1] != currency:
            return quantity
        return quantity * price
    return quantity * price * precision_for(asset_class, symbol).multiplier
