"""``brokerflow account list|sync|show|positions|fees|set``: balances, positions, buying power and fees.

Figures are ours (computed from the ledger: fills booked at once, T+1 settlement, reservations of orders
in flight) beside the broker's; `sync` merges the broker's latest snapshot now (the connection supervisor
does it on a schedule). Account numbers are always shown masked.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Annotated, Any

import typer

from brokers.registry import GatewayRegistry
from domain.broker_integration import AccountType, BrokerError, ConnectionCredentials, NotFoundError
from domain.broker_integration.value_objects import AccountKey
from starter import accounts as views
from starter.output import BAD_INPUT, console, fail, key_value_table, print_json, records_table
from starter.output import run as run_async
from starter.settings import get_settings
from starter.store import open_store

__all__ = ["app"]

app = typer.Typer(help="Accounts: balances, positions, buying power (ours and the broker's), fees.",
                  no_args_is_help=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]
AccountArg = Annotated[str, typer.Argument(help="Account id (or full account number).")]

TypeChoice = StrEnum("TypeChoice", {t.value: t.value for t in AccountType})  # type: ignore[misc]


def _now() -> datetime:
    return datetime.now(UTC)


@app.command("list")
def list_command(
    connection: Annotated[str | None, typer.Option(help="Only this connection's accounts.")] = None,
    as_json: JsonOption = False,
) -> None:
    """List the accounts with cash, equity and buying power (ours, the broker's, what is reserved)."""

    async def go() -> list[dict[str, Any]]:
        async with open_store(get_settings()) as repos:
            return [(await views.account_view(repos, a, _now())).record()
                    for a in await views.list_accounts(repos, connection)]

    records = run_async(go())
    if as_json:
        print_json(records)
        return
    columns = ("account_id", "connection_id", "account_number", "account_type", "cash", "settled_cash", "equity",
               "buying_power", "broker_buying_power", "reserved", "available", "positions", "updated_at")
    console.print(records_table(f"Accounts ({len(records)})", columns, records))
    if not records:
        console.print("No accounts yet: `brokerflow account sync <connection>` discovers them.")


@app.command("add")
def add_command(
    connection_id: str,
    verify: Annotated[bool, typer.Option(help="Log in with the new key before storing it.")] = True,
    as_json: JsonOption = False,
) -> None:
    """Add one more account to an API-key connection (Alpaca: one key pair is one account).

    The key pair comes from APCA_API_KEY_ID / APCA_API_SECRET_KEY or a hidden prompt, never from arguments;
    it is stored encrypted with the connection's credentials, and the accounts are synchronised at once.
    """
    from starter.connection_cli import AuthChoice, _credentials

    async def go() -> list[dict[str, Any]]:
        async with open_store(get_settings()) as repos:
            connection = await repos.connections.get(connection_id)
            stored = await repos.connections.get_credentials(connection_id)
            if connection is None or stored is None:
                fail(f"no connection {connection_id!r} with credentials (see `brokerflow connection list`)",
                     BAD_INPUT)
            if str(connection.auth_method) != "API_KEY":
                fail(f"connection {connection_id} signs in with {connection.auth_method}; accounts are added "
                     "as API key pairs", BAD_INPUT)
            extra, _sources = _credentials(connection.broker, AuthChoice.api_key)
            assert extra.api_key is not None and extra.api_secret is not None
            if extra.api_key in {stored.api_key, *(k.api_key for k in stored.additional_keys)}:
                fail("this key is already on the connection; nothing was stored", BAD_INPUT)
            combined = stored.model_copy(update={"additional_keys": (
                *stored.additional_keys, AccountKey(api_key=extra.api_key, api_secret=extra.api_secret))})

            async def source(_: str) -> ConnectionCredentials:
                return combined

            registry = GatewayRegistry(credentials=source)
            try:
                if verify:
                    try:
                        await registry.gateway_for(connection).authenticate(extra)  # the new key alone
                    except BrokerError as exc:
                        fail(f"verification failed ({exc.__class__.__name__}): {exc}; nothing was stored")
                await repos.connections.save_credentials(connection_id, combined)
                try:
                    synced = await views.sync_connection(repos, registry, connection_id, _now())
                except BrokerError as exc:
                    fail(f"the key is stored, but the accounts could not be synchronised "
                         f"({exc.__class__.__name__}): {exc}; run `brokerflow account sync {connection_id}`")
            finally:
                await registry.aclose()
            return [{"account_id": s.account.account_id, "account_number": s.account.masked_number,
                     "account_type": str(s.account.account_type), "new": s.created} for s in synced]

    records = run_async(go())
    if as_json:
        print_json(records)
        return
    console.print(records_table(f"Accounts of {connection_id}", ("account_id", "account_number", "account_type",
                                                                  "new"), records))


@app.command("sync")
def sync_command(connection_id: str, as_json: JsonOption = False) -> None:
    """Discover the connection's accounts at the broker and merge their balances and positions now."""

    async def go() -> list[dict[str, Any]]:
        async with open_store(get_settings()) as repos:
            registry = GatewayRegistry(credentials=repos.connections.get_credentials)
            try:
                synced = await views.sync_connection(repos, registry, connection_id, _now())
            except NotFoundError as exc:
                fail(str(exc), BAD_INPUT)
            except BrokerError as exc:
                fail(f"the broker did not answer ({exc.__class__.__name__}): {exc}")
            finally:
                await registry.aclose()
            return [{"account_id": s.account.account_id, "account_number": s.account.masked_number,
                     "new": s.created, "drifts": [d.describe() for d in s.drifts],
                     "orders_in_flight": s.orders_in_flight} for s in synced]

    records = run_async(go())
    if as_json:
        print_json(records)
        return
    console.print(records_table(f"Synchronised {len(records)} account(s)", ("account_id", "account_number", "new",
                                                                             "drifts", "orders_in_flight"), records))


def _load(key: str) -> Any:
    async def go() -> Any:
        async with open_store(get_settings()) as repos:
            try:
                account = await views.find_account(repos, key)
            except NotFoundError as exc:
                fail(str(exc), BAD_INPUT)
            return account, await views.account_view(repos, account, _now())

    return run_async(go())


@app.command("show")
def show_command(account_id: AccountArg, as_json: JsonOption = False) -> None:
    """One account: our figures and the broker's, reservations, settlements, day trades, violations."""
    _account, view = _load(account_id)
    record = view.record()
    record["reservations"] = [r.model_dump(mode="json") | {"held_amount": str(r.held_amount)}
                              for r in view.reservations]
    if as_json:
        print_json(record)
        return
    flat = {k: v for k, v in record.items() if not isinstance(v, list)}
    console.print(key_value_table(f"Account {record['account_number']}", flat))
    for title in ("reservations", "pending_settlements", "good_faith_violations"):
        if record[title]:
            rows = record[title]
            console.print(records_table(title.replace("_", " "), list(rows[0]), rows))


@app.command("positions")
def positions_command(account_id: AccountArg, as_json: JsonOption = False) -> None:
    """Positions with quantity, average cost, market value, unrealized and realized P&L."""
    account, _view = _load(account_id)
    records = [p.model_dump() | {"cost_basis": p.cost_basis} for p in account.positions.values()]
    if as_json:
        print_json(records)
        return
    columns = ("symbol", "quantity", "avg_entry_price", "cost_basis", "last_price", "market_value",
               "unrealized_pnl", "realized_pnl")
    console.print(records_table(f"Positions of {account.masked_number} ({len(records)})", columns, records))


@app.command("fees")
def fees_command(
    account_id: AccountArg,
    day: Annotated[str | None, typer.Option(help="Only orders of this trade date (YYYY-MM-DD).")] = None,
    as_json: JsonOption = False,
) -> None:
    """Fees per order (our estimate before submission, for what executed, and what the broker charged),
    differences flagged, totals per day and for the account."""
    try:
        wanted = date.fromisoformat(day) if day else None
    except ValueError:
        fail(f"--day must be a date like 2026-11-25, got {day!r}", BAD_INPUT)

    async def go() -> dict[str, Any]:
        async with open_store(get_settings()) as repos:
            try:
                account = await views.find_account(repos, account_id)
            except NotFoundError as exc:
                fail(str(exc), BAD_INPUT)
            return await views.account_fees(repos, account, wanted)

    report = run_async(go())
    if as_json:
        print_json(report)
        return
    columns = ("client_order_id", "day", "side", "symbol", "filled_qty", "status", "estimated_pre_trade",
               "estimated_executed", "charged", "flag")
    console.print(records_table(f"Fees of {report['account_number']}", columns, report["orders"]))
    console.print(records_table("Per day", ("day", "charged"), report["by_day"]))
    console.print(f"total charged {report['total_charged']}, estimated {report['total_estimated']}, "
                  f"{report['flagged']} order(s) flagged")


@app.command("set")
def set_command(
    account_id: AccountArg,
    account_type: Annotated[TypeChoice | None, typer.Option("--type", help="Account type (brokers do not "
                                                                   "report retirement types).")] = None,
    allow_unsettled: Annotated[bool | None, typer.Option(
        "--allow-unsettled/--settled-only", help="Limited margin: may spend unsettled sale proceeds.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Set what the broker does not tell: the account type, and whether unsettled funds may be spent."""
    if account_type is None and allow_unsettled is None:
        fail("nothing to set: give --type and/or --allow-unsettled/--settled-only", BAD_INPUT)

    async def go() -> dict[str, Any]:
        async with open_store(get_settings()) as repos:
            try:
                account = await views.find_account(repos, account_id)
            except NotFoundError as exc:
                fail(str(exc), BAD_INPUT)
            kind = AccountType(account_type.value) if account_type is not None else None
            if kind is AccountType.MARGIN and account.account_type is not AccountType.MARGIN:
                fail("only the broker makes an account a margin account (it reports the multiplier)", BAD_INPUT)
            updated = await views.set_account(repos, account, kind, allow_unsettled)
            return (await views.account_view(repos, updated, _now())).record()

    record = run_async(go())
    if as_json:
        print_json(record)
        return
    console.print(key_value_table(f"Account {record['account_number']}", {
        k: record[k] for k in ("account_id", "account_type", "allow_unsettled_funds", "buying_power")}))
