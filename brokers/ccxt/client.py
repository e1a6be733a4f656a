"""CcxtClient: one ccxt async exchange object (markets loaded once), every call's errors mapped to ours."""

from __future__ import annotations

import asyncio
import decimal
import logging
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any, TypeVar

import ccxt.async_support as ccxt

from .config import CcxtConfig, rehosted
from .errors import CcxtError, CcxtUnsupportedOrderError, error_for

__all__ = ["CcxtClient", "MarketRules"]

log = logging.getLogger(__name__)
# ccxt logs every request at DEBUG with its headers (the API key) and signed body: keep it at INFO.
logging.getLogger("ccxt").setLevel(logging.INFO)

T = TypeVar("T")


class MarketRules:
    """What an order in one market must respect: amount step, price tick, minimum amount and cost."""

    def __init__(self, market: dict[str, Any], precision_mode: int) -> None:
        self.symbol: str = market["symbol"]
        self.market_id: str = market["id"]
        self.base: str = market["base"]
        self.quote: str = market["quote"]
        precision, limits = market.get("precision") or {}, market.get("limits") or {}
        self.amount_step = _step(precision.get("amount"), precision_mode)
        self.price_tick = _step(precision.get("price"), precision_mode)
        self.min_amount = _dec((limits.get("amount") or {}).get("min"))
        self.max_amount = _dec((limits.get("amount") or {}).get("max"))
        self.min_cost = _dec((limits.get("cost") or {}).get("min"))


def _dec(value: Any) -> Decimal | None:
    """A ccxt number (float, int or str) as Decimal, floats by their shortest repr."""
    if value is None or isinstance(value, bool):
        return None
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value))


def _step(value: Any, precision_mode: int) -> Decimal | None:
    number = _dec(value)
    if number is None or number <= 0:
        return None
    if precision_mode == ccxt.TICK_SIZE:
        return number
    if precision_mode == ccxt.DECIMAL_PLACES:
        return Decimal(1).scaleb(-int(number))
    return None  # significant digits: no fixed step


class CcxtClient:
    """The exchange object of one connection; `call()` runs a ccxt coroutine and maps its errors."""

    def __init__(self, config: CcxtConfig, api_key: str | None, secret: str | None,
                 exchange: Any | None = None) -> None:
        self.config = config
        if exchange is None:
            klass = getattr(ccxt, config.exchange_id, None)
            if klass is None:
                raise CcxtUnsupportedOrderError(f"ccxt has no exchange {config.exchange_id!r}")
            exchange = klass(config.exchange_params(api_key, secret))
            if config.use_sandbox:
                exchange.set_sandbox_mode(True)
            elif config.base_url:
                exchange.urls["api"] = rehosted(exchange.urls["api"], config.base_url)
        self.exchange = exchange
        self._loaded = False

    def __repr__(self) -> str:  # the exchange object holds the secret
        return f"CcxtClient({self.config.exchange_id})"

    async def call(self, what: str, make: Callable[[], Awaitable[T]], *, write: bool = False) -> T:
        """Await `make()`; ccxt's exceptions become the adapter's (a write's lost answer is ambiguous).

        ccxt's precision code changes the current decimal context in place (ROUND_HALF_UP, Underflow
        trapped): the call runs in a task of its own with a fresh context, so ours stays as it was.
        """
        try:
            return await asyncio.create_task(_in_own_decimal_context(make))
        except CcxtError:
            raise
        except ccxt.BaseError as exc:
            raise error_for(exc, what, write=write) from None

    async def markets(self) -> dict[str, Any]:
        """The exchange's markets, loaded on first use."""
        if not self._loaded:
            await self.call("load_markets", self.exchange.load_markets)
            self._loaded = True
        return self.exchange.markets  # type: ignore[no-any-return]

    async def rules(self, symbol: str) -> MarketRules:
        """The market of a unified symbol (BTC/USDT); an unknown one is refused."""
        market = (await self.markets()).get(symbol)
        if market is None:
            raise CcxtUnsupportedOrderError(f"{self.config.exchange_id} has no market {symbol}")
        return MarketRules(market, int(self.exchange.precisionMode))

    async def close(self) -> None:
        try:
            await self.exchange.close()
        except Exception as exc:  # closing must not fail the caller
            log.info("ccxt: close failed (%s)", type(exc).__name__)


async def _in_own_decimal_context(make: Callable[[], Awaitable[T]]) -> T:
    decimal.setcontext(decimal.Context())  # this task's context only (decimal's context is a context variable)
    return await make()
