"""``brokerflow connection add|list``: register broker connections and show them (never their secrets).

``up|down|health|pause|resume|reconnect`` (the supervisor's commands) live in
``starter.connection_supervisor_cli`` and are mounted on this same group.

Credentials come from environment variables or a hidden prompt, never from command-line arguments
(those end up in shell history and ``ps``). More commands join this group the same way::

    from starter.connection_cli import app, open_store

    @app.command()
    def health(connection_id: str) -> None: ...
"""

from __future__ import annotations

import os
import sys
from enum import StrEnum
from typing import Annotated, Any

import click
import typer
from pydantic import ValidationError

from brokers.registry import GatewayRegistry, broker_names
from brokers.tradier.config import ENV_ACCOUNT_ID as TRADIER_ACCOUNT_ENV
from domain.broker_integration import (
    AuthMethod,
    BrokerConnection,
    BrokerError,
    ConnectionCredentials,
    DomainValidationError,
    Environment,
    Problem,
    SessionInfo,
)
from domain.broker_integration.base import problems_from_pydantic
from persistence import CredentialDecryptionError, Repositories
from starter.connection_supervisor_cli import app as supervisor_app
from starter.connection_views import live_statuses
from starter.credentials_input import (
    credential_env_names,
    default_base_url,
    read_credentials,
    read_refresh_credentials,
)
from starter.output import BAD_INPUT, console, err_console, fail, jsonable, key_value_table, print_json, records_table
from starter.output import run as run_async
from starter.settings import Settings, get_settings
from starter.store import open_store

__all__ = ["AuthChoice", "EnvironmentChoice", "app", "connection_record", "open_store"]

app = typer.Typer(help="Register broker connections, run their supervisors, inspect their health.",
                  no_args_is_help=True)
app.add_typer(supervisor_app)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]


class EnvironmentChoice(StrEnum):
    paper = "paper"
    live = "live"


class AuthChoice(StrEnum):
    api_key = "api-key"
    oauth = "oauth"


_AUTH_METHOD = {AuthChoice.api_key: AuthMethod.API_KEY, AuthChoice.oauth: AuthMethod.OAUTH2}


@app.command()
def add(
    connection_id: Annotated[str, typer.Argument(help="Name of the connection, e.g. alpaca-paper.")],
    broker: Annotated[str, typer.Option(help=f"Broker adapter: {', '.join(broker_names())}.")],
    environment: Annotated[EnvironmentChoice, typer.Option(help="paper or live.")] = EnvironmentChoice.paper,
    base_url: Annotated[str | None, typer.Option(help="Broker API URL (default: the broker's for the env).")
                        ] = None,
    auth: Annotated[AuthChoice | None, typer.Option(
        help="api-key (key id + secret) or oauth (access token); default: api-key, oauth for tradier.")
                    ] = None,
    verify: Annotated[bool, typer.Option("--verify", help="Authenticate once with the broker before storing.")
                      ] = False,
    replace: Annotated[bool, typer.Option("--replace", help="Overwrite an existing connection and credentials.")
                       ] = False,
    as_json: JsonOption = False,
) -> None:
    """Register a connection; credentials are read from the environment or a hidden prompt."""
    auth = _auth_for(broker, auth)
    connection = _new_connection(connection_id, broker, environment, base_url, auth)
    credentials, sources = _credentials(connection.broker, auth)
    if connection.environment is Environment.LIVE:
        err_console.print("[yellow]warning:[/] LIVE environment: orders on this connection trade real money")
    session = run_async(_add(get_settings(), connection, credentials, verify=verify, replace=replace))
    record = connection_record(connection, "stored") | {
        "credentials_from": sources,
        "verified": session is not None,
        "accounts": session.account_numbers if session else [],
    }
    if as_json:
        print_json(record)
    else:
        console.print(key_value_table(f"Connection {connection.connection_id} registered", record))


@app.command("list")
def list_connections(as_json: JsonOption = False) -> None:
    """List the registered connections (no secrets) with the live status of their supervisors."""
    records = run_async(_list(get_settings()))
    if as_json:
        print_json(records)
        return
    columns = ("connection_id", "broker", "environment", "status", "supervisor", "base_url", "auth_method",
               "credentials", "last_heartbeat_at", "status_reason")
    console.print(records_table(f"Connections ({len(records)})", columns, records))


def connection_record(connection: BrokerConnection, credentials: str) -> dict[str, Any]:
    """Return what may be shown of a connection: no secrets, the effective base URL."""
    record: dict[str, Any] = jsonable(connection.model_dump(exclude={"history"}))
    effective = connection.base_url or default_base_url(connection.broker, connection.environment)
    return record | {"base_url": effective, "credentials": credentials}


def _new_connection(
    connection_id: str, broker: str, environment: EnvironmentChoice, base_url: str | None, auth: AuthChoice
) -> BrokerConnection:
    """Validate the options into a connection; exit 2 listing every problem."""
    problems: list[Problem] = []
    name = broker.strip().lower()
    if name not in broker_names():
        problems.append(Problem("--broker", f"unknown broker {broker!r}; known: {', '.join(broker_names())}"))
    if base_url is not None and not base_url.startswith(("http://", "https://")):
        problems.append(Problem("--base-url", f"must be an http:// or https:// URL, got {base_url!r}"))
    fields = {"connection_id": connection_id, "broker": name, "environment": Environment(environment.upper()),
              "auth_method": _AUTH_METHOD[auth], "base_url": base_url.rstrip("/") if base_url else None}
    try:
        connection = BrokerConnection(**fields)
    except ValidationError as exc:
        problems += problems_from_pydantic(exc)
    if problems:
        fail("invalid connection; nothing was stored", BAD_INPUT, [str(p) for p in problems])
    return connection


