"""The market-data endpoints the simulator serves on its own host (latest trade and quote)."""

from __future__ import annotations

from decimal import Decimal

import httpx

from simulator.testing import running_simulator


async def test_latest_trade_and_quote_follow_the_set_price() -> None:
    async with running_simulator(autotick=False) as sim:
        await sim.admin.set_price("AAPL", "187.43", volatility=0)
        async with httpx.AsyncClient(base_url=sim.base_url, headers=sim.headers()) as client:
            trade = (await client.get("/v2/stocks/AAPL/trades/latest")).json()
            quote = (await client.get("/v2/stocks/AAPL/quotes/latest")).json()
            missing = await client.get("/v2/stocks/NOPE/trades/latest")
            anonymous = await httpx.AsyncClient(base_url=sim.base_url).get("/v2/stocks/AAPL/trades/latest")
    assert trade["symbol"] == "AAPL" and Decimal(str(trade["trade"]["p"])) == Decimal("187.43")
    assert Decimal(str(quote["quote"]["bp"])) <= Decimal("187.43") <= Decimal(str(quote["quote"]["ap"]))
    assert missing.status_code == 404
    assert anonymous.status_code == 401
