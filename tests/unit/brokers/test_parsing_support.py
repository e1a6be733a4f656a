"""typed_parser: every adapter's parsers fail with the adapter's own protocol error, never a crash."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from types import ModuleType

import pytest

from brokers.alpaca import AlpacaProtocolError
from brokers.alpaca import parsing as alpaca
from brokers.ccxt import CcxtProtocolError
from brokers.ccxt import parsing as ccxt
from brokers.oanda import OandaProtocolError
from brokers.oanda import parsing as oanda
from brokers.parsing_support import ParserGuard, typed_parser
from brokers.tradier import TradierProtocolError
from brokers.tradier import parsing as tradier
from domain.broker_integration.ports import BrokerError, BrokerRejectedError


class _ProtocolError(BrokerError):
    pass


guarded = typed_parser(_ProtocolError)


@guarded
def _read(payload: dict[str, str]) -> Decimal:
    """Read a price."""
    return Decimal(payload["price"])


@pytest.mark.parametrize(
    ("payload", "kind"), [({}, "KeyError"), ({"price": "x"}, "InvalidOperation"), ({"price": None}, "TypeError")]
)
def test_a_failure_becomes_the_typed_error_naming_only_its_type(payload: dict[str, str], kind: str) -> None:
    with pytest.raises(_ProtocolError) as caught:
        _read(payload)
    assert str(caught.value) == f"_read: unreadable payload ({kind})"
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_the_parser_keeps_its_name_docstring_and_result() -> None:
    assert (_read.__name__, _read.__doc__) == ("_read", "Read a price.")
    assert _read({"price": "1.5"}) == Decimal("1.5")


def test_broker_errors_and_other_exceptions_pass_through() -> None:
    @guarded
    def rejects() -> None:
        raise BrokerRejectedError("no")

    @guarded
    def breaks() -> None:
        raise RuntimeError("bug")

    with pytest.raises(BrokerRejectedError):
        rejects()
    with pytest.raises(RuntimeError):
        breaks()


def test_the_noun_is_the_adapters_own() -> None:
    @typed_parser(_ProtocolError, what="answer")
    def read() -> None:
        raise ValueError("secret value")

    with pytest.raises(_ProtocolError, match=r"^read: unreadable answer \(ValueError\)$"):
        read()


@pytest.mark.parametrize(
    ("module", "error", "noun"),
    [
        (alpaca, AlpacaProtocolError, "payload"),
        (tradier, TradierProtocolError, "payload"),
        (oanda, OandaProtocolError, "payload"),
        (ccxt, CcxtProtocolError, "answer"),
    ],
)
def test_each_adapter_raises_its_own_protocol_error(module: ModuleType, error: type[Exception], noun: str) -> None:
    guard: ParserGuard = module.typed_parser

    @guard
    def parse() -> None:
        raise LookupError

    with pytest.raises(error, match=rf"^parse: unreadable {noun} \(LookupError\)$"):
        parse()


@pytest.mark.parametrize("read", [alpaca.decimal_or_none, tradier.decimal_or_none, oanda.decimal_or_none, ccxt.dec])
def test_every_adapter_reads_a_zero_of_any_exponent_as_zero(read: Callable[[str], Decimal | None]) -> None:
    for text in ("0", "0E-50", "-0.000"):
        assert read(text) == 0
