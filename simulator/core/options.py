"""Equity options at the exchange: OCC symbols, and contracts priced from their underlying.

An option is listed the first time a front end names a valid OCC symbol (`AAPL240119C00190000`: root,
expiry YYMMDD, C or P, strike x 1000 in 8 digits) whose underlying the exchange lists. Its price follows
the underlying through a simple deterministic model, with no randomness of its own: intrinsic value plus
a time value that is largest at the strike and shrinks with distance from it and with time to expiry.
One contract is 100 shares: cash, market values and buying power count the multiplier (`InstrumentSpec`).
Not simulated: exercise, assignment and expiry of the contracts themselves.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from simulator.core.instruments import CENT, Instrument, InstrumentSpec
from simulator.core.model import Rejection, RejectKind
from simulator.core.state import MarketState

__all__ = ["CONTRACT_SIZE", "OccSymbol", "OptionInstrument", "list_option", "option_price", "parse_occ"]

CONTRACT_SIZE = Decimal(100)
OPTION_SPREAD = Decimal("0.10")
VOLATILITY = 0.30  # annualised, for the time value only
_OCC = re.compile(r"^(?P<root>[A-Z][A-Z0-9]{0,5})(?P<expiry>\d{6})(?P<right>[CP])(?P<strike>\d{8})$")


@dataclass(frozen=True)
class OccSymbol:
    """An OCC option symbol taken apart."""

    symbol: str
    root: str
    expiry: date
    right: str  # "call" or "put"
    strike: Decimal


def parse_occ(symbol: str) -> OccSymbol | None:
    """The parts of an OCC symbol; None when it is not one (bad shape, impossible date, zero strike)."""
    match = _OCC.match(symbol)
    if match is None:
        return None
    raw = match["expiry"]
    try:
        expiry = date(2000 + int(raw[:2]), int(raw[2:4]), int(raw[4:]))
    except ValueError:
        return None
    strike = Decimal(match["strike"]) / 1000
    if strike <= 0:
        return None
    return OccSymbol(symbol, match["root"], expiry, "call" if match["right"] == "C" else "put", strike)


def option_price(underlying: Decimal, occ: OccSymbol, today: date) -> Decimal:
    """The model price of one share of the contract (premium per share, at least one cent)."""
    spot, strike = float(underlying), float(occ.strike)
    intrinsic = max(spot - strike, 0.0) if occ.right == "call" else max(strike - spot, 0.0)
    days = (occ.expiry - today).days
    value = intrinsic
    if days >= 0 and spot > 0:
        spread = spot * VOLATILITY * math.sqrt((days + 1) / 365)  # one standard deviation of the move
        distance = (spot - strike) / spread
        value += 0.4 * spread * math.exp(-distance * distance / 2)
    price = Decimal(repr(round(value, 6))).quantize(CENT, rounding=ROUND_HALF_UP)
    return max(price, CENT)


@dataclass
class OptionInstrument(Instrument):
    """A listed contract: its price is the model's, recomputed from the underlying at every tick."""

    underlying: Instrument | None = None
    contract: OccSymbol | None = None
    today: Callable[[], date] | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        self.reprice()

    def reprice(self) -> None:
        """Take the model price for the underlying's current price."""
        if self.underlying is None or self.contract is None or self.today is None:
            return
        self.price = option_price(self.underlying.price, self.contract, self.today())

    def step(self) -> None:
        self.reprice()
        self.refill()


def list_option(state: MarketState, symbol: str) -> OptionInstrument:
    """The option instrument of an OCC symbol, listed on first use; Rejection when it cannot trade."""
    known = state.instruments.get(symbol)
    if isinstance(known, OptionInstrument):
        known.reprice()
        return known
    occ = parse_occ(symbol)
    if occ is None:
        raise Rejection(RejectKind.INVALID, f"{symbol!r} is not an OCC option symbol")
    underlying = state.instruments.get(occ.root)
    if underlying is None or underlying.spec.multiplier != 1:
        raise Rejection(RejectKind.UNKNOWN_ASSET, f'could not find the underlying "{occ.root}" of {symbol}')
    if occ.expiry < state.clock.today():
        raise Rejection(RejectKind.INVALID, f"option {symbol} expired on {occ.expiry.isoformat()}")
    spec = InstrumentSpec(
        symbol=symbol,
        price=option_price(underlying.price, occ, state.clock.today()),
        name=f"{occ.root} {occ.expiry.isoformat()} {occ.strike.normalize():f} {occ.right}",
        exchange="OPRA",
        volatility=Decimal(0),
        spread=OPTION_SPREAD,
        fractionable=False,
        shortable=True,
        marginable=False,
        tick=CENT,
        asset_class="option",
        multiplier=CONTRACT_SIZE,
    )
    option = OptionInstrument(spec, underlying.seed, underlying=underlying, contract=occ, today=state.clock.today)
    state.instruments[symbol] = option
    return option
