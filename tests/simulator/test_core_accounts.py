"""Exchange core: buying power per account type, shorting, PDT, fees, commissions and T+1 settlement."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from simulator.config import AccountConfig
from simulator.core import Rejection, RejectKind
from simulator.core.clock import next_business_day
from tests.simulator.helpers import exchange, order, small_margin_account

D = Decimal


def _rejection(ex: object, account: str, request: object) -> Rejection:
    with pytest.raises(Rejection) as info:
        ex.submit(account, request)  # type: ignore[attr-defined]
    return info.value


def test_margin_account_has_twice_its_equity_to_spend() -> None:
    ex = exchange()
    rejected = _rejection(ex, "ACC1", order("NVDA", "buy", "229"))
    assert rejected.kind is RejectKind.INSUFFICIENT_BUYING_POWER
    assert rejected.extra["cost_basis"] == D(229) * D("875.41")
    ex.submit("ACC1", order("NVDA", "buy", "228"))
    assert ex.state.accounts["ACC1"].positions["NVDA"].qty == 228


def test_open_buy_orders_reserve_buying_power() -> None:
    ex = exchange()
    ex.submit("ACC2", order("AAPL", "buy", "200", "limit", "gtc", limit_price="180"))  # 36,000 held back
    assert _rejection(ex, "ACC2", order("AAPL", "buy", "80")).kind is RejectKind.INSUFFICIENT_BUYING_POWER


def test_cash_account_spends_only_settled_cash_and_settles_t_plus_1() -> None:
    ex = exchange()
    assert _rejection(ex, "ACC2", order("AAPL", "buy", "300")).kind is RejectKind.INSUFFICIENT_BUYING_POWER
    ex.submit("ACC2", order("AAPL", "buy", "200"))
    ex.submit("ACC2", order("AAPL", "sell", "100"))
    account = ex.state.accounts["ACC2"]
    today = ex.state.clock.today()
    assert account.cash == D(50000) - D("37502") + D("18749") - D("0.53") - D("0.02")
    assert account.settled_cash(today) == account.cash - D("18749")
    assert _rejection(ex, "ACC2", order("AAPL", "buy", "100")).kind is RejectKind.INSUFFICIENT_BUYING_POWER
    ex.advance(D(24 * 3600))
    ex.submit("ACC2", order("AAPL", "buy", "100"))


def test_ira_may_use_unsettled_cash_but_never_borrows_or_shorts() -> None:
    ex = exchange()
    ex.submit("ACC3", order("AAPL", "buy", "200"))
    ex.submit("ACC3", order("AAPL", "sell", "100"))
    ex.submit("ACC3", order("AAPL", "buy", "100"))  # proceeds not settled yet: allowed in the IRA
    assert _rejection(ex, "ACC3", order("NVDA", "buy", "100")).kind is RejectKind.INSUFFICIENT_BUYING_POWER
    assert _rejection(ex, "ACC3", order("TSLA", "sell", "1")).kind is RejectKind.SHORT_NOT_ALLOWED


def test_shorting_only_in_margin_accounts_and_only_shortable_assets() -> None:
    ex = exchange()
    assert _rejection(ex, "ACC2", order("TSLA", "sell", "1")).message == "account is not allowed to short"
    ex.submit("ACC1", order("TSLA", "sell", "10"))
    assert ex.state.accounts["ACC1"].positions["TSLA"].qty == -10
    assert _rejection(ex, "ACC1", order("SIRI", "sell", "10")).kind is RejectKind.SHORT_NOT_ALLOWED


def test_selling_more_than_held_or_held_for_orders_is_refused() -> None:
    ex = exchange()
    ex.submit("ACC1", order("AAPL", "buy", "5"))
    too_many = _rejection(ex, "ACC1", order("AAPL", "sell", "10"))
    assert too_many.kind is RejectKind.INSUFFICIENT_QTY
    assert too_many.message == "insufficient qty available for order (requested: 10, available: 5)"
    ex.submit("ACC1", order("AAPL", "sell", "5", "limit", "gtc", limit_price="300"))
    held = _rejection(ex, "ACC1", order("AAPL", "sell", "1"))
    assert held.extra["held_for_orders"] == 5 and held.extra["available"] == 0


def _round_trip(ex: object, account: str) -> None:
    ex.submit(account, order("AAPL", "buy", "1"))  # type: ignore[attr-defined]
    ex.submit(account, order("AAPL", "sell", "1"))  # type: ignore[attr-defined]


def test_pdt_protection_blocks_a_fourth_day_trade_under_25k() -> None:
    ex = exchange(extra_accounts=[small_margin_account()])
    for _ in range(3):
        _round_trip(ex, "SMALL")
    assert ex.state.accounts["SMALL"].day_trade_count(ex.state.clock.today()) == 3
    ex.submit("SMALL", order("AAPL", "buy", "1"))
    rejected = _rejection(ex, "SMALL", order("AAPL", "sell", "1"))
    assert rejected.kind is RejectKind.PATTERN_DAY_TRADING


def test_four_day_trades_flag_a_pattern_day_trader_with_4x_buying_power() -> None:
    ex = exchange()
    for _ in range(4):
        _round_trip(ex, "ACC1")
    account = ex.state.accounts["ACC1"]
    assert account.pattern_day_trader
    assert account.multiplier(ex.state.marks()) == 4
    ex.submit("ACC1", order("NVDA", "buy", "400"))  # about 350k: more than 2x, within 4x


def test_sells_pay_sec_fee_and_taf_as_fee_activities() -> None:
    ex = exchange()
    ex.submit("ACC1", order("AAPL", "buy", "100"))
    sold = ex.submit("ACC1", order("AAPL", "sell", "100"))
    fees = [a for a in ex.state.activities if a.activity_type == "FEE"]
    assert [(f.data["activity_sub_type"], f.data["net_amount"]) for f in fees] == [
        ("REG", D("-0.53")), ("TAF", D("-0.02"))]
    assert all(f.data["order_id"] == sold.id for f in fees)
    assert ex.state.accounts["ACC1"].fees_paid == D("0.55")


def test_taf_is_capped_per_trade() -> None:
    ex = exchange()
    assert ex.state.fees.taf(D(1_000_000)) == D("8.30")


def test_commission_accounts_pay_per_share_with_a_minimum() -> None:
    ex = exchange(extra_accounts=[AccountConfig(id="COMM", cash=D(10000), commission_per_share=D("0.005"),
                                                commission_minimum=D(1))])
    placed = ex.submit("COMM", order("AAPL", "buy", "10"))
    assert ex.state.orders[placed.id].commission == D(1)
    assert ex.state.accounts["COMM"].cash == D(10000) - D("1875.10") - D(1)


def test_settlement_skips_weekends() -> None:
    assert next_business_day(date(2026, 3, 6)) == date(2026, 3, 9)
    assert next_business_day(date(2026, 3, 2)) == date(2026, 3, 3)
