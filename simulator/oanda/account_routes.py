"""OANDA v20 account routes: accounts and their summary, positions, transactions (since an id, by time in
pages, by id range), pricing, the instruments the account trades (with their margin rates)."""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from typing import Any

from starlette.requests import Request
from starlette.routing import Route

from simulator.alpaca.auth import Identity
from simulator.core import Account
from simulator.oanda.frontend import OandaError, OandaFrontEnd, endpoint
from simulator.oanda.ledger import USER_ID
from simulator.oanda.margin import REG_T_RATE
from simulator.oanda.routes import checked_account, order_view_of
from simulator.oanda.wire import money, price, ts, units

__all__ = ["account_routes", "summary"]

ZERO = Decimal(0)
Answer = tuple[int, dict[str, Any]]


def _last(front: OandaFrontEnd, account: Account) -> str:
    return front.ledger.last_id(account.id)


def _position_side(account: Account, front: OandaFrontEnd, symbol: str, qty: Decimal) -> dict[str, Any]:
    side: dict[str, Any] = {"units": units(qty), "pl": "0.0000", "resettablePL": "0.0000", "financing": "0.0000",
                            "guaranteedExecutionFees": "0.0000", "unrealizedPL": "0.0000"}
    held = account.positions.get(symbol)
    if qty != 0 and held is not None:
        inst = front.ledger.exchange.state.instruments[symbol]
        side["averagePrice"] = price(held.avg_entry_price, inst.spec.tick)
        side["unrealizedPL"] = money((inst.price - held.avg_entry_price) * qty)
        side["tradeIDs"] = [front.ledger.log(account.id).open_trades.get(symbol, "0")]
    return side


def _position(account: Account, front: OandaFrontEnd, symbol: str) -> dict[str, Any]:
    qty = account.position_qty(symbol)
    long, short = _position_side(account, front, symbol, max(qty, ZERO)), \
        _position_side(account, front, symbol, min(qty, ZERO))
    inst = front.ledger.exchange.state.instruments[symbol]
    margin = abs(qty) * inst.price * front.ledger.margin.effective(account, symbol)
    return {"instrument": symbol, "long": long, "short": short, "pl": "0.0000", "resettablePL": "0.0000",
            "financing": "0.0000", "commission": "0.0000", "guaranteedExecutionFees": "0.0000",
            "unrealizedPL": money(Decimal(long["unrealizedPL"]) + Decimal(short["unrealizedPL"])),
            "marginUsed": money(margin)}


@endpoint
async def positions(request: Request, who: Identity, front: OandaFrontEnd) -> Answer:
    account = checked_account(request, who, front)
    listed = [_position(account, front, s) for s in sorted(account.positions)]
    if request.url.path.endswith("/openPositions"):
        listed = [p for p in listed if p["long"]["units"] != "0" or p["short"]["units"] != "0"]
    return 200, {"positions": listed, "lastTransactionID": _last(front, account)}


def summary(front: OandaFrontEnd, account: Account) -> dict[str, Any]:
    """AccountSummary: NAV is the core's equity; balance excludes the open positions' unrealized P&L; each position
    is margined at its instrument's effective rate (`marginRate` is the account's own)."""
    state = front.ledger.exchange.state
    marks = state.marks()
    rate = account.margin_rate or REG_T_RATE
    nav = account.equity(marks)
    unrealized = sum(((marks[s] - p.avg_entry_price) * p.qty for s, p in account.positions.items()), ZERO)
    value = sum((abs(p.qty) * marks[s] for s, p in account.positions.items()), ZERO)
    used = front.ledger.margin.used(account, marks)
    closeout = used / 2
    pending = [o for o in front.ledger.of_account(account.id) if o.state == "PENDING"]
    return {
        "id": account.number, "alias": f"Simulated {account.id}", "currency": "USD", "balance": money(nav - unrealized),
        "createdByUserID": USER_ID, "createdTime": ts(account.created_at), "guaranteedStopLossOrderMode": "DISABLED",
        "pl": "0.0000", "resettablePL": "0.0000", "resettablePLTime": "0", "financing": "0.0000",
        "commission": money(account.fees_paid), "guaranteedExecutionFees": "0.0000", "marginRate": f"{rate:f}",
        "openTradeCount": len(account.positions), "openPositionCount": len(account.positions),
        "pendingOrderCount": len(pending), "hedgingEnabled": False, "unrealizedPL": money(unrealized),
        "NAV": money(nav), "marginUsed": money(used), "marginAvailable": money(max(nav - used, ZERO)),
        "positionValue": money(value), "marginCloseoutUnrealizedPL": money(unrealized),
        "marginCloseoutNAV": money(nav), "marginCloseoutMarginUsed": money(used),
        "marginCloseoutPercent": f"{(closeout / nav if nav > 0 else ZERO).quantize(Decimal('0.00001')):f}",
        "marginCloseoutPositionValue": money(value), "withdrawalLimit": money(max(nav - used, ZERO)),
        "marginCallMarginUsed": money(used),
        "marginCallPercent": f"{(used / nav if nav > 0 else ZERO).quantize(Decimal('0.00001')):f}",
        "lastTransactionID": front.ledger.last_id(account.id),
    }


