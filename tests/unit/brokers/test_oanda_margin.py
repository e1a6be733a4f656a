"""OANDA's per-instrument margin rates: GET …/instruments read into `margin_rates` by our symbol, each at the larger
of the instrument's and the account's rate, cached per account, and never failing the account read."""

from __future__ import annotations

import json
import logging
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from brokers.oanda import (
    OandaConfig,
    OandaGateway,
    OandaInsufficientMarginError,
    OandaProtocolError,
    OandaUnavailableError,
    parsing,
)
from brokers.oanda.margin import MarginRateCache, effective_rates, instrument_margin_rates, with_margin_terms
from brokers.oanda.schemas import OandaAccountSummary, OandaPosition
from domain.broker_integration import AssetClass, BrokerOrder, ConnectionCredentials, PreTradeRejectedError
from domain.broker_integration.entities import BrokerAccount
from domain.broker_integration.rules.buying_power import check_pre_trade
from domain.broker_integration.rules.margin import margin_rate

D = Decimal
FX = AssetClass.FOREX
RESOURCES = Path(__file__).resolve().parents[2] / "resources" / "oanda"
ACCOUNT = "101-004-1234567-001"
TODAY = date(2026, 3, 2)


def load(name: str) -> Any:
    return json.loads((RESOURCES / f"{name}.json").read_text())


def instrument(name: str = "EUR_USD", **fields: Any) -> dict[str, Any]:
    return {"name": name, "type": "CURRENCY", "displayName": name.replace("_", "/"), "marginRate": "0.02"} | fields


def account_with(rates: dict[str, Decimal] | None, summary: dict[str, Any] | None = None) -> BrokerAccount:
    wire = OandaAccountSummary.model_validate(summary or load("account_summary")["account"])
    positions = [OandaPosition.model_validate(p) for p in load("open_positions")["positions"]]
    return with_margin_terms(parsing.broker_account(wire, positions, "conn"), wire, rates)


def test_each_pair_s_rate_is_read_under_our_symbol() -> None:
    rates = instrument_margin_rates(load("account_instruments"))
    # The CFD (SPX500_USD) is not a pair brokerflow trades through OANDA: left out.
    assert rates == {"EUR/USD": D("0.0333"), "USD/JPY": D("0.04"), "EUR/TRY": D("0.1")}


def test_a_pair_without_a_rate_is_left_out_and_one_listed_twice_takes_the_stricter() -> None:
    payload = {"instruments": [instrument(marginRate=None), instrument("USD_JPY", marginRate="0.02"),
                               instrument("USD_JPY", marginRate="0.05")]}
    assert instrument_margin_rates(payload) == {"USD/JPY": D("0.05")}


@pytest.mark.parametrize("payload", [
    None, [], "instruments", {}, {"instruments": None}, {"instruments": {"name": "EUR_USD"}},
    {"instruments": [None]}, {"instruments": [{"marginRate": "0.02"}]},
    {"instruments": [{"name": 7, "marginRate": "0.02"}]},
    {"instruments": [instrument(marginRate="NaN")]}, {"instruments": [instrument(marginRate="1e999999")]},
    {"instruments": [instrument(marginRate="-0.02")]}, {"instruments": [instrument(marginRate="0")]},
    {"instruments": [instrument(marginRate="1.5")]}, {"instruments": [instrument(marginRate="2%")]},
    {"instruments": [instrument(marginRate=0.02)]}, {"instruments": [instrument(marginRate=["0.02"])]},
])
def test_hostile_payloads_are_protocol_errors(payload: Any) -> None:
    with pytest.raises(OandaProtocolError):
        instrument_margin_rates(payload)


def test_the_larger_of_the_instrument_s_and_the_account_s_rate_applies() -> None:
    rates = {"EUR/USD": D("0.0333"), "EUR/TRY": D("0.1")}
    assert effective_rates(rates, D("0.05")) == {"EUR/USD": D("0.05"), "EUR/TRY": D("0.1"), "FOREX": D("0.05")}
    assert effective_rates(rates, D("0.02")) == {"EUR/USD": D("0.0333"), "EUR/TRY": D("0.1"), "FOREX": D("0.02")}
    assert effective_rates(rates, None) == rates  # no account rate: only the instruments' own
    assert effective_rates({}, D("0.02")) == {"FOREX": D("0.02")}  # no instruments read: the account's for all


def test_the_domain_margins_each_pair_at_its_rate_and_the_others_at_the_account_s() -> None:
    account = account_with(instrument_margin_rates(load("account_instruments")))
    assert margin_rate(account, FX, "EUR/TRY") == D("0.1")
    assert margin_rate(account, FX, "EUR/USD") == D("0.0333")
    assert margin_rate(account, FX, "GBP/USD") == D("0.02")  # not listed: the account's rate
    assert account.margin_available == D("99769.0000")


