"""Accounts for people and other services: figures (ours beside the broker's), positions, fees, sync.

The seed's `BrokerAccount` is the entity; this module is the read side that the CLI and services use.
Account numbers are shown masked; account ids are the broker's opaque ids.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from activities.calendar import market_date
from brokers.registry import GatewayRegistry
from domain.broker_integration import AccountType, BrokerAccount, FeeKind, NotFoundError
from domain.broker_integration.ports import account_snapshots
from domain.broker_integration.repositories import LedgerSync
from domain.broker_integration.rules.buying_power import Reservation, reserved_totals
from domain.broker_integration.rules.fees import compare_fees, estimate_fees, schedule_for
from domain.broker_integration.rules.margin import compute_figures
from persistence import Repositories

__all__ = ["AccountView", "account_fees", "account_view", "find_account", "list_accounts", "sync_connection"]

ZERO = Decimal("0")


@dataclass(frozen=True)
class AccountView:
    """An account with our figures beside the broker's, and what orders in flight hold."""

    account: BrokerAccount
    reservations: Sequence[Reservation]
    today: date

    def record(self) -> dict[str, Any]:
        acc = self.account
        ours = compute_figures(acc, self.today)
        held = reserved_totals(self.reservations, "")
        return {
            "account_id": acc.account_id, "connection_id": acc.connection_id, "account_number": acc.masked_number,
            "account_type": str(acc.account_type), "currency": acc.currency, "cash": acc.cash,
            "settled_cash": ours.settled_cash, "equity": ours.equity,
            "long_market_value": ours.long_market_value, "short_market_value": ours.short_market_value,
            "buying_power": ours.buying_power, "broker_buying_power": acc.buying_power,
            "reserved": held.buying_power, "available": ours.buying_power - held.buying_power,
            "orders_in_flight": held.orders, "initial_margin": ours.initial_margin,
            "maintenance_margin": ours.maintenance_margin, "margin_call": ours.margin_call,
            "multiplier": ours.multiplier, "pattern_day_trader": acc.pattern_day_trader,
            "day_trade_count": acc.day_trade_count, "allow_unsettled_funds": acc.allow_unsettled_funds,
            "realized_pnl": acc.realized_pnl,
            "unrealized_pnl": sum((p.unrealized_pnl for p in acc.positions.values()), ZERO),
            "positions": len(acc.positions),
            "pending_settlements": [s.model_dump(mode="json") for s in acc.pending_settlements],
            "good_faith_violations": [v.model_dump(mode="json") for v in acc.good_faith_violations],
            "updated_at": acc.updated_at,
        }


async def list_accounts(repos: Repositories, connection_id: str | None = None) -> list[BrokerAccount]:
    """Stored accounts, of one connection or of all."""
    connections = [connection_id] if connection_id else [c.connection_id for c in await repos.connections.list()]
    accounts: list[BrokerAccount] = []
    for cid in connections:
        accounts.extend(await repos.accounts.list_for_connection(cid))
    return accounts


async def find_account(repos: Repositories, key: str) -> BrokerAccount:
    """An account by its id or its full account number; NotFoundError otherwise."""
    found = await repos.accounts.get(key)
    if found is not None:
        return found
    for account in await list_accounts(repos):
        if account.account_number == key:
            return account
    raise NotFoundError(f"no account {key!r} (see `brokerflow account list`)")


async def account_view(repos: Repositories, account: BrokerAccount, now: datetime) -> AccountView:
    held = await repos.ledger.reservations(account.account_id) if repos.ledger else []
    return AccountView(account=account, reservations=held, today=market_date(now))


async def sync_connection(repos: Repositories, registry: GatewayRegistry, connection_id: str,
                          now: datetime) -> list[LedgerSync]:
    """Discover the connection's accounts at the broker now and merge them into the ledger."""
    connection = await repos.connections.get(connection_id)
    if connection is None:
        raise NotFoundError(f"no connection {connection_id!r}")
    if repos.ledger is None:
        raise NotFoundError("account sync needs the PostgreSQL repositories")
    gateway = registry.gateway_for(connection)
    return [await repos.ledger.sync(snapshot, market_date(now)) for snapshot in await account_snapshots(gateway)]


async def set_account(repos: Repositories, account: BrokerAccount, account_type: AccountType | None,
                      allow_unsettled_funds: bool | None) -> BrokerAccount:
    """Settings brokers do not report: the retirement type, limited margin (spending unsettled proceeds).
    Changed under the account's lock, so a fill booked at the same moment is kept."""
    if repos.ledger is None:
        raise NotFoundError("account settings need the PostgreSQL repositories")
    updated = await repos.ledger.update_settings(account.account_id, account_type, allow_unsettled_funds)
    if updated is None:
        raise NotFoundError(f"no account {account.account_id!r}")
    return updated


async def account_fees(repos: Repositories, account: BrokerAccount, day: date | None = None) -> dict[str, Any]:
    """Per order: our pre-trade estimate, the estimate for what executed, what the broker charged; totals."""
    if repos.ledger is None or repos.fees is None:
        raise NotFoundError("fee reports need the PostgreSQL repositories")
    connection = await repos.connections.get(account.connection_id)
    broker = connection.broker if connection else "unknown"
    estimates = await repos.ledger.estimated_fees(
        [r.client_order_id for r in await repos.ledger.reservations(account.account_id, held_only=False)])
    orders: list[dict[str, Any]] = []
    by_day: dict[str, Decimal] = {}
    for client_order_id, pre_trade in estimates.items():
        order = await repos.orders.get(client_order_id)
        if order is None:
            continue
        order_day = market_date(order.created_at)
        if day is not None and order_day != day:
            continue
        executions = await repos.executions.list_for_order(client_order_id)
        charged = await repos.fees.list_for_order(client_order_id)
        schedule = schedule_for(broker, order.order.asset_class)
        expected = [estimate_fees(schedule, e.side, e.quantity, e.price, order.order.asset_class) for e in executions]
        commission = sum((e.commission for e in executions), ZERO)
        charged_kinds = [(f.kind, f.amount) for f in charged]
        if commission:
            charged_kinds.append((FeeKind.COMMISSION, commission))
        total_expected = sum((x.total for x in expected), ZERO)
        total_charged = sum((amount for _, amount in charged_kinds), ZERO)
        combined = sum(expected[1:], start=expected[0]) if expected else None
        differences = compare_fees(combined, charged_kinds) if combined is not None and order.is_terminal else []
        orders.append({
            "client_order_id": client_order_id, "day": order_day.isoformat(), "side": str(order.order.side),
            "symbol": order.order.symbol, "filled_qty": order.filled_quantity, "status": str(order.status),
            "estimated_pre_trade": pre_trade, "estimated_executed": total_expected, "charged": total_charged,
            "flag": "; ".join(f"{d.kind} est {d.estimated} charged {d.charged}" for d in differences) or None,
        })
        by_day[order_day.isoformat()] = by_day.get(order_day.isoformat(), ZERO) + total_charged
    return {
        "account_id": account.account_id, "account_number": account.masked_number, "orders": orders,
        "by_day": [{"day": d, "charged": v} for d, v in sorted(by_day.items())],
        "total_charged": sum((o["charged"] for o in orders), ZERO),
        "total_estimated": sum((o["estimated_executed"] for o in orders), ZERO),
        "flagged": sum(1 for o in orders if o["flag"]),
    }