@endpoint
async def list_accounts(request: Request, who: Identity, front: OandaFrontEnd) -> Answer:
    account = front.sim.exchange.state.accounts[who.account_id]
    return 200, {"accounts": [{"id": account.number, "tags": []}]}


@endpoint
async def account_summary(request: Request, who: Identity, front: OandaFrontEnd) -> Answer:
    account = checked_account(request, who, front)
    return 200, {"account": summary(front, account), "lastTransactionID": _last(front, account)}


@endpoint
async def account_details(request: Request, who: Identity, front: OandaFrontEnd) -> Answer:
    account = checked_account(request, who, front)
    body = summary(front, account)
    body["orders"] = [order_view_of(front, o) for o in front.ledger.of_account(account.id) if o.state == "PENDING"]
    body["positions"] = [_position(account, front, s) for s in sorted(account.positions)]
    body["trades"] = []
    return 200, {"account": body, "lastTransactionID": _last(front, account)}


@endpoint
async def transactions_since(request: Request, who: Identity, front: OandaFrontEnd) -> Answer:
    account = checked_account(request, who, front)
    raw = request.query_params.get("id", "")
    if not raw.isdigit():
        raise OandaError(400, "Invalid value specified for 'id'", "INVALID_PARAMETER")
    found = front.ledger.since(account.id, int(raw))[:1000]
    return 200, {"transactions": found, "lastTransactionID": _last(front, account)}


@endpoint
async def get_transaction(request: Request, who: Identity, front: OandaFrontEnd) -> Answer:
    account = checked_account(request, who, front)
    wanted = request.path_params["transaction_id"]
    found = next((t for t in front.ledger.since(account.id, 0) if t["id"] == wanted), None)
    if found is None:
        raise OandaError(404, "The Transaction specified does not exist", "TRANSACTION_DOESNT_EXIST")
    return 200, {"transaction": found, "lastTransactionID": _last(front, account)}


def _types(request: Request) -> set[str]:
    return {t for t in request.query_params.get("type", "").split(",") if t}


@endpoint
async def transaction_pages(request: Request, who: Identity, front: OandaFrontEnd) -> Answer:
    """GET …/transactions?from=&to=&pageSize=&type=: the id ranges (as idrange URLs) of a time span."""
    account = checked_account(request, who, front)
    query = request.query_params
    try:
        start = parse_time(query.get("from")) if query.get("from") else None
        end = parse_time(query.get("to")) if query.get("to") else None
        size = min(max(int(query.get("pageSize", "100")), 1), 1000)
    except ValueError:
        raise OandaError(400, "Invalid value specified for 'from', 'to' or 'pageSize'", "INVALID_PARAMETER") from None
    types = _types(request)
    found = [t for t in front.ledger.since(account.id, 0)
             if (start is None or parse_time(t["time"]) >= start) and (end is None or parse_time(t["time"]) <= end)
             and (not types or t["type"] in types)]
    base = f"{request.url.scheme}://{request.url.netloc}/v3/accounts/{account.number}/transactions/idrange"
    kinds = f"&type={','.join(sorted(types))}" if types else ""
    pages = [f"{base}?from={chunk[0]['id']}&to={chunk[-1]['id']}{kinds}"
             for chunk in (found[i:i + size] for i in range(0, len(found), size))]
    return 200, {"from": query.get("from"), "to": query.get("to"), "pageSize": size, "type": sorted(types),
                 "count": len(found), "pages": pages, "lastTransactionID": _last(front, account)}


