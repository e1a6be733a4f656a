"""Forex buying power at OANDA's margin rates, end to end: the OANDA adapter reads `marginRate`, `marginAvailable`
and each instrument's `marginRate` (GET …/instruments) from the simulator's v20 front end (FX1: 100,000 USD at
50:1; GBP_USD at 20:1), the ledger keeps them, and the pre-trade check posts notional x the pair's rate out of
margin available, where Reg T (2 x equity) would have refused."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

import httpx
import pytest
from pydantic import SecretStr

from brokers.oanda.config import OandaConfig
from brokers.oanda.gateway import OandaGateway
from domain.broker_integration import BrokerOrder, ConnectionCredentials, PreTradeRejectedError
from domain.broker_integration.rules.buying_power import check_pre_trade
from domain.broker_integration.rules.margin import compute_figures

from .test_oanda_order_flow import ACCOUNT, Stack, request, stack

__all__ = ["stack"]

TODAY = date(2026, 3, 2)
# The simulator's default pairs: majors at 0.02 (50:1), GBP_USD at 0.05 (20:1); FOREX: the account's, for the rest.
MARGIN_RATES = {"EUR/USD": Decimal("0.02"), "GBP/USD": Decimal("0.05"), "USD/JPY": Decimal("0.02"),
                "FOREX": Decimal("0.02")}


def _oanda(stack: Stack, token: str = "OANDATOKEN") -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=stack.sim.base_url, timeout=10, headers={"Authorization": f"Bearer {token}"})


async def _oanda_status(stack: Stack, client_order_id: str) -> int:
    async with httpx.AsyncClient(
        base_url=stack.sim.base_url, timeout=10, headers={"Authorization": "Bearer OANDATOKEN"}
    ) as c:
        return (await c.get(f"/v3/accounts/{ACCOUNT}/orders/@{client_order_id}")).status_code


async def test_the_adapter_reads_the_margin_terms(stack: Stack) -> None:
    gateway = OandaGateway("oanda-margin", OandaConfig(base_url=stack.sim.base_url))
    try:
        await gateway.authenticate(ConnectionCredentials(access_token=SecretStr("OANDATOKEN")))
        account = await gateway.get_account(ACCOUNT)
    finally:
        await gateway.close()
    assert account.margin_rates == MARGIN_RATES and account.margin_available == Decimal("100000")
    figures = compute_figures(account, TODAY)
    assert (figures.regt_buying_power, figures.margin_available) == (Decimal("200000"), Decimal("100000"))
    order = BrokerOrder(
        client_order_id="probe", symbol="EUR/USD", side="BUY", quantity=Decimal(1_000_000), asset_class="FOREX"
    )
    check_pre_trade(order, account, Decimal("1.085"), today=TODAY)  # 21,700 of margin out of 100,000
    with pytest.raises(PreTradeRejectedError) as refused:  # the same order under Reg T: 1,085,000 > 200,000
        check_pre_trade(order, account.model_copy(update={"margin_rates": {}}), Decimal("1.085"), today=TODAY)
    assert refused.value.code == "INSUFFICIENT_BUYING_POWER"


async def test_fifty_to_one_takes_what_reg_t_refuses_and_margin_refuses_the_rest(stack: Stack) -> None:
    # 1,000,000 EUR/USD at ~1.085: ~1,085,000 of notional, ~21,700 of margin at 0.02. Reg T: 200,000 at most.
    big = request(symbol="EUR/USD", side="BUY", quantity=1_000_000, time_in_force="FOK")
    outcome = await stack.orders.wait(await stack.orders.submit(big), timeout=30)
    assert outcome.view.status == "FILLED" and outcome.view.filled_qty == 1_000_000, outcome.view.reason
    stored = await stack.repos.accounts.get(ACCOUNT)  # the ledger's copy keeps OANDA's terms
    assert stored is not None and stored.margin_rates == MARGIN_RATES

    # 4,000,000 more: ~86,800 of margin, more than the ~78,300 left. Refused before the broker sees it.
    too_big = request(symbol="EUR/USD", side="BUY", quantity=4_000_000, time_in_force="FOK")
    cid = await stack.orders.submit(too_big)
    refused_view = (await stack.orders.wait(cid, timeout=30)).view
    assert refused_view.status == "REJECTED"
    reason = refused_view.reason or ""
    assert "INSUFFICIENT_MARGIN" in reason and "margin rate 0.02 (50:1)" in reason, reason
    assert "EUR/USD notional $4,3" in reason and "margin used $21," in reason, reason
    assert await _oanda_status(stack, cid) == 404  # never sent


async def test_the_broker_serves_each_pair_s_margin_rate_and_margins_positions_at_it(stack: Stack) -> None:
    base = f"/v3/accounts/{ACCOUNT}"
    async with _oanda(stack) as oanda:
        listed = (await oanda.get(f"{base}/instruments")).json()["instruments"]
        assert {i["name"]: i["marginRate"] for i in listed} == {"EUR_USD": "0.02", "GBP_USD": "0.05", "USD_JPY": "0.02"}
        jpy = (await oanda.get(f"{base}/instruments", params={"instruments": "USD_JPY"})).json()["instruments"]
        assert [(i["name"], i["pipLocation"], i["displayPrecision"]) for i in jpy] == [("USD_JPY", -2, 3)]
        unknown = await oanda.get(f"{base}/instruments", params={"instruments": "EUR_USD,XAU_XYZ"})
        assert unknown.status_code == 400 and "XAU_XYZ" in unknown.json()["errorMessage"]
        assert (await oanda.get(f"{base}/instruments", headers={"Authorization": "Bearer nope"})).status_code == 401
        assert (await oanda.get("/v3/accounts/101-001-9999999-001/instruments")).status_code == 403

        # 2,400,000 GBP_USD at ~1.273: ~153,000 of margin at 0.05 on 100,000 (the account's 0.02 would take it).
        too_big = await oanda.post(f"{base}/orders", json={"order": {
            "type": "MARKET", "instrument": "GBP_USD", "units": "2400000", "timeInForce": "FOK"}})
        assert too_big.status_code == 201, too_big.text
        assert too_big.json()["orderCancelTransaction"]["reason"] == "INSUFFICIENT_MARGIN"
        placed = await oanda.post(f"{base}/orders", json={"order": {
            "type": "MARKET", "instrument": "GBP_USD", "units": "1000000", "timeInForce": "FOK"}})
        fill = placed.json()["orderFillTransaction"]
        margin = Decimal(fill["tradeOpened"]["initialMarginRequired"])
        assert margin == Decimal(fill["units"]) * Decimal(fill["price"]) * Decimal("0.05"), fill
        summary = (await oanda.get(f"{base}/summary")).json()["account"]
        value = Decimal(summary["positionValue"])
        assert summary["marginRate"] == "0.02" and Decimal(summary["marginUsed"]) == value * Decimal("0.05")
        assert Decimal(summary["marginAvailable"]) == Decimal(summary["NAV"]) - Decimal(summary["marginUsed"])

        # ~36,000 left: a resting GBP_USD limit may not grow to 1,000,000 units (60,000 at 0.05) by a replace.
        limit = {"type": "LIMIT", "instrument": "GBP_USD", "units": "1000", "price": "1.20000", "timeInForce": "GTC"}
        resting = (await oanda.post(f"{base}/orders", json={"order": limit})).json()["orderCreateTransaction"]["id"]
        grown = await oanda.put(f"{base}/orders/{resting}", json={"order": {**limit, "units": "1000000"}})
        assert grown.status_code == 400 and grown.json()["errorCode"] == "INSUFFICIENT_MARGIN", grown.text
        assert (await oanda.get(f"{base}/orders/{resting}")).json()["order"]["state"] == "PENDING"


async def test_a_pair_with_a_higher_rate_is_refused_before_the_broker_what_a_major_takes(stack: Stack) -> None:
    # The same ~3,000,000 of notional on 100,000 of margin available: 150,000 of margin at GBP/USD's 0.05,
    # 60,000 at EUR/USD's 0.02. The account-wide rate alone (0.02) would have let both through.
    gbp = request(symbol="GBP/USD", side="BUY", quantity=2_356_638, time_in_force="FOK")
    cid = await stack.orders.submit(gbp)
    refused = (await stack.orders.wait(cid, timeout=30)).view
    reason = refused.reason or ""
    assert refused.status == "REJECTED" and "INSUFFICIENT_MARGIN" in reason, reason
    # The price moves (volatility): ~$3,000,000, either side of it.
    assert re.search(r"GBP/USD notional \$(2,9|3,0)\d\d,\d{3}\.\d\d at margin rate 0\.05 \(20:1\)", reason), reason
    assert await _oanda_status(stack, cid) == 404  # never sent

    eur = request(symbol="EUR/USD", side="BUY", quantity=2_764_977, time_in_force="FOK")
    outcome = await stack.orders.wait(await stack.orders.submit(eur), timeout=30)
    assert outcome.view.status == "FILLED" and outcome.view.filled_qty == 2_764_977, outcome.view.reason
