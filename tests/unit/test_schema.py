"""The exported JSON schemas match the models (run `python -m starter.schema` after changing them)."""

from __future__ import annotations

import json

import pytest

from activities.models import OrderRequest
from starter.schema import SCHEMA_DIR, render, schemas


@pytest.mark.parametrize("name", sorted(schemas()))
def test_committed_schema_is_current(name: str) -> None:
    assert (SCHEMA_DIR / name).read_text() == render(schemas()[name]), "run: python -m starter.schema"


def test_schema_example_parses_into_an_order() -> None:
    schema = json.loads((SCHEMA_DIR / "order_request.schema.json").read_text())
    assert {"symbol", "side", "quantity"} <= set(schema["required"])
    request = OrderRequest.model_validate_json(
        '{"client_order_id": "x1", "symbol": "aapl", "side": "buy", "quantity": "10", "order_type": "limit",'
        ' "limit_price": 150.25, "time_in_force": "gtc"}'
    )
    order = request.to_broker_order()
    assert order.describe() == "BUY 10 AAPL LMT 150.25" and order.client_order_id == "x1"
