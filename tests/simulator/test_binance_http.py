"""The Binance spot front end through the real ccxt `binance` class (and raw signed requests): exchange info
and filters, HMAC signatures and recvWindow, Binance's error codes, orders, trades, balances and faults."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import ccxt.async_support as ccxt
import httpx
import pytest
import pytest_asyncio

from simulator.testing import SimulatorHandle

KEY, SECRET = "BINANCEKEY", "BINANCESECRET"
SPOT_ONLY = {"fetchMarkets": {"types": ["spot"]}, "fetchCurrencies": False, "fetchMargins": False}


def exchange(sim: SimulatorHandle, secret: str = SECRET, **options: Any) -> Any:
    url = f"{sim.base_url}/api/v3"
    return ccxt.binance({"apiKey": KEY, "secret": secret, "urls": {"api": {"public": url, "private": url}},
                         "options": {**SPOT_ONLY, **options}})


@pytest_asyncio.fixture
async def binance(sim: SimulatorHandle) -> AsyncIterator[Any]:
    client = exchange(sim)
    yield client
    await client.close()


@pytest_asyncio.fixture
async def raw(sim: SimulatorHandle) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=sim.base_url, headers={"X-MBX-APIKEY": KEY}, timeout=10) as http:
        yield http


def signed(params: dict[str, Any], secret: str = SECRET, **stamp: Any) -> str:
    """A query string signed as Binance specifies: HMAC-SHA256 of the parameters, hex, appended last."""
    query = urlencode({**params, "timestamp": stamp.get("timestamp", int(time.time() * 1000)),
                       **{k: v for k, v in stamp.items() if k != "timestamp"}})
    return query + "&signature=" + hmac.new(secret.encode(), query.encode(), hashlib.sha256).hexdigest()


async def post_order(raw: httpx.AsyncClient, **params: Any) -> httpx.Response:
    body = signed({"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", **params})
    return await raw.post("/api/v3/order", content=body,
                          headers={"Content-Type": "application/x-www-form-urlencoded"})


async def test_markets_carry_binance_filters(binance: Any, raw: httpx.AsyncClient) -> None:
    markets = await binance.load_markets()
    assert {"BTC/USDT", "ETH/USDT"} <= set(markets) and "AAPL" not in str(list(markets))
    btc = markets["BTC/USDT"]
    assert (btc["id"], btc["base"], btc["quote"], btc["spot"]) == ("BTCUSDT", "BTC", "USDT", True)
    assert (btc["precision"]["amount"], btc["precision"]["price"]) == (0.00001, 0.01)
    assert (btc["limits"]["amount"]["min"], btc["limits"]["cost"]["min"]) == (0.00001, 5.0)
    assert abs(await binance.fetch_time() - time.time() * 1000) < 5000
    assert (await raw.get("/api/v3/ping")).json() == {}
    ticker = await binance.fetch_ticker("BTC/USDT")
    assert (ticker["last"], ticker["bid"], ticker["ask"]) == (60000.0, 59999.99, 60000.01)
    book = await binance.fetch_order_book("BTC/USDT")
    assert (book["bids"][0][0], book["asks"][0][0]) == (59999.99, 60000.01)


async def test_signatures_keys_and_recv_window_are_checked(sim: SimulatorHandle, raw: httpx.AsyncClient) -> None:
    wrong = exchange(sim, secret="not-the-secret")
    try:
        with pytest.raises(ccxt.AuthenticationError, match="-1022"):
            await wrong.fetch_balance()
    finally:
        await wrong.close()
    good = signed({"omitZeroBalances": "true"})
    assert (await raw.get(f"/api/v3/account?{good}")).status_code == 200
    tampered = good.replace("omitZeroBalances=true", "omitZeroBalances=false")
    answer = await raw.get(f"/api/v3/account?{tampered}")
    assert (answer.status_code, answer.json()) == (400, {"code": -1022,
                                                         "msg": "Signature for this request is not valid."})
    unsigned = await raw.get(f"/api/v3/account?timestamp={int(time.time() * 1000)}")
    assert unsigned.json()["code"] == -1102 and "signature" in unsigned.json()["msg"]
    unknown = await raw.get(f"/api/v3/account?{good}", headers={"X-MBX-APIKEY": "nobody"})
    assert (unknown.status_code, unknown.json()["code"]) == (401, -2015)
    async with httpx.AsyncClient(base_url=sim.base_url) as keyless:
        assert (await keyless.get(f"/api/v3/account?{good}")).json()["code"] == -2014
    earlier, later = int(time.time() * 1000) - 20_000, int(time.time() * 1000) + 5_000
    stale = await raw.get(f"/api/v3/account?{signed({}, timestamp=earlier)}")
    assert stale.json() == {"code": -1021, "msg": "Timestamp for this request is outside of the recvWindow."}
    widened = await raw.get(f"/api/v3/account?{signed({}, timestamp=earlier, recvWindow=30_000)}")
    assert widened.status_code == 200
    ahead = await raw.get(f"/api/v3/account?{signed({}, timestamp=later)}")
    assert ahead.json()["code"] == -1021
    too_wide = await raw.get(f"/api/v3/account?{signed({}, recvWindow=70_000)}")
    assert too_wide.json()["code"] == -1131


async def test_filters_refuse_what_binance_refuses(raw: httpx.AsyncClient, sim: SimulatorHandle) -> None:
    cases = [
        ({"quantity": "0.000015"}, -1013, "Filter failure: LOT_SIZE"),
        ({"quantity": "0.000001"}, -1013, "Filter failure: LOT_SIZE"),
        ({"quantity": "0.00001"}, -1013, "Filter failure: NOTIONAL"),
        ({"quantity": "0.000000001"}, -1111, "Parameter 'quantity' has too much precision."),
        ({"quantity": "0.01", "type": "LIMIT", "timeInForce": "GTC", "price": "60000.001"}, -1013,
         "Filter failure: PRICE_FILTER"),
        ({"quantity": "0.01", "type": "LIMIT", "timeInForce": "GTC", "price": "59000.5"}, None, None),
        ({"quantity": "0.01", "type": "LIMIT", "price": "59000"}, -1102, None),
        ({"quantity": "0.01", "timeInForce": "GTC"}, -1106, None),
        ({"quantity": "0.01", "type": "TRAILING_STOP"}, -1116, "Invalid orderType."),
        ({"quantity": "0.01", "symbol": "AAPL"}, -1121, "Invalid symbol."),
        ({"quantity": "0.01", "newClientOrderId": "has~tilde"}, -1100, None),
        ({"quantity": "100"}, -2010, "Account has insufficient balance for requested action."),
        ({"quantity": "3", "side": "SELL"}, -2010, "Account has insufficient balance for requested action."),
    ]
    for params, code, msg in cases:
        answer = await post_order(raw, **params)
        if code is None:
            assert answer.status_code == 200, (params, answer.text)
            continue
        assert answer.status_code == 400 and answer.json()["code"] == code, (params, answer.text)
        assert msg is None or answer.json()["msg"] == msg
    tick = await post_order(raw, quantity="0.01", type="LIMIT", timeInForce="GTC", price="59000.05000001")
    assert tick.json() == {"code": -1013, "msg": "Filter failure: PRICE_FILTER"}
    view = await sim.admin.orders()
    assert len([s for subs in view["submissions"].values() for s in subs if s["http_status"] == 200]) == 1


async def test_market_buy_fills_with_fills_and_trades(binance: Any) -> None:
    order = await binance.create_order("BTC/USDT", "market", "buy", 0.015,
                                       params={"newClientOrderId": "bn-market-1"})
    info = order["info"]
    assert (info["status"], info["executedQty"], info["origQty"]) == ("FILLED", "0.01500000", "0.01500000")
    assert info["fills"] == [{"price": "60000.01000000", "qty": "0.01500000", "commission": "0.00000000",
                              "commissionAsset": "BTC", "tradeId": info["fills"][0]["tradeId"]}]
    assert (order["status"], order["clientOrderId"], order["filled"]) == ("closed", "bn-market-1", 0.015)
    by_client = await binance.fetch_order("", "BTC/USDT", {"origClientOrderId": "bn-market-1"})
    assert by_client["id"] == order["id"] and by_client["info"]["cummulativeQuoteQty"] == "900.00015000"
    trades = await binance.fetch_my_trades("BTC/USDT")
    assert [(t["order"], t["amount"], t["price"], t["side"]) for t in trades] == [
        (order["id"], 0.015, 60000.01, "buy")]
    balance = await binance.fetch_balance()
    assert balance["BTC"]["total"] == 2.015 and balance["USDT"]["free"] == 1000000 - 900.00015


async def test_orders_cancel_duplicates_and_unknown_orders(binance: Any) -> None:
    placed = await binance.create_order("BTC/USDT", "limit", "buy", 0.01, 50000, params={"clientOrderId": "bn-lim-1"})
    assert placed["status"] == "open" and placed["info"]["status"] == "NEW"
    assert [o["id"] for o in await binance.fetch_open_orders("BTC/USDT")] == [placed["id"]]
    balance = await binance.fetch_balance()
    assert balance["USDT"]["used"] == 500.0  # 0.01 x 50000 locked by the open buy
    with pytest.raises(ccxt.InvalidOrder, match="Duplicate order sent"):
        await binance.create_order("BTC/USDT", "limit", "buy", 0.01, 50000, params={"clientOrderId": "bn-lim-1"})
    canceled = await binance.cancel_order(placed["id"], "BTC/USDT")
    assert canceled["status"] == "canceled" and canceled["info"]["origClientOrderId"] == "bn-lim-1"
    with pytest.raises(ccxt.OrderNotFound, match="-2011"):
        await binance.cancel_order(placed["id"], "BTC/USDT")
    with pytest.raises(ccxt.OrderNotFound, match="-2013"):
        await binance.fetch_order("999999", "BTC/USDT")
    assert await binance.fetch_open_orders("BTC/USDT") == []
    history = await binance.fetch_orders("BTC/USDT")
    assert [o["status"] for o in history] == ["canceled"]


async def test_ioc_remainder_expires_and_stop_limits_wait(binance: Any, sim: SimulatorHandle) -> None:
    await sim.admin.set_liquidity("BTCUSDT", "0.004")
    ioc = await binance.create_order("BTC/USDT", "limit", "buy", 0.01, 60001, params={"timeInForce": "IOC"})
    assert (ioc["info"]["status"], ioc["filled"]) == ("EXPIRED", 0.004)
    stop = await binance.create_order("BTC/USDT", "limit", "sell", 0.5, 58000, params={"triggerPrice": 58500})
    assert stop["info"]["type"] == "STOP_LOSS_LIMIT" and stop["info"]["status"] == "NEW"
    assert (await binance.fetch_balance())["BTC"]["used"] == 0.5
    with pytest.raises(ccxt.InvalidOrder, match="Stop price would trigger immediately"):
        await binance.create_order("BTC/USDT", "limit", "sell", 0.5, 61000, params={"triggerPrice": 61500})


async def test_my_trades_page_from_a_trade_id(binance: Any, sim: SimulatorHandle) -> None:
    await sim.admin.set_liquidity("BTCUSDT", "0.004")
    order = await binance.create_order("BTC/USDT", "market", "buy", 0.01)
    for _ in range(3):
        await sim.admin.advance(1)
    trades = await binance.fetch_my_trades("BTC/USDT")
    assert [t["amount"] for t in trades] == [0.004, 0.004, 0.002] and {t["order"] for t in trades} == {order["id"]}
    later = await binance.fetch_my_trades("BTC/USDT", None, None, {"fromId": int(trades[1]["id"])})
    assert [t["id"] for t in later] == [t["id"] for t in trades[1:]]
    assert (await binance.fetch_order(order["id"], "BTC/USDT"))["status"] == "closed"


async def test_faults_answer_like_binance(binance: Any, sim: SimulatorHandle) -> None:
    await binance.load_markets()
    await sim.admin.set_faults(drop_responses=1, drop_mode="close", drop_match="POST /api/v3/order")
    with pytest.raises(ccxt.NetworkError):
        await binance.create_order("BTC/USDT", "market", "buy", 0.001, params={"clientOrderId": "bn-drop-1"})
    found = await binance.fetch_order("", "BTC/USDT", {"clientOrderId": "bn-drop-1"})
    assert found["status"] == "closed" and Decimal(found["info"]["executedQty"]) == Decimal("0.001")
    await sim.admin.set_faults(error_rate=1.0, error_status=503, error_match="GET /api/v3/account")
    with pytest.raises(ccxt.OperationFailed, match="-1001"):
        await binance.fetch_balance()
    await sim.admin.set_faults(error_rate=0, burst_429=1)
    with pytest.raises(ccxt.DDoSProtection, match="-1003"):  # ccxt: HTTP 429 is DDoSProtection
        await binance.fetch_balance()
    assert (await binance.fetch_balance())["BTC"]["total"] == 2.001
    await sim.admin.set_faults(ack_delay_ms=300)
    started = time.monotonic()
    await binance.create_order("BTC/USDT", "market", "buy", 0.001)
    assert time.monotonic() - started >= 0.3  # a slow acknowledgement, like the other brokers' order entry
