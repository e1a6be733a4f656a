"""The order and connection CLI without servers: argument validation, bad input, credentials handling."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from activities.models import OrderView
from domain.broker_integration import DomainValidationError, Environment, InvalidOrderError
from starter import cli, connection_cli, order_cli
from starter.credentials_input import default_base_url, read_credentials
from starter.order_input import OrderOptions, build_amendment
from starter.order_views import view_record
from starter.output import jsonable, workflow_url
from starter.settings import Settings, get_settings

CREDENTIAL_VARS = ("APCA_API_KEY_ID", "APCA_API_SECRET_KEY", "APCA_API_OAUTH_TOKEN")
UNREACHABLE = "127.0.0.1:9"  # nothing listens: a command that tried to connect would exit 1, not 2


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Run each test without brokerflow or broker variables, against servers that do not exist."""
    for name in list(os.environ):
        if name.startswith("BROKERFLOW_") or name in (*CREDENTIAL_VARS, "DATABASE_URL", "TEMPORAL_ADDRESS"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("TEMPORAL_ADDRESS", UNREACHABLE)
    monkeypatch.setenv("BROKERFLOW_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def invoke(app: object, *args: str, stdin: str | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), input=stdin)  # type: ignore[arg-type]
    return result.exit_code, result.output


def test_limit_order_without_limit_price_lists_every_problem_and_starts_nothing() -> None:
    code, out = invoke(order_cli.app, "submit", "--symbol", "AAPL", "--side", "hold", "--qty", "-1",
                       "--type", "limit")
    assert code == 2
    assert "nothing was started" in out and "cannot reach Temporal" not in out
    assert "--limit-price: is required for a LIMIT order" in out
    assert "--qty: must be greater than 0" in out
    assert "--side:" in out


def test_missing_options_are_reported_together() -> None:
    code, out = invoke(order_cli.app, "submit", "--type", "stop-limit", "--stop-price", "abc")
    assert code == 2
    for option in ("--symbol: is required", "--side: is required", "--qty: is required", "--stop-price:"):
        assert option in out


def test_time_in_force_and_expiry_problems() -> None:
    code, out = invoke(order_cli.app, "submit", "--symbol", "AAPL", "--side", "buy", "--qty", "1",
                       "--tif", "gtd")
    assert code == 2 and "--expire-at: is required when time_in_force is GTD" in out
    code, out = invoke(order_cli.app, "submit", "--symbol", "AAPL", "--side", "buy", "--qty", "1",
                       "--tif", "gtd", "--expire-at", "next tuesday")
    assert code == 2 and "--expire-at: not an ISO 8601 time" in out


def test_options_in_any_case_build_the_request() -> None:
    request = OrderOptions("aapl", "sell-short", "2.5", "trailing-stop", trail_percent="3", tif="gtc",
                           connection="alpaca-sim", client_order_id="cli-1").to_request()
    assert (request.symbol, request.side, request.order_type, request.time_in_force) == (
        "AAPL", "SELL_SHORT", "TRAILING_STOP", "GTC")
    assert request.quantity == Decimal("2.5") and request.trail_percent == Decimal("3")
    assert (request.connection_id, request.client_order_id) == ("alpaca-sim", "cli-1")
    with pytest.raises(InvalidOrderError) as info:
        OrderOptions("AAPL", "buy", "1", "market", limit_price="10").to_request()
    assert info.value.fields == ["price"]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ((), "give at least one of --qty"),
        (("--qty", "-1", "--limit-price", "abc"), "--limit-price: Input should be a valid decimal"),
        (("--qty", "0"), "--qty: Input should be greater than 0"),
    ],
)
def test_bad_amendments_exit_2(args: tuple[str, ...], expected: str) -> None:
    code, out = invoke(order_cli.app, "amend", "ord-1", *args)
    assert code == 2 and expected in out and "nothing was changed" in out


def test_amendment_keeps_only_given_terms() -> None:
    amendment = build_amendment("4", "1.05", None, None)
    assert amendment.model_dump(exclude_none=True) == {"quantity": Decimal("4"), "limit_price": Decimal("1.05")}
    with pytest.raises(DomainValidationError):
        build_amendment(None, None, None, None)


def test_list_refuses_an_unknown_status() -> None:
    code, out = invoke(order_cli.app, "list", "--status", "DONE")
    assert code == 2 and "unknown status 'DONE'" in out and "FILLED" in out


def test_cancel_needs_an_order_id() -> None:
    code, out = invoke(order_cli.app, "cancel")
    assert code == 2 and "Missing argument" in out


@pytest.mark.parametrize("option", ["--api-key", "--api-secret", "--secret", "--token", "--access-token"])
def test_credentials_are_never_accepted_as_arguments(option: str) -> None:
    code, out = invoke(connection_cli.app, "add", "alpaca-x", "--broker", "alpaca", option, "TOPSECRET")
    assert code == 2 and "No such option" in out
    assert "TOPSECRET" not in out


def test_connection_add_lists_every_bad_option() -> None:
    code, out = invoke(connection_cli.app, "add", "bad id!", "--broker", "nyse", "--base-url", "ftp://x")
    assert code == 2 and "nothing was stored" in out
    assert "unknown broker 'nyse'; known: alpaca" in out
    assert "--base-url: must be an http:// or https:// URL" in out
    assert "connection_id:" in out


def test_connection_add_refuses_an_unknown_environment() -> None:
    code, out = invoke(connection_cli.app, "add", "a", "--broker", "alpaca", "--environment", "prod")
    assert code == 2 and "prod" in out


