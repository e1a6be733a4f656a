"""Hostile `brokerflow order submit` arguments: a message and exit code 2 (or 1), never a traceback.

Nothing reaches Temporal: `_submit` is replaced by a recorder, so an accepted order is seen, not started.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from starter import order_cli
from starter.settings import get_settings

OPTIONS = ["--symbol", "--side", "--qty", "--type", "--limit-price", "--stop-price", "--trail-price",
           "--trail-percent", "--tif", "--expire-at", "--connection", "--account", "--client-order-id", "--timeout"]
FLAGS = ["--extended-hours", "--wait", "--wait-ack", "--json", "--no-such-flag", "--", "-", "-x"]
VALUES = st.sampled_from(["AAPL", "buy", "sell_short", "10", "-1", "0", "NaN", "Infinity", "1e999999", "limit",
                          "stop-limit", "gtd", "2026-13-01", "150.25", "", " ", "\u202eLPAA", "a~b", "x" * 300,
                          "\U0001f4c8", "--qty", "0.1"]) | st.text(alphabet=st.characters(
                              codec="utf-8", exclude_categories=["Cs"], exclude_characters="\x00"), max_size=20)
ARGS = st.lists(st.one_of(st.tuples(st.sampled_from(OPTIONS), VALUES).map(list), st.sampled_from(FLAGS).map(
    lambda f: [f]), VALUES.map(lambda v: [v])), max_size=10).map(lambda parts: [a for p in parts for a in p])


@pytest.fixture(autouse=True, scope="module")
def offline() -> Iterator[None]:
    """No brokerflow settings from the environment, and a Temporal address where nothing listens."""
    saved = dict(os.environ)
    for name in list(os.environ):
        if name.startswith(("BROKERFLOW_", "APCA_")) or name in ("DATABASE_URL", "TEMPORAL_ADDRESS"):
            del os.environ[name]
    os.environ["TEMPORAL_ADDRESS"] = "127.0.0.1:9"
    os.environ["BROKERFLOW_DATA_DIR"] = str(Path(os.environ.get("TMPDIR", "/tmp")) / "bf-fuzz-cli")
    get_settings.cache_clear()
    yield
    os.environ.clear()
    os.environ.update(saved)
    get_settings.cache_clear()


def submit(args: list[str]) -> tuple[int, str, list[Any]]:
    started: list[Any] = []

    async def record(settings: Any, request: Any, **_: Any) -> Any:
        started.append(request)
        raise TimeoutError  # the command's own "timed out" path: exit 1 with a message

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(order_cli, "_submit", record)
        result = CliRunner().invoke(order_cli.app, ["submit", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return result.exit_code, result.output, started


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ARGS)
@example(["--symbol", "AAPL", "--side", "buy", "--qty", "NaN"])
@example(["--symbol", "AAPL", "--side", "buy", "--qty", "1e999999"])
@example(["--symbol", "AAPL", "--side", "buy", "--qty", "10", "--timeout", "nan"])
@example(["--symbol", "AAPL", "--side", "buy", "--qty", "10", "--client-order-id", "a~b"])
@example(["--symbol", "AAPL", "--side", "buy", "--qty", "10"])
def test_hostile_arguments_get_a_message_and_a_clean_exit(args: list[str]) -> None:
    code, output, started = submit(args)
    assert "Traceback" not in output
    if started:  # accepted: a well-formed order, then our stand-in's timeout
        assert code == 1 and "timed out" in output
        order = started[0].to_broker_order()
        assert order.quantity.is_finite() and order.quantity > 0
    else:
        assert code == 2 and output.strip()  # usage errors and invalid orders alike: exit 2 with the reason


def test_a_valid_order_reaches_submission_once() -> None:
    code, _, started = submit(["--symbol", "aapl", "--side", "buy", "--qty", "10", "--type", "limit",
                               "--limit-price", "150.25", "--connection", "sim"])
    assert code == 1 and len(started) == 1 and started[0].symbol == "AAPL"
