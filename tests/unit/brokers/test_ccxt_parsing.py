"""The ccxt adapter's pure parts: unified orders and trades to domain reports, orders to create_order
arguments, market rules refused before sending, balances as a cash account, ccxt exceptions to ours."""

from __future__ import annotations

import json
import socket
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import ccxt.async_support as ccxt
import pytest

from brokers.ccxt import CcxtConfig, credentials_from_env
from brokers.ccxt.client import MarketRules
from brokers.ccxt.config import rehosted
from brokers.ccxt.errors import (
    CcxtAmbiguousOutcomeError,
    CcxtAuthenticationError,
    CcxtDuplicateOrderError,
    CcxtInsufficientFundsError,
    CcxtOrderNotFoundError,
    CcxtRateLimitedError,
    CcxtRejectedError,
    CcxtUnavailableError,
    CcxtUnsupportedOrderError,
    error_for,
)
from brokers.ccxt.parsing import (
    broker_account,
    check_rules,
    check_supported,
    create_order_args,
    execution_report,
    order_snapshot,
    split_broker_order_id,
)
from domain.broker_integration import AmbiguousOutcomeError, BrokerOrder, OrderStatus

WIRE: dict[str, Any] = json.loads((Path(__file__).parents[2] / "resources/ccxt/binance_unified.json").read_text())
RULES = MarketRules(WIRE["market"], ccxt.TICK_SIZE)


def crypto(**fields: Any) -> BrokerOrder:
    data: dict[str, Any] = {"client_order_id": "bf-1", "symbol": "BTC/USDT", "side": "BUY", "quantity": "0.015",
                            "asset_class": "CRYPTO", "execution_params": {"time_in_force": "GTC"}}
    return BrokerOrder(**(data | fields))


def test_orders_become_snapshots_without_float_noise() -> None:
    filled = order_snapshot(WIRE["market_order"])
    assert (filled.broker_order_id, filled.client_order_id, filled.status) == ("1001@BTC/USDT", "bf-market-1",
                                                                             OrderStatus.FILLED)
    assert (filled.quantity, filled.filled_quantity, filled.filled_avg_price) == (
        Decimal("0.015"), Decimal("0.015"), Decimal("60000.01"))
    assert filled.limit_price is None and filled.submitted_at == datetime(2026, 3, 2, 15, tzinfo=UTC)
    resting = order_snapshot(WIRE["resting_limit"])
    assert (resting.status, resting.limit_price, resting.filled_avg_price) == (OrderStatus.ACCEPTED,
                                                                             Decimal("50000"), None)
    stop = order_snapshot(WIRE["partly_filled_stop_limit"])
    assert (stop.status, stop.stop_price, stop.limit_price) == (OrderStatus.PARTIALLY_FILLED, Decimal("58500"),
                                                                Decimal("58000"))
    assert order_snapshot(WIRE["canceled_after_partial"]).status is OrderStatus.CANCELED
    assert split_broker_order_id("1001@BTC/USDT") == ("1001", "BTC/USDT")
    with pytest.raises(CcxtOrderNotFoundError):
        split_broker_order_id("1001")


def test_trades_become_executions_with_the_fee_in_the_quote_currency() -> None:
    report = execution_report(WIRE["trade"], "bf-market-1", "conn", Decimal("0.015"), RULES)
    assert (report.execution_id, report.broker_order_id, report.side) == ("56@BTC/USDT", "1001@BTC/USDT", "BUY")
    assert (report.quantity, report.price, report.cumulative_quantity) == (Decimal("0.015"), Decimal("60000.01"),
                                                                         Decimal("0.015"))
    assert report.commission == Decimal("0.000015") * Decimal("60000.01") and report.liquidity == "TAKER"


def test_orders_become_create_order_arguments() -> None:
    market = create_order_args(crypto(), "binance")
    assert market == {"symbol": "BTC/USDT", "type": "market", "side": "buy", "amount": 0.015, "price": None,
                      "params": {"clientOrderId": "bf-1", "newOrderRespType": "FULL"}}
    stop = create_order_args(crypto(order_type="STOP_LIMIT", price="58000", stop_price="58500", side="SELL",
                                    execution_params={"time_in_force": "IOC"}), "binance")
    assert (stop["type"], stop["price"], stop["params"]["triggerPrice"], stop["params"]["timeInForce"]) == (
        "limit", 58000.0, "58500", "IOC")


@pytest.mark.parametrize(("fields", "reason"), [
    ({"asset_class": "EQUITY"}, "crypto spot only"),
    ({"side": "SELL_SHORT"}, "no short selling"),
    ({"order_type": "STOP", "stop_price": "1"}, "STOP orders"),
    ({"execution_params": {"time_in_force": "DAY"}}, "time in force DAY"),
    ({"order_type": "MARKET", "execution_params": {"time_in_force": "IOC"}}, "market order"),
    ({"client_order_id": "x" * 37}, "client order id"),
])
def test_what_the_adapter_cannot_send_is_refused(fields: dict[str, Any], reason: str) -> None:
    with pytest.raises(CcxtUnsupportedOrderError, match=reason):
        check_supported(crypto(**fields), "binance")


