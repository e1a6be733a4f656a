"""Instruments with seeded, reproducible price paths, a quoted spread and per-tick liquidity."""

from __future__ import annotations

import random
import uuid
import zlib
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

__all__ = ["CENT", "Instrument", "InstrumentSpec", "asset_id_for", "round_price"]

CENT = Decimal("0.01")
_ASSET_NAMESPACE = uuid.UUID("6f1c7f3e-3a52-4d59-9a51-6b0b3c1f0a11")


def asset_id_for(symbol: str) -> str:
    """Return a stable asset UUID for `symbol` (same id across runs and resets)."""
    return str(uuid.uuid5(_ASSET_NAMESPACE, symbol))


def round_price(price: Decimal, tick: Decimal | None = None) -> Decimal:
    """Round to the tick size: the instrument's own `tick` when it has one (forex pips), else
    cents at or above $1 and 1/100 cent below."""
    step = tick if tick is not None else CENT if price >= 1 else Decimal("0.0001")
    return max(price.quantize(step, rounding=ROUND_HALF_UP), step)


@dataclass(frozen=True)
class InstrumentSpec:
    """Static configuration of one tradable symbol."""

    symbol: str
    price: Decimal
    name: str = ""
    exchange: str = "NASDAQ"
    volatility: Decimal = Decimal("0.0004")
    spread: Decimal = Decimal("0.02")
    liquidity: Decimal | None = None
    fractionable: bool = True
    shortable: bool = True
    easy_to_borrow: bool = True
    marginable: bool = True
    tradable: bool = True
    tick: Decimal | None = None  # None: equity ticks (cents, 1/100 cent below $1)
    asset_class: str = "us_equity"  # "forex": no US regulatory fees on sales
    multiplier: Decimal = Decimal(1)  # units of the underlying per unit traded: an equity option contract is 100


@dataclass
class Instrument:
    """A live instrument: last trade price moves by a seeded random walk, one step per tick."""

    spec: InstrumentSpec
    seed: int
    price: Decimal = field(init=False)
    prev_close: Decimal = field(init=False)
    volatility: Decimal = field(init=False)
    liquidity: Decimal | None = field(init=False)
    buy_left: Decimal | None = field(init=False)
    sell_left: Decimal | None = field(init=False)
    _rng: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.price = round_price(self.spec.price, self.spec.tick)
        self.prev_close = self.price
        self.volatility = self.spec.volatility
        self.liquidity = self.spec.liquidity
        # crc32 rather than hash(): str hashes are salted per process and would break reproducibility.
        self._rng = random.Random(self.seed * 1_000_003 + zlib.crc32(self.spec.symbol.encode()))
        self.refill()

    @property
    def symbol(self) -> str:
        return self.spec.symbol

    @property
    def asset_id(self) -> str:
        return asset_id_for(self.spec.symbol)

    @property
    def half_spread(self) -> Decimal:
        return round_price(self.spec.spread / 2, self.spec.tick) if self.spec.spread > 0 else Decimal(0)

    @property
    def bid(self) -> Decimal:
        return max(self.price - self.half_spread, round_price(Decimal("0.0001"), self.spec.tick))

    @property
    def ask(self) -> Decimal:
        return self.price + self.half_spread

    def step(self) -> None:
        """Advance the price path by one tick and refill the per-tick liquidity."""
        if self.volatility > 0:
            shock = self._rng.gauss(0.0, 1.0)
            move = self.price * self.volatility * Decimal(repr(round(shock, 6)))
            self.price = round_price(self.price + move, self.spec.tick)
        self.refill()

    def set_price(self, price: Decimal, volatility: Decimal | None = None) -> None:
        """Pin the last price (tests); optionally change the volatility (0 freezes the path)."""
        self.price = round_price(price, self.spec.tick)
        if volatility is not None:
            self.volatility = volatility

    def set_liquidity(self, per_tick: Decimal | None) -> None:
        """Limit the shares available per side per tick (None: unlimited)."""
        self.liquidity = per_tick
        self.refill()

    def refill(self) -> None:
        self.buy_left = self.liquidity
        self.sell_left = self.liquidity

    def available(self, buying: bool) -> Decimal | None:
        return self.buy_left if buying else self.sell_left

    def consume(self, buying: bool, qty: Decimal) -> None:
        if buying and self.buy_left is not None:
            self.buy_left -= qty
        elif not buying and self.sell_left is not None:
            self.sell_left -= qty

    def close_day(self) -> None:
        self.prev_close = self.price
