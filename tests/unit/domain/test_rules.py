from datetime import date
from decimal import Decimal

import pytest

from domain.broker_integration import (
    AccountType,
    BrokerAccount,
    BrokerCapabilities,
    BrokerOrder,
    OrderType,
    Position,
    PreTradeRejectedError,
    Settlement,
    TimeInForce,
)
from domain.broker_integration.rules.buying_power import check_pre_trade, required_buying_power
from domain.broker_integration.rules.validation import capability_problems


def account(kind: AccountType, **kw: object) -> BrokerAccount:
    fields: dict[str, object] = dict(
        account_id="a", connection_id="c", account_number="PA12345678", account_type=kind,
        cash=Decimal("10000"), settled_cash=Decimal("4000"), equity=Decimal("10000"),
        buying_power=Decimal("20000"), positions={"AAPL": Position(symbol="AAPL", quantity=Decimal("10"))},
        # 6,000 of the cash is sale proceeds not yet settled
        pending_settlements=[Settlement(amount=Decimal("6000"), settles_on=date(2026, 11, 24))],
    )
    fields.update(kw)
    return BrokerAccount(**fields)


def order(side: str = "BUY", qty: int = 10, **kw: object) -> BrokerOrder:
    return BrokerOrder(symbol="AAPL", side=side, quantity=qty, **kw)


@pytest.mark.parametrize("kind", [AccountType.CASH, AccountType.IRA_ROTH])
def test_cash_like_accounts_buy_with_settled_cash_only(kind: AccountType) -> None:
    check_pre_trade(order(qty=39), account(kind), Decimal("100"))
    with pytest.raises(PreTradeRejectedError) as info:
        check_pre_trade(order(qty=41), account(kind), Decimal("100"))
    assert info.value.code == "INSUFFICIENT_BUYING_POWER"


def test_margin_account_uses_buying_power_and_reservations() -> None:
    check_pre_trade(order(qty=199), account(AccountType.MARGIN), Decimal("100"))
    with pytest.raises(PreTradeRejectedError):
        check_pre_trade(order(qty=199), account(AccountType.MARGIN), Decimal("100"), Decimal("1000"))


def test_limit_price_counts_for_a_buy() -> None:
    expensive = order(qty=10, order_type="LIMIT", price=500)
    assert required_buying_power(expensive, Decimal("100")) == Decimal("5000")


@pytest.mark.parametrize("kind", [AccountType.CASH, AccountType.IRA_TRADITIONAL])
def test_no_shorting_outside_margin(kind: AccountType) -> None:
    with pytest.raises(PreTradeRejectedError) as info:
        check_pre_trade(order(side="SELL_SHORT"), account(kind, shorting_enabled=True), Decimal("100"))
    assert info.value.code == "SHORT_NOT_ALLOWED"


def test_short_needs_enabled_margin_and_buffered_buying_power() -> None:
    with pytest.raises(PreTradeRejectedError):
        check_pre_trade(order(side="SELL_SHORT"), account(AccountType.MARGIN), Decimal("100"))
    check_pre_trade(order(side="SELL_SHORT"), account(AccountType.MARGIN, shorting_enabled=True), Decimal("100"))
    assert required_buying_power(order(side="SELL_SHORT"), Decimal("100")) == Decimal("1030.00")


def test_sell_needs_the_position_minus_open_sells() -> None:
    check_pre_trade(order(side="SELL", qty=10), account(AccountType.CASH), Decimal("100"))
    with pytest.raises(PreTradeRejectedError) as info:
        check_pre_trade(order(side="SELL", qty=10), account(AccountType.CASH), Decimal("100"),
                        reserved_sell_quantity=Decimal("1"))
    assert info.value.code == "INSUFFICIENT_POSITION"
    assert "PA12" not in str(info.value)


def test_capabilities_and_tick_sizes() -> None:
    caps = BrokerCapabilities(
        broker="x", order_types=frozenset({OrderType.MARKET, OrderType.LIMIT}),
        time_in_force=frozenset({TimeInForce.DAY}), supports_fractional=True,
    )
    assert capability_problems(order(order_type="LIMIT", price="0.5001"), caps) == []
    assert capability_problems(order(order_type="LIMIT", price="1.50"), caps) == []
    problems = capability_problems(
        order(order_type="STOP", stop_price="10.005", execution_params={"time_in_force": "GTC"}), caps
    )
    assert {p.field for p in problems} == {"order_type", "execution_params.time_in_force", "stop_price"}