@endpoint
async def transaction_range(request: Request, who: Identity, front: OandaFrontEnd) -> Answer:
    account = checked_account(request, who, front)
    low, high = request.query_params.get("from", ""), request.query_params.get("to", "")
    if not (low.isdigit() and high.isdigit()):
        raise OandaError(400, "Invalid value specified for 'from' or 'to'", "INVALID_PARAMETER")
    types = _types(request)
    found = [t for t in front.ledger.since(account.id, int(low) - 1)
             if int(t["id"]) <= int(high) and (not types or t["type"] in types)]
    return 200, {"transactions": found, "lastTransactionID": _last(front, account)}


@endpoint
async def pricing(request: Request, who: Identity, front: OandaFrontEnd) -> Answer:
    """GET …/pricing?instruments=EUR_USD,USD_JPY: the current bid and ask of each."""
    account = checked_account(request, who, front)
    state = front.ledger.exchange.state
    prices = []
    for name in [n for n in request.query_params.get("instruments", "").split(",") if n]:
        inst = state.instruments.get(name)
        if inst is None or inst.spec.asset_class != "forex":
            raise OandaError(400, f"Invalid value specified for 'instruments': {name}", "INVALID_INSTRUMENT")
        tick = inst.spec.tick
        prices.append({"type": "PRICE", "instrument": name, "time": ts(state.now()), "tradeable": True,
                       "bids": [{"price": price(inst.bid, tick), "liquidity": 10000000}],
                       "asks": [{"price": price(inst.ask, tick), "liquidity": 10000000}],
                       "closeoutBid": price(inst.bid, tick), "closeoutAsk": price(inst.ask, tick)})
    return 200, {"prices": prices, "time": ts(state.now()), "lastTransactionID": _last(front, account)}


def _instrument(front: OandaFrontEnd, name: str, tick: Decimal | None) -> dict[str, Any]:
    """An Instrument: a currency pair, whole units, its pip and precision from its tick, its margin rate."""
    step = tick or Decimal("0.00001")
    places = len(f"{step:f}".partition(".")[2])
    return {"name": name, "type": "CURRENCY", "displayName": name.replace("_", "/"), "pipLocation": 1 - places,
            "displayPrecision": places, "tradeUnitsPrecision": 0, "minimumTradeSize": "1",
            "maximumTrailingStopDistance": price(step * 100000, step),
            "minimumTrailingStopDistance": price(step * 50, step), "maximumPositionSize": "0",
            "maximumOrderUnits": "100000000", "marginRate": f"{front.ledger.margin.of_instrument(name):f}",
            "guaranteedStopLossOrderMode": "DISABLED", "tags": [{"type": "ASSET_CLASS", "name": "CURRENCY"}]}


@endpoint
async def instruments(request: Request, who: Identity, front: OandaFrontEnd) -> Answer:
    """GET …/instruments[?instruments=EUR_USD,USD_JPY]: the pairs the account trades, each with its marginRate."""
    account = checked_account(request, who, front)
    state = front.ledger.exchange.state
    pairs = {s: i for s, i in sorted(state.instruments.items()) if i.spec.asset_class == "forex"}
    wanted = [n for n in request.query_params.get("instruments", "").split(",") if n] or list(pairs)
    for name in wanted:
        if name not in pairs:
            raise OandaError(400, f"Invalid value specified for 'instruments': {name}", "INVALID_INSTRUMENT")
    listed = [_instrument(front, name, pairs[name].spec.tick) for name in dict.fromkeys(wanted)]
    return 200, {"instruments": listed, "lastTransactionID": _last(front, account)}


def parse_time(value: str | None) -> datetime:
    """An RFC 3339 time (nanoseconds cut to microseconds), aware."""
    text = re.sub(r"(\.\d{6})\d+", r"\1", value or "")
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError("time without offset")
    return moment


def account_routes() -> list[Route]:
    base = "/v3/accounts/{account_id}"
    return [
        Route("/v3/accounts", list_accounts, methods=["GET"]),
        Route(base, account_details, methods=["GET"]),
        Route(f"{base}/summary", account_summary, methods=["GET"]),
        Route(f"{base}/positions", positions, methods=["GET"]),
        Route(f"{base}/openPositions", positions, methods=["GET"]),
        Route(f"{base}/transactions/sinceid", transactions_since, methods=["GET"]),
        Route(f"{base}/transactions/idrange", transaction_range, methods=["GET"]),
        Route(f"{base}/transactions", transaction_pages, methods=["GET"]),
        Route(f"{base}/transactions/{{transaction_id:int}}", get_transaction, methods=["GET"]),
        Route(f"{base}/pricing", pricing, methods=["GET"]),
        Route(f"{base}/instruments", instruments, methods=["GET"]),
    ]
