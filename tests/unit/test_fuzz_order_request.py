"""Hostile OrderRequest JSON: every input is either refused with a typed error or becomes a sane order.

The path is the one a caller's JSON takes: pydantic validation of `OrderRequest` (what the data converter
does with a workflow argument), then `OrderClient.prepare` (the domain's checks, before anything starts).
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from activities.models import OrderRequest
from domain.broker_integration import DomainValidationError
from starter.orders import OrderClient

VALID: dict[str, Any] = {"client_order_id": "fuzz-1", "symbol": "AAPL", "side": "buy", "quantity": "10",
                         "order_type": "limit", "limit_price": "150.25", "connection_id": "sim"}
FIELDS = [*VALID, "stop_price", "trail_price", "trail_percent", "time_in_force", "expire_at", "extended_hours",
          "asset_class", "account_id", "poll_interval_seconds", "session_wait_seconds"]

json_scalars = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
                | st.text(max_size=20))
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=6)
hostile_values = st.sampled_from([
    "NaN", "-NaN", "sNaN", "Infinity", "-Infinity", "1e999999", "-1e999999", "1e-999999", "0", "-0", "-5",
    "0.0000000001", "9" * 500, "", " ", "\x00", "AAPL\x00", "BRK.B", "\u202eLPAA", "\U0001f4c8", "A" * 10_000,
    "SELL_SHORT", "hold", "GTD", "2026-13-01T00:00:00", "1e3", 1e308, -1, 0, 2**200, True,
]) | json_values | st.text(alphabet=st.characters(codec="utf-8"), max_size=30)


def documents() -> st.SearchStrategy[dict[str, Any]]:
    """The valid request with fields replaced by hostile values, removed, or joined by unknown fields."""
    return st.tuples(
        st.dictionaries(st.sampled_from(FIELDS), hostile_values, max_size=4),
        st.lists(st.sampled_from(list(VALID)), max_size=2),
        st.dictionaries(st.text(max_size=8), json_values, max_size=2),
    ).map(lambda t: {**{k: v for k, v in VALID.items() if k not in t[1]}, **t[2], **t[0]})


def accept(text: str | bytes) -> OrderRequest | None:
    """What the service does with the JSON: a prepared request, or None after a typed refusal."""
    try:
        return OrderClient.prepare(OrderRequest.model_validate_json(text))
    except (ValidationError, DomainValidationError):
        return None


def assert_sane(request: OrderRequest) -> None:
    order = request.to_broker_order()
    assert order.quantity.is_finite() and order.quantity > 0
    for price in (order.price, order.stop_price, order.trail_price, order.trail_percent):
        assert price is None or (price.is_finite() and price > 0)
    assert order.symbol and order.symbol == order.symbol.strip() and request.client_order_id
    assert 0 < request.poll_interval_seconds <= 3600


FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(documents())
@example({**VALID, "quantity": "NaN"})
@example({**VALID, "limit_price": "Infinity"})
@example({**VALID, "quantity": "-5"})
@example({**VALID, "quantity": "1e999999"})
@example({**VALID, "symbol": "\u202eLPAA"})
@example({**VALID, "password": "x"})
def test_hostile_documents_end_in_a_typed_error_or_a_sane_order(document: dict[str, Any]) -> None:
    request = accept(json.dumps(document))
    if request is not None:
        assert_sane(request)


@FUZZ
@given(json_values)
def test_arbitrary_json_is_refused_or_sane(value: Any) -> None:
    request = accept(json.dumps(value))
    if request is not None:
        assert_sane(request)


@FUZZ
@given(st.binary(max_size=200) | st.text(max_size=200))
def test_arbitrary_bytes_are_refused(raw: bytes | str) -> None:
    request = accept(raw)
    if request is not None:
        assert_sane(request)


@FUZZ
@given(st.sampled_from(["NaN", "Infinity", "-Infinity", "-1", "0", "1e999999", "1e15", "1." + "0" * 27 + "1"]),
       st.sampled_from(["quantity", "limit_price"]))
def test_nonfinite_or_nonpositive_numbers_never_make_an_order(number: str, field: str) -> None:
    assert accept(json.dumps({**VALID, field: number})) is None


def test_a_valid_request_is_accepted_unchanged() -> None:
    request = accept(json.dumps(VALID))
    assert request is not None and request.quantity == Decimal("10") and request.symbol == "AAPL"