def test_connection_add_without_credentials_or_terminal_exits_2() -> None:
    code, out = invoke(connection_cli.app, "add", "alpaca-x", "--broker", "alpaca")
    assert code == 2
    assert "APCA_API_KEY_ID" in out and "BROKERFLOW_API_SECRET" in out and "no terminal" in out


def test_hidden_prompt_reads_credentials_without_echo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(connection_cli, "can_prompt", lambda: True)
    code, out = invoke(connection_cli.app, "add", "alpaca-x", "--broker", "alpaca",
                       stdin="KEYID123\nPROMPTSECRET\n")
    # Credentials accepted; it then stops at the missing database (no DATABASE_URL, no `dev up`).
    assert code == 1 and "no database" in out
    assert "API key id" in out and "API secret" in out
    assert "PROMPTSECRET" not in out and "KEYID123" not in out


def test_read_credentials_precedence_and_sources() -> None:
    asked: list[str] = []

    def prompt(label: str) -> str:
        asked.append(label)
        return "from-prompt"

    env = {"BROKERFLOW_API_KEY": "generic", "APCA_API_KEY_ID": "alpaca-key", "APCA_API_SECRET_KEY": "s3"}
    creds, sources = read_credentials("alpaca", ("api_key", "api_secret"), env, prompt)
    assert creds.api_key == "generic" and creds.api_secret is not None
    assert creds.api_secret.get_secret_value() == "s3"
    assert sources == ["api_key: BROKERFLOW_API_KEY", "api_secret: APCA_API_SECRET_KEY"] and asked == []
    creds, sources = read_credentials("alpaca", ("access_token",), {}, prompt)
    assert creds.access_token is not None and creds.access_token.get_secret_value() == "from-prompt"
    assert sources == ["access_token: prompt"] and "APCA_API_OAUTH_TOKEN" in asked[0]
    assert "s3" not in repr(creds)


def test_read_credentials_refuses_empty_values() -> None:
    with pytest.raises(DomainValidationError) as info:
        read_credentials("alpaca", ("api_key", "api_secret"), {"APCA_API_KEY_ID": "k"}, lambda _: "  ")
    assert info.value.fields == ["api_secret"]


def test_default_base_urls_follow_the_environment() -> None:
    assert default_base_url("alpaca", Environment.PAPER) == "https://paper-api.alpaca.markets"
    assert default_base_url("alpaca", Environment.LIVE) == "https://api.alpaca.markets"
    assert default_base_url("unknown", Environment.PAPER) is None


def test_json_records_render_decimals_as_strings_with_the_ui_url() -> None:
    view = OrderView(
        client_order_id="abc", status="FILLED", symbol="AAPL", side="BUY", quantity=Decimal("10"),
        filled_qty=Decimal("10"), remaining_qty=Decimal("0"), avg_fill_price=Decimal("187.25"),
        commission=Decimal("0"), fees=Decimal("0.01"), broker_order_id="b-1", connection_id="c", reason=None,
    )
    record = view_record(Settings(temporal_address=None), view)
    assert record["filled_qty"] == "10" and record["avg_fill_price"] == "187.25"
    assert record["broker_order_id"] == "b-1" and record["status"] == "FILLED"
    assert record["ui_url"] == "http://localhost:8233/namespaces/default/workflows/order-abc"
    assert jsonable({"x": [Decimal("1.50")], "e": Environment.LIVE}) == {"x": ["1.50"], "e": "LIVE"}


def test_workflow_url_of_an_external_temporal() -> None:
    settings = Settings(temporal_address="temporal.internal:7233", temporal_namespace="prod")
    assert workflow_url(settings, "order-x") == "http://temporal.internal:8233/namespaces/prod/workflows/order-x"


def test_main_mounts_order_and_connection_once() -> None:
    cli._mount_subapps()
    cli._mount_subapps()
    names = [group.name for group in cli.app.registered_groups]
    assert names.count("order") == 1 and names.count("connection") == 1
    code, out = invoke(cli.app, "order", "--help")
    assert code == 0 and all(c in out for c in ("submit", "cancel", "amend", "status", "list", "watch"))


def test_a_command_loads_only_its_own_group_and_no_ccxt() -> None:
    """`brokerflow dev ...` mounts no command group, `brokerflow account ...` only its own, the top-level help and
    an unknown command all of them; none of them imports ccxt (over a second), which only a ccxt connection needs."""
    probe = ("import sys; from starter import cli; cli._mount_subapps(sys.argv[1:]); "
             "print(','.join(sorted(g.name or '' for g in cli.app.registered_groups)), 'ccxt' in sys.modules)")
    root = Path(__file__).resolve().parents[2]

    def loaded(*args: str) -> str:
        return subprocess.run([sys.executable, "-c", probe, *args], capture_output=True, text=True, check=True,
                              cwd=root, timeout=60).stdout.strip()

    everything = "account,alerts,connection,dev,metrics,order False"
    assert loaded("dev", "up") == "dev False"
    assert loaded("account", "list", "--json") == "account,dev False"
    assert loaded("--help") == everything
    assert loaded("nosuch") == everything


def test_exit_without_a_temporal_client_is_a_normal_exit() -> None:
    from starter.output import exit_process

    with pytest.raises(SystemExit) as info:
        exit_process(None)
    assert info.value.code == 0
    with pytest.raises(SystemExit) as info:
        exit_process(2)
    assert info.value.code == 2