@pytest.mark.parametrize(("fields", "reference", "reason"), [
    ({"quantity": "0.000001"}, Decimal("60000"), "finer than BTC/USDT's amount step 0.00001"),
    ({"quantity": "0.0150001"}, Decimal("60000"), "finer than"),
    ({"quantity": "10000"}, Decimal("60000"), "above"),
    ({"quantity": "0.00005"}, Decimal("60000"), "cost 3.00000 is below BTC/USDT's minimum 5.0"),
    ({"order_type": "LIMIT", "price": "60000.005"}, None, "not a multiple of BTC/USDT's tick 0.01"),
])
def test_market_rules_are_checked_before_sending(fields: dict[str, Any], reference: Decimal | None,
                                                 reason: str) -> None:
    with pytest.raises(CcxtUnsupportedOrderError, match=reason):
        check_rules(crypto(**fields), RULES, reference)
    check_rules(crypto(quantity="0.015"), RULES, Decimal("60000"))


def test_balances_are_a_cash_account_in_the_quote_currency() -> None:
    account = broker_account(WIRE["balance"], {"BTC/USDT": Decimal("60000")}, "binance-720786578", "conn", "USDT")
    assert (account.currency, account.account_type, account.shorting_enabled) == ("USDT", "CASH", False)
    assert (account.cash, account.buying_power) == (Decimal("999099.99985"), Decimal("998599.99985"))
    assert account.positions["BTC/USDT"].quantity == Decimal("2.015") and "ETH/USDT" not in account.positions
    assert account.equity == Decimal("999099.99985") + Decimal("2.015") * 60000


def _sent_then_lost() -> ccxt.NetworkError:
    try:
        raise ccxt.ExchangeNotAvailable("binance POST http://h/api/v3/order") from aiohttp.ServerDisconnectedError()
    except ccxt.ExchangeNotAvailable as exc:
        return exc


def _never_sent() -> ccxt.NetworkError:
    try:
        raise ccxt.ExchangeNotAvailable("binance POST http://h/api/v3/order") from socket.gaierror()
    except ccxt.ExchangeNotAvailable as exc:
        return exc


@pytest.mark.parametrize(("exc", "write", "expected", "retryable"), [
    (ccxt.InvalidOrder('binance {"code": -2010, "msg": "Duplicate order sent."}'), True, CcxtDuplicateOrderError,
     False),
    (ccxt.OrderNotFound('binance {"code": -2013, "msg": "Order does not exist."}'), False, CcxtOrderNotFoundError,
     False),
    (ccxt.InsufficientFunds("binance insufficient"), True, CcxtInsufficientFundsError, False),
    (ccxt.AuthenticationError('binance {"code": -1022}'), False, CcxtAuthenticationError, True),
    (ccxt.DDoSProtection("binance 429"), False, CcxtRateLimitedError, True),
    (ccxt.InvalidNonce('binance {"code": -1021}'), True, CcxtUnavailableError, True),
    (ccxt.RequestTimeout("binance POST"), True, CcxtAmbiguousOutcomeError, False),
    (ccxt.RequestTimeout("binance GET"), False, CcxtUnavailableError, True),
    (ccxt.OperationFailed('binance {"code": -1001}'), True, CcxtAmbiguousOutcomeError, False),
    (_sent_then_lost(), True, CcxtAmbiguousOutcomeError, False),
    (_never_sent(), True, CcxtUnavailableError, True),
    (ccxt.BadRequest('binance {"code": -1013, "msg": "Filter failure: LOT_SIZE"}'), True, CcxtRejectedError, False),
])
def test_ccxt_exceptions_map_onto_the_domain_errors(exc: ccxt.BaseError, write: bool, expected: type,
                                                   retryable: bool) -> None:
    mapped = error_for(exc, "call", write=write)
    assert type(mapped) is expected and mapped.is_retryable() is retryable
    assert isinstance(mapped, AmbiguousOutcomeError) is (expected is CcxtAmbiguousOutcomeError)


def test_messages_drop_signed_query_strings() -> None:
    exc = ccxt.BadRequest('binance GET http://h/api/v3/order?symbol=BTCUSDT&signature=abc123 {"code": -1102}')
    mapped = error_for(exc, "fetch_order BTC/USDT")
    assert "abc123" not in str(mapped) and mapped.code == "-1102"


def test_config_points_spot_at_a_base_url_and_keeps_loading_to_spot() -> None:
    params = CcxtConfig(base_url="http://127.0.0.1:9/").exchange_params("k", "s")
    assert params["urls"] == {"api": {"public": "http://127.0.0.1:9/api/v3", "private": "http://127.0.0.1:9/api/v3"}}
    assert params["options"]["fetchMarkets"] == {"types": ["spot"]} and params["options"]["fetchCurrencies"] is False
    assert CcxtConfig().use_sandbox and not CcxtConfig(base_url="http://x").use_sandbox
    moved = rehosted({"sapi": "https://api.binance.com/sapi/v1", "ws": {"spot": "wss://stream.binance.com/ws"}},
                     "http://127.0.0.1:9")
    assert moved == {"sapi": "http://127.0.0.1:9/sapi/v1", "ws": {"spot": "http://127.0.0.1:9/ws"}}
    assert credentials_from_env({"CCXT_API_KEY": "k"}) is None
    found = credentials_from_env({"CCXT_API_KEY": "k", "CCXT_API_SECRET": "the-secret"})
    assert found is not None and found.api_key == "k" and "the-secret" not in repr(found)
