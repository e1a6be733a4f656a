from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from pydantic import ValidationError

from domain.broker_integration import (
    BrokerOrder,
    ConnectionCredentials,
    DomainValidationError,
    ExecutionParameters,
    ExecutionReport,
    InvalidOrderError,
    OrderSide,
    OrderType,
    TimeInForce,
)


def seed_order(**overrides: object) -> BrokerOrder:
    fields: dict[str, object] = dict(
        broker_order_id="order_123",
        symbol="AAPL",
        side="BUY",
        quantity=100,
        order_type="LIMIT",
        price=Decimal("150.00"),
        execution_params=ExecutionParameters(time_in_force="DAY"),
    )
    fields.update(overrides)
    return BrokerOrder(**fields)


def test_seed_example_constructs_and_normalises() -> None:
    order = seed_order()
    assert order.side is OrderSide.BUY
    assert order.order_type is OrderType.LIMIT
    assert order.quantity == Decimal("100") and isinstance(order.quantity, Decimal)
    assert order.time_in_force is TimeInForce.DAY
    assert order.client_order_id == "order_123"
    assert order.describe() == "BUY 100 AAPL LMT 150.00"


def test_client_order_id_is_derived_from_content_when_not_given() -> None:
    a = BrokerOrder(symbol="AAPL", side="buy", quantity="10")
    b = BrokerOrder(symbol="aapl", side="BUY", quantity=10)
    c = BrokerOrder(symbol="AAPL", side="BUY", quantity=11)
    assert a.client_order_id.startswith("bf-")
    assert a.client_order_id == b.client_order_id
    assert a.client_order_id != c.client_order_id


def test_floats_become_exact_decimals() -> None:
    order = seed_order(price=150.1)
    assert order.price == Decimal("150.1")


def test_value_objects_are_immutable() -> None:
    order = seed_order()
    with pytest.raises(ValidationError):
        order.quantity = Decimal("5")  # type: ignore[misc]


def test_bad_order_lists_every_problem_in_one_typed_error() -> None:
    with pytest.raises(InvalidOrderError) as info:
        BrokerOrder(symbol="AAPL", side="BUY", quantity=-5, order_type="STOP_LIMIT", price=float("nan"))
    fields = info.value.fields
    assert "quantity" in fields
    assert "price" in fields
    assert "stop_price" in fields
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        (dict(order_type="LIMIT"), "price"),
        (dict(quantity=-1), "quantity"),
        (dict(quantity=0), "quantity"),
        (dict(order_type="LIMIT", price="NaN"), "price"),
        (dict(order_type="LIMIT", price="Infinity"), "price"),
        (dict(order_type="MARKET", price=10), "price"),
        (dict(order_type="STOP"), "stop_price"),
        (dict(order_type="TRAILING_STOP"), "trail_price"),
        (dict(order_type="TRAILING_STOP", trail_price=1, trail_percent=2), "trail_price"),
        (dict(order_type="TRAILING_STOP", trail_percent=150), "trail_percent"),
        (dict(side="HOLD"), "side"),
        (dict(symbol=""), "symbol"),
        (dict(quantity="abc"), "quantity"),
        (dict(order_type="STOP", stop_price=5, execution_params={"time_in_force": "OPG"}),
         "execution_params.time_in_force"),
        (dict(execution_params={"time_in_force": "IOC", "extended_hours": True}), "execution_params.extended_hours"),
    ],
)
def test_each_invalid_combination_names_its_field(kwargs: dict[str, object], field: str) -> None:
    base: dict[str, object] = dict(symbol="AAPL", side="BUY", quantity=1)
    base.update(kwargs)
    with pytest.raises(InvalidOrderError) as info:
        BrokerOrder(**base)
    assert field in info.value.fields, info.value


def test_gtd_needs_an_aware_expiry() -> None:
    with pytest.raises(DomainValidationError) as info:
        ExecutionParameters(time_in_force="GTD")
    assert info.value.fields == ["expire_at"]
    with pytest.raises(DomainValidationError):
        ExecutionParameters(time_in_force="GTD", expire_at=datetime(2030, 1, 1))
    ok = ExecutionParameters(time_in_force="gtd", expire_at=datetime(2030, 1, 1, tzinfo=UTC) + timedelta(hours=1))
    assert ok.time_in_force is TimeInForce.GTD
    with pytest.raises(DomainValidationError):
        ExecutionParameters(time_in_force="DAY", expire_at=datetime(2030, 1, 1, tzinfo=UTC))


def test_credentials_never_print_secrets() -> None:
    creds = ConnectionCredentials(api_key="key-1", api_secret="very-secret", access_token="tok-xyz")
    text = f"{creds!r} {creds} {creds.model_dump()} {creds.model_dump_json()}"
    assert "very-secret" not in text and "tok-xyz" not in text
    assert creds.secret_values()["api_secret"] == "very-secret"


def test_execution_report_rejects_naive_time_and_bad_numbers() -> None:
    with pytest.raises(DomainValidationError) as info:
        ExecutionReport(
            execution_id="e1", client_order_id="c1", symbol="AAPL", side="BUY",
            quantity=0, price="nan", executed_at=datetime(2026, 1, 1),
        )
    assert set(info.value.fields) >= {"quantity", "price", "executed_at"}


def test_additional_account_keys_are_secret_and_log_in_on_their_own() -> None:
    from domain.broker_integration.value_objects import AccountKey

    creds = ConnectionCredentials(api_key="K1", api_secret="S1",
                                  additional_keys=(AccountKey(api_key="K2", api_secret="S2"),))
    assert "S2" not in repr(creds) and "S2" not in str(creds.model_dump())
    (second,) = creds.for_account_keys()
    assert second.api_key == "K2" and second.secret_values()["api_secret"] == "S2"
    assert creds.additional_secret_values() == [{"api_key": "K2", "api_secret": "S2"}]