def test_the_pre_trade_check_refuses_on_the_pair_s_rate_what_a_major_takes() -> None:
    account = account_with(instrument_margin_rates(load("account_instruments")))
    # The same 1,200,000 of notional: 39,960 of margin at 0.0333, 120,000 at 0.1, with 99,769 available.
    major = BrokerOrder(client_order_id="m", symbol="EUR/USD", side="BUY", quantity=D(1_000_000), asset_class="FOREX")
    check_pre_trade(major, account, D("1.2"), today=TODAY)
    exotic = major.model_copy(update={"client_order_id": "x", "symbol": "EUR/TRY", "quantity": D(30_000)})
    with pytest.raises(PreTradeRejectedError) as refused:
        check_pre_trade(exotic, account, D("40"), today=TODAY)
    assert refused.value.code == "INSUFFICIENT_MARGIN" and "margin rate 0.1 (10:1)" in refused.value.message


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_rates_are_read_once_an_hour_per_account() -> None:
    clock, asked = Clock(), []

    async def fetch(account: str) -> Any:
        asked.append(account)
        return {"instruments": [instrument(marginRate=str(D("0.02") * len(asked)))]}

    cache = MarginRateCache(ttl=3600, retry=60, clock=clock)
    assert await cache.rates("A", fetch) == {"EUR/USD": D("0.02")}
    clock.now += 3599
    assert await cache.rates("A", fetch) == {"EUR/USD": D("0.02")}
    assert await cache.rates("B", fetch) == {"EUR/USD": D("0.04")}  # each account its own
    clock.now += 1
    assert await cache.rates("A", fetch) == {"EUR/USD": D("0.06")}
    assert asked == ["A", "B", "A"]


async def test_a_failed_read_keeps_the_last_rates_or_none_and_is_retried_a_minute_later(
        caplog: pytest.LogCaptureFixture) -> None:
    clock, answers = Clock(), iter([OandaUnavailableError("down"), {"instruments": [instrument()]},
                                    {"instruments": [instrument(marginRate="NaN")]}])

    async def fetch(account: str) -> Any:
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    cache = MarginRateCache(ttl=3600, retry=60, clock=clock)
    with caplog.at_level(logging.WARNING, logger="brokers.oanda.margin"):
        assert await cache.rates("A", fetch) == {}  # nothing read yet: the account's rate applies
    assert "unreadable (OandaUnavailableError)" in caplog.text
    clock.now += 59
    assert await cache.rates("A", fetch) == {}  # not asked again within the minute
    clock.now += 1
    assert await cache.rates("A", fetch) == {"EUR/USD": D("0.02")}
    clock.now += 3600
    assert await cache.rates("A", fetch) == {"EUR/USD": D("0.02")}  # garbage: the last rates read are kept


def _gateway(instruments: httpx.Response, asked: list[str]) -> OandaGateway:
    summary = load("account_summary")
    positions = load("open_positions")
    refused = {"orderCreateTransaction": {"id": "8", "type": "MARKET_ORDER", "instrument": "EUR_TRY",
                                          "units": "30000", "time": "2026-03-02T15:00:00.000000000Z"},
               "orderCancelTransaction": {"id": "9", "type": "ORDER_CANCEL", "orderID": "8",
                                          "reason": "INSUFFICIENT_MARGIN", "time": "2026-03-02T15:00:00.000000000Z"}}

    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix(f"/v3/accounts/{ACCOUNT}")
        asked.append(path)
        if request.url.path == "/v3/accounts":
            return httpx.Response(200, json={"accounts": [{"id": ACCOUNT, "tags": []}]})
        answers = {"/summary": httpx.Response(200, json=summary), "/instruments": instruments,
                   "/openPositions": httpx.Response(200, json=positions), "/orders": httpx.Response(201, json=refused)}
        return answers[path]

    return OandaGateway("c1", OandaConfig(base_url="http://oanda.test"), transport=httpx.MockTransport(handler))


async def test_the_gateway_reads_the_rates_with_the_account_and_keeps_them() -> None:
    asked: list[str] = []
    gw = _gateway(httpx.Response(200, json=load("account_instruments")), asked)
    await gw.authenticate(ConnectionCredentials(access_token=SecretStr("t")))
    first = await gw.get_account(ACCOUNT)
    again = await gw.get_account(ACCOUNT)
    await gw.close()
    assert first.margin_rates == again.margin_rates == {
        "EUR/USD": D("0.0333"), "USD/JPY": D("0.04"), "EUR/TRY": D("0.1"), "FOREX": D("0.02")}
    assert asked.count("/instruments") == 1 and asked.count("/summary") == 2


async def test_a_margin_refusal_by_oanda_has_the_rates_read_again() -> None:
    asked: list[str] = []
    gw = _gateway(httpx.Response(200, json=load("account_instruments")), asked)
    await gw.authenticate(ConnectionCredentials(access_token=SecretStr("t")))
    await gw.get_account(ACCOUNT)
    order = BrokerOrder(client_order_id="x", symbol="EUR/TRY", side="BUY", quantity=D(30_000), asset_class="FOREX",
                        execution_params={"time_in_force": "FOK"})
    with pytest.raises(OandaInsufficientMarginError):
        await gw.submit_order(order)
    await gw.get_account(ACCOUNT)
    await gw.close()
    assert asked.count("/instruments") == 2  # OANDA may have raised a rate: the cached ones are not trusted


@pytest.mark.parametrize("answer", [httpx.Response(503, json={"errorMessage": "busy"}),
                                    httpx.Response(200, json={"instruments": [instrument(marginRate="-1")]}),
                                    httpx.Response(200, content=b"<html>")])
async def test_an_unreadable_instruments_answer_does_not_fail_the_account_read(
        answer: httpx.Response, caplog: pytest.LogCaptureFixture) -> None:
    gw = _gateway(answer, [])
    await gw.authenticate(ConnectionCredentials(access_token=SecretStr("t")))
    with caplog.at_level(logging.WARNING, logger="brokers.oanda.margin"):
        account = await gw.get_account(ACCOUNT)
    await gw.close()
    assert account.margin_rates == {"FOREX": D("0.02")} and account.margin_available == D("99769.0000")
    assert "the account's margin rate applies" in caplog.text
