"""`brokerflow order group` without servers: bad groups exit 2 with every problem; the legs the options make."""

from __future__ import annotations

import os
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from domain.broker_integration import OrderGroupRequest
from starter import order_cli
from starter.order_group_cli import legs_of
from starter.settings import get_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    for name in list(os.environ):
        if name.startswith("BROKERFLOW_") or name in ("DATABASE_URL", "TEMPORAL_ADDRESS"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("TEMPORAL_ADDRESS", "127.0.0.1:9")  # nothing listens: a connect would exit 1, not 2
    monkeypatch.setenv("BROKERFLOW_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_take_profit_below_a_buy_entry_is_bad_input() -> None:
    result = CliRunner().invoke(order_cli.app, [
        "group", "submit", "--kind", "bracket", "--symbol", "AAPL", "--side", "buy", "--qty", "10",
        "--connection", "alpaca-sim", "--entry-type", "limit", "--entry-limit", "100", "--take-profit", "99",
        "--stop-loss", "95"])
    assert result.exit_code == 2, result.output
    assert "legs.TAKE_PROFIT.limit_price" in result.output and "nothing was started" in result.output


def test_legs_of_a_bracket_and_an_oco() -> None:
    legs = legs_of("bracket", "buy", "10", "limit", Decimal("100"), Decimal("110"), Decimal("95"), Decimal("94"), "gtc")
    group = OrderGroupRequest(group_id="g", kind="bracket", symbol="AAPL", legs=legs, connection_id="c")
    assert [(str(leg.role), str(leg.side), str(leg.order_type)) for leg in group.legs] == [
        ("ENTRY", "BUY", "LIMIT"), ("TAKE_PROFIT", "SELL", "LIMIT"), ("STOP_LOSS", "SELL", "STOP_LIMIT")]
    oco = legs_of("oco", "sell", "5", "market", None, Decimal("110"), Decimal("95"), None, "day")
    assert [leg["role"] for leg in oco] == ["TAKE_PROFIT", "STOP_LOSS"]