_TOKEN_ONLY = {"tradier": "TRADIER_ACCESS_TOKEN", "oanda": "OANDA_ACCESS_TOKEN"}
_KEYS_ONLY = {"ccxt": "CCXT_API_KEY / CCXT_API_SECRET"}


def _auth_for(broker: str, auth: AuthChoice | None) -> AuthChoice:
    """The auth method: as given, else the broker's own (Tradier and OANDA know only bearer tokens, the
    crypto exchanges only key pairs)."""
    name = broker.strip().lower()
    if name in _TOKEN_ONLY and auth is AuthChoice.api_key:
        fail(f"{name} authenticates with an OAuth access token: use --auth oauth ({_TOKEN_ONLY[name]})", BAD_INPUT)
    if name in _KEYS_ONLY and auth is AuthChoice.oauth:
        fail(f"{name} authenticates with an API key pair: use --auth api-key ({_KEYS_ONLY[name]})", BAD_INPUT)
    return auth or (AuthChoice.oauth if name in _TOKEN_ONLY else AuthChoice.api_key)


def _credentials(broker: str, auth: AuthChoice) -> tuple[ConnectionCredentials, list[str]]:
    """Read the credentials from the environment or a hidden prompt; exit 2 when there are none."""
    fields = ("api_key", "api_secret") if auth is AuthChoice.api_key else ("access_token",)
    names = [name for field in fields for name in credential_env_names(broker, field)]
    missing = f"no credentials: set {' / '.join(names)} or enter them at the prompt"
    try:
        refresh, refreshed_from = read_refresh_credentials(broker, os.environ)  # optional: TRADIER_CLIENT_ID...
        credentials, sources = read_credentials(broker, fields, os.environ, _hidden_prompt)
        account = os.environ.get(TRADIER_ACCOUNT_ENV, "").strip() if broker == "tradier" else ""
        if account and refresh:  # both would live in api_key
            fail(f"{TRADIER_ACCOUNT_ENV} cannot be combined with an OAuth client for token refresh", BAD_INPUT)
        if account:  # optional: the one account of the token's this connection uses (not a secret)
            return credentials.model_copy(update={"api_key": account}), [*sources, f"account: {TRADIER_ACCOUNT_ENV}"]
        return credentials.model_copy(update=refresh), [*sources, *refreshed_from]
    except (typer.Abort, click.exceptions.Abort, EOFError):
        fail(missing, BAD_INPUT)
    except NoTerminalError:
        fail(f"{missing} (no terminal to prompt on)", BAD_INPUT)
    except DomainValidationError as exc:
        fail("invalid credentials; nothing was stored", BAD_INPUT, [str(p) for p in exc.problems])


class NoTerminalError(RuntimeError):
    """Credentials are missing and stdin is not a terminal to ask on."""


def can_prompt() -> bool:
    """Tell whether a hidden prompt can be shown (stdin is a terminal)."""
    return sys.stdin.isatty()


def _hidden_prompt(label: str) -> str:
    """Ask for one credential without echoing it (a piped stdin would echo, so refuse that)."""
    if not can_prompt():
        raise NoTerminalError(label)
    return str(typer.prompt(label, hide_input=True, err=True))


async def _add(settings: Settings, connection: BrokerConnection, credentials: ConnectionCredentials, *,
               verify: bool, replace: bool) -> SessionInfo | None:
    """Store the connection and its encrypted credentials (after authenticating once with ``verify``)."""
    async with open_store(settings) as repositories:
        existing = await repositories.connections.get(connection.connection_id)
        if existing is not None and not replace:
            fail(f"connection {connection.connection_id!r} exists; add --replace to overwrite it")
        session = await _authenticate(connection, credentials) if verify else None
        await repositories.connections.save(connection)
        await repositories.connections.save_credentials(connection.connection_id, credentials)
    return session


async def _authenticate(connection: BrokerConnection, credentials: ConnectionCredentials) -> SessionInfo:
    """Log in once through the broker's adapter; exit 1 when the broker refuses or is unreachable."""

    async def source(_: str) -> ConnectionCredentials:
        return credentials

    registry = GatewayRegistry(credentials=source)
    try:
        return await registry.gateway_for(connection).authenticate(credentials)
    except BrokerError as exc:
        fail(f"verification failed ({exc.__class__.__name__}): {exc}; nothing was stored")
    finally:
        await registry.aclose()


async def _list(settings: Settings) -> list[dict[str, Any]]:
    async with open_store(settings) as repositories:
        connections = await repositories.connections.list()
        records = [connection_record(c, await _credentials_state(repositories, c.connection_id))
                   for c in connections]
    live = await live_statuses(settings, [c.connection_id for c in connections])
    return [record | {"supervisor": live[record["connection_id"]]} for record in records]


async def _credentials_state(repositories: Repositories, connection_id: str) -> str:
    """Say whether credentials are stored and readable with the configured key (never show them)."""
    try:
        stored = await repositories.connections.get_credentials(connection_id)
    except CredentialDecryptionError:
        return "unreadable (other key)"
    return "stored" if stored is not None else "missing"

