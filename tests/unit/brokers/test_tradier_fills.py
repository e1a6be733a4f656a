"""Executions derived from Tradier's cumulative figures: one id per cumulative quantity, whichever source."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from brokers.tradier.fills import FillLedger, OrderInfo
from domain.broker_integration import OrderSide

D = Decimal
AT = datetime(2026, 3, 2, 15, tzinfo=UTC)
INFO = OrderInfo("228176", "bf-7", "SPY", OrderSide.BUY, "VA000001", D("100"))


def test_each_rise_is_one_execution_at_the_price_the_average_implies() -> None:
    ledger = FillLedger("conn")
    first = ledger.observe(INFO, D("25"), D("512.30"), AT)
    second = ledger.observe(INFO, D("40"), D("512.3375"), AT)  # 15 more at 512.40
    assert [(r.execution_id, r.quantity, r.price, r.cumulative_quantity) for r in first + second] == [
        ("228176-25", D("25"), D("512.3"), D("25")), ("228176-40", D("15"), D("512.4"), D("40"))]
    assert all(r.client_order_id == "bf-7" and r.side is OrderSide.BUY for r in first + second)


def test_seen_figures_give_nothing_new_and_the_same_reports() -> None:
    ledger = FillLedger()
    ledger.observe(INFO, D("25"), D("512.3"), AT)
    assert ledger.observe(INFO, D("25"), D("512.3"), AT) == []
    assert ledger.observe(INFO, D("10"), D("512.3"), AT) == [], "an older event changes nothing"
    assert ledger.observe(INFO, D("0"), None, AT) == []
    assert [r.execution_id for r in ledger.reports("228176")] == ["228176-25"]


def test_a_late_start_splits_at_the_last_fill() -> None:
    ledger = FillLedger()
    reports = ledger.observe(INFO, D("40"), D("512.3"), AT, last_qty=D("15"), last_price=D("512.31"))
    assert [(r.quantity, r.cumulative_quantity, r.price) for r in reports] == [
        (D("25"), D("25"), D("512.294")), (D("15"), D("40"), D("512.31"))]
    assert sum(r.quantity * r.price for r in reports) == D("40") * D("512.3")
