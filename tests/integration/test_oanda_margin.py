"""Forex buying power at OANDA's margin rate, end to end: the OANDA adapter reads `marginRate` and `marginAvailable`
from the simulator's v20 front end (FX1: 100,000 USD at 50:1), the ledger keeps them, and the pre-trade check
posts notional x 0.02 out of margin available, where Reg T (2 x equity) would have refused."""

from __future__ import annotations

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
    assert account.margin_rates == {"FOREX": Decimal("0.02")} and account.margin_available == Decimal("100000")
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
    assert stored is not None and stored.margin_rates == {"FOREX": Decimal("0.02")}

    # 4,000,000 more: ~86,800 of margin, more than the ~78,300 left. Refused before the broker sees it.
    too_big = request(symbol="EUR/USD", side="BUY", quantity=4_000_000, time_in_force="FOK")
    cid = await stack.orders.submit(too_big)
    refused_view = (await stack.orders.wait(cid, timeout=30)).view
    assert refused_view.status == "REJECTED"
    reason = refused_view.reason or ""
    assert "INSUFFICIENT_MARGIN" in reason and "margin rate 0.02 (50:1)" in reason, reason
    assert "EUR/USD notional $4,3" in reason and "margin used $21," in reason, reason
    assert await _oanda_status(stack, cid) == 404  # never sent
