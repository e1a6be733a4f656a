"""Execution metrics per order (costs per share) and their aggregates by broker, account, symbol and day."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from domain.broker_integration import BrokerOrder, ExecutionReport, FeeKind, FeeReport, Order
from domain.broker_integration.rules.metrics import (
    ExecutionMetrics,
    GroupBy,
    aggregate_metrics,
    execution_metrics,
    execution_quality,
    median,
    percentile,
)

from .test_services import connected, order_manager, world  # noqa: F401  (world is a fixture)

T0 = datetime(2026, 11, 25, 15, tzinfo=UTC)


def filled_order(cid: str, price: str, reference: str = "100", quantity: int = 100, side: str = "BUY",
                 commission: str = "0", fee: str = "0", ack_ms: int = 50) -> tuple[Order, list[ExecutionReport]]:
    order = Order.create(BrokerOrder(client_order_id=cid, symbol="AAPL", side=side, quantity=quantity,
                                     connection_id="conn", account_id="acct"), T0, reference_price=Decimal(reference))
    order.submit(T0)
    order.accept("b-" + cid, T0 + timedelta(milliseconds=ack_ms), T0 + timedelta(milliseconds=ack_ms))
    fill = ExecutionReport(execution_id=f"x-{cid}", client_order_id=cid, symbol="AAPL", side=side, quantity=quantity,
                           price=Decimal(price), commission=Decimal(commission),
                           executed_at=T0 + timedelta(milliseconds=ack_ms + 100))
    order.apply_execution(fill)
    if Decimal(fee):
        order.apply_fee(FeeReport(fee_id=f"f-{cid}", client_order_id=cid, kind=FeeKind.SEC_FEE, amount=Decimal(fee),
                                  charged_at=T0))
    return order, [fill]


def test_per_order_metrics_have_costs_per_share_and_slippage_in_bps() -> None:
    order, fills = filled_order("a", "100.10", commission="1.00", fee="0.05")
    m = execution_metrics(order, fills)
    assert m.slippage_bps == Decimal("10.00")  # bought 10 cents above a $100 arrival price
    assert m.commission_per_share == Decimal("0.01") and m.fees_per_share == Decimal("0.0005")
    assert m.ack_latency_ms == Decimal("50.0") and m.time_to_first_fill_ms == Decimal("100.0")
    assert m.fill_rate == 1 and m.avg_fill_price == Decimal("100.10")
    assert (m.symbol, m.connection_id, m.account_id) == ("AAPL", "conn", "acct")


def test_a_sell_below_the_arrival_price_is_positive_slippage() -> None:
    order, fills = filled_order("s", "99.90", side="SELL")
    assert execution_metrics(order, fills).slippage_bps == Decimal("10.00")


def row(key: str, **fields: Any) -> ExecutionMetrics:
    base: dict[str, Any] = dict(client_order_id=key, status="FILLED", quantity=Decimal(100),
                                filled_quantity=Decimal(100), fill_rate=Decimal(1), avg_fill_price=Decimal(10),
                                reference_price=Decimal(10), slippage_bps=Decimal(0), commission=Decimal(0),
                                fees=Decimal(0), total_cost=Decimal(0), execution_count=1,
                                ack_latency_ms=Decimal(10), time_to_first_fill_ms=Decimal(20),
                                time_to_complete_ms=Decimal(30), broker="alpaca", account_id="A", symbol="AAPL",
                                submitted_at=T0)
    return ExecutionMetrics(**(base | fields))


def test_aggregates_weight_slippage_by_quantity_and_sum_costs() -> None:
    rows = [row("1", slippage_bps=Decimal(10), filled_quantity=Decimal(300), quantity=Decimal(300),
                commission=Decimal(3), ack_latency_ms=Decimal(5)),
            row("2", slippage_bps=Decimal(-10), fees=Decimal("0.50"), ack_latency_ms=Decimal(15)),
            row("3", broker="tradier", status="REJECTED", filled_quantity=Decimal(0), fill_rate=Decimal(0),
                avg_fill_price=None, slippage_bps=None, ack_latency_ms=None),
            row("4", broker="tradier", filled_quantity=Decimal(50), fill_rate=Decimal("0.5"),
                slippage_bps=Decimal(4), ack_latency_ms=Decimal(100))]
    alpaca, tradier = aggregate_metrics(rows, "broker")
    assert (alpaca.key, alpaca.orders, alpaca.filled_quantity) == ("alpaca", 2, Decimal(400))
    assert alpaca.avg_slippage_bps == Decimal("5.00")  # (10 x 300 - 10 x 100) / 400
    assert alpaca.median_slippage_bps == 0 and alpaca.median_ack_latency_ms == 10
    assert alpaca.commission == 3 and alpaca.fees == Decimal("0.50")
    assert alpaca.commission_per_share == Decimal("0.0075") and alpaca.fees_per_share == Decimal("0.00125")
    assert (tradier.orders, tradier.rejected_orders, tradier.filled_orders) == (2, 1, 1)
    assert tradier.fill_rate == Decimal("0.25") and tradier.avg_slippage_bps == Decimal("4.00")
    assert tradier.p95_ack_latency_ms == 100


@pytest.mark.parametrize(("by", "keys"), [
    (GroupBy.ACCOUNT, ["A", "B"]), (GroupBy.SYMBOL, ["AAPL", "MSFT"]), (GroupBy.DAY, ["2026-11-25", "2026-11-26"]),
])
def test_every_grouping(by: GroupBy, keys: list[str]) -> None:
    rows = [row("1"), row("2", account_id="B", symbol="MSFT", submitted_at=T0 + timedelta(days=1))]
    assert [a.key for a in aggregate_metrics(rows, by)] == keys


def test_the_trade_date_wins_over_the_utc_date() -> None:
    late = row("1", submitted_at=datetime(2026, 11, 26, 2, tzinfo=UTC), trade_date=date(2026, 11, 25))
    assert [a.key for a in aggregate_metrics([late], "day")] == ["2026-11-25"]


def test_a_bad_grouping_is_refused() -> None:
    with pytest.raises(ValueError, match="venue"):
        aggregate_metrics([], "venue")


def test_with_charges_recomputes_costs_per_share() -> None:
    updated = row("1").with_charges(Decimal(1), Decimal(2), broker="tradier")
    assert (updated.total_cost, updated.commission_per_share, updated.fees_per_share, updated.broker) == (
        Decimal(3), Decimal("0.01"), Decimal("0.02"), "tradier")


def test_quality_and_statistics() -> None:
    rows = [row("1", slippage_bps=Decimal(2)), row("2", slippage_bps=Decimal(6)),
            row("3", status="REJECTED", slippage_bps=None, ack_latency_ms=None)]
    quality = execution_quality(rows)
    assert (quality.orders, quality.median_slippage_bps, quality.median_ack_latency_ms, quality.rejected) == (
        2, Decimal(4), Decimal(10), 1)
    assert median([]) is None and percentile([Decimal(i) for i in range(1, 21)], 95) == 19


async def test_the_manager_reports_costs_per_share_and_the_broker(world: dict[str, object]) -> None:  # noqa: F811
    await (await connected(world)).establish_connection("conn-1")
    manager = order_manager(world)
    await manager.submit_order(BrokerOrder(client_order_id="m1", symbol="AAPL", side="BUY", quantity=10))
    metrics = await manager.get_execution_metrics("m1")
    assert (metrics.broker, metrics.connection_id, metrics.symbol) == ("fake", "conn-1", "AAPL")
    assert metrics.fees_per_share == (metrics.fees / 10).quantize(Decimal("0.000001"))
    assert metrics.commission_per_share == (metrics.commission / 10).quantize(Decimal("0.000001"))
