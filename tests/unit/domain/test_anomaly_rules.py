"""The anomaly rules, each with a worked example: what fires, what does not, and the statistics behind them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from domain.broker_integration import BrokerOrder, ExecutionReport, Order, OrderStatus
from domain.broker_integration.rules.anomalies import (
    AnomalyThresholds,
    OrderHistory,
    detect_anomalies,
    fill_constraint_violations,
    latency_spike,
    overfill,
    price_outliers,
    rejection_burst,
)
from domain.broker_integration.rules.anomaly_stats import ewma_baseline, median, modified_zscore
from domain.broker_integration.rules.live_anomalies import (
    TimingThresholds,
    conflicting_execution,
    is_marketable,
    late_acknowledgement,
    overdue,
    refused_report,
    status_regression,
)
from domain.broker_integration.rules.metrics import execution_metrics

T0 = datetime(2026, 11, 25, 15, tzinfo=UTC)
D = Decimal


def order(kind: str = "MARKET", side: str = "BUY", quantity: int = 10, reference: str = "100",
          **terms: str) -> Order:
    broker_order = BrokerOrder(client_order_id="c1", symbol="AAPL", side=side, quantity=quantity, order_type=kind,
                               connection_id="sim", **terms)
    created = Order.create(broker_order, T0, reference_price=D(reference))
    created.submit(T0)
    return created


def fill(price: str, quantity: int = 10, execution_id: str = "e1", seconds: int = 1) -> ExecutionReport:
    return ExecutionReport(execution_id=execution_id, client_order_id="c1", broker_order_id="b1", symbol="AAPL",
                           side="BUY", quantity=quantity, price=price, executed_at=T0 + timedelta(seconds=seconds))


def accepted(o: Order, after_ms: int = 50) -> Order:
    o.accept("b1", T0 + timedelta(milliseconds=after_ms), T0)
    return o


def kinds(o: Order, reports: list[ExecutionReport], history: OrderHistory | None = None) -> list[str]:
    for report in reports:
        o.apply_execution(report)
    return [a.kind for a in detect_anomalies(o, reports, execution_metrics(o, reports), history=history)]


# ---- statistics ----------------------------------------------------------------------------------------


def test_median_and_modified_zscore_worked_example() -> None:
    history = [D(x) for x in ("100", "101", "99", "100", "102", "98", "100", "101")]
    assert median(history) == D("100")
    # MAD = median(|x - 100|) = median(0,1,1,0,2,2,0,1) = 1; z = 0.6745 * (105 - 100) / 1
    assert modified_zscore(D("105"), history) == D("0.6745") * 5
    assert modified_zscore(D("100"), history) == 0
    assert modified_zscore(D("105"), history[:5]) is None  # too little history to judge


def test_modified_zscore_is_robust_to_an_outlier_in_the_history() -> None:
    history = [D(x) for x in ("100", "101", "99", "100", "102", "98", "100", "101", "5000")]
    z = modified_zscore(D("104"), history)
    assert z is not None and z > 2  # the 5000 neither shifts the center nor inflates the spread
    flat = [D("100")] * 8 + [D("101")]  # MAD 0: the mean absolute deviation stands in
    assert modified_zscore(D("110"), flat) is not None and modified_zscore(D("110"), [D("100")] * 9) is None


def test_ewma_baseline_worked_example() -> None:
    baseline = ewma_baseline([D("100"), D("100"), D("200")], alpha=D("0.5"))
    assert baseline is not None
    # deviation: 25 -> 0.5*25 + 0.5*0 = 12.5 -> 0.5*12.5 + 0.5*100 = 56.25; mean: 100 -> 100 -> 150
    assert (baseline.mean, baseline.deviation, baseline.samples) == (D("150"), D("56.25"), 3)
    assert ewma_baseline([]) is None
    with pytest.raises(ValueError):
        ewma_baseline([D(1)], alpha=D(0))


# ---- outcome rules -------------------------------------------------------------------------------------


def test_overfill_is_critical() -> None:
    o = accepted(order(quantity=10))
    (alert,) = overfill(o, [fill("100", 6, "e1"), fill("100", 6, "e2")])
    assert alert.kind == "OVERFILL" and alert.severity == "CRITICAL" and "12" in alert.message
    assert overfill(o, [fill("100", 10)]) == []


@pytest.mark.parametrize(("side", "price", "expected"), [("BUY", "101.01", ["LIMIT_VIOLATION"]),
                                                           ("BUY", "101.00", []),
                                                           ("SELL", "100.99", ["LIMIT_VIOLATION"])])
def test_limit_violations(side: str, price: str, expected: list[str]) -> None:
    o = accepted(order("LIMIT", side=side, price="101"))
    assert [a.kind for a in fill_constraint_violations(o, [fill(price)])] == expected


def test_a_stop_filled_before_its_stop_was_reached() -> None:
    buy_stop = accepted(order("STOP", stop_price="105"))
    assert [a.kind for a in fill_constraint_violations(buy_stop, [fill("104.50")])] == ["STOP_VIOLATION"]
    assert fill_constraint_violations(buy_stop, [fill("105.10")]) == []
    stop_limit = accepted(order("STOP_LIMIT", stop_price="105", price="106"))
    found = {a.kind for a in fill_constraint_violations(stop_limit, [fill("104"), fill("107", execution_id="e2")])}
    assert found == {"STOP_VIOLATION", "LIMIT_VIOLATION"}


def test_price_outlier_needs_distance_and_a_robust_deviation_from_recent_fills() -> None:
    o = accepted(order(reference="100"))
    calm = [D(x) for x in ("100.0", "100.1", "99.9", "100.2", "99.8", "100.0", "100.1", "99.9")]
    (alert,) = price_outliers(o, [fill("103")], calm)  # 300 bps away, z far beyond 3.5
    assert alert.kind == "PRICE_OUTLIER" and "300 bps" in alert.message and "robust z" in alert.message
    assert price_outliers(o, [fill("100.5")], calm) == []  # 50 bps: within the distance
    # The symbol has been trading around 103: the reference is stale, the fill is not an outlier.
    moved = [D(x) for x in ("102.8", "103.1", "102.9", "103.2", "103.0", "102.9", "103.1", "103.0")]
    assert price_outliers(o, [fill("103")], moved) == []
    # Too little history: the distance alone decides.
    assert [a.kind for a in price_outliers(o, [fill("103")], calm[:3])] == ["PRICE_OUTLIER"]


def test_an_outlier_is_reported_once_not_also_as_slippage() -> None:
    found = kinds(accepted(order(reference="100")), [fill("103")], OrderHistory(recent_fill_prices=[]))
    assert found == ["PRICE_OUTLIER"]
    # Without price history (unknown) the outlier rule does not run and slippage reports it.
    assert kinds(accepted(order(reference="100")), [fill("103")]) == ["SLIPPAGE"]


def test_latency_beyond_the_connections_baseline() -> None:
    history = [D(x) for x in ("40", "55", "48", "60", "45", "52")]
    alert = latency_spike("sim", D("1500"), history)
    assert alert is not None and alert.kind == "LATENCY_SPIKE" and alert.scope == "connection"
    assert alert.subject == "sim"
    assert latency_spike("sim", D("120"), history) is None  # slower than usual, but within jitter
    assert latency_spike("sim", D("1500"), history[:4]) is None  # no baseline yet
    # The same 1500 ms is normal on a connection that always answers in about a second and a half.
    slow = [D(x) for x in ("1400", "1550", "1480", "1600", "1450")]
    assert latency_spike("sim", D("1500"), slow) is None


def test_with_a_baseline_the_fixed_slow_ack_limit_gives_way() -> None:
    history = OrderHistory(ack_latencies_ms=[D("1900"), D("2100"), D("2000"), D("2050"), D("1950")])
    assert kinds(accepted(order(), after_ms=2500), [fill("100")], history) == []
    assert kinds(accepted(order(), after_ms=2500), [fill("100")]) == ["SLOW_ACK"]
    spiking = OrderHistory(ack_latencies_ms=[D("50")] * 5)
    assert kinds(accepted(order(), after_ms=1500), [fill("100")], spiking) == ["LATENCY_SPIKE"]


def test_rejection_burst_counts_only_the_window() -> None:
    times = [T0 - timedelta(seconds=s) for s in (1, 20, 40, 60, 250)]
    alert = rejection_burst("sim", times, T0)
    assert alert is not None and alert.kind == "REJECTION_BURST" and "5 orders" in alert.message
    assert rejection_burst("sim", [*times[:4], T0 - timedelta(minutes=6)], T0) is None
    o = order()
    o.reject("no buying power", T0)
    found = [a.kind for a in detect_anomalies(o, [], execution_metrics(o, []),
                                              history=OrderHistory(recent_rejections=times, now=T0))]
    assert found == ["REJECTION_BURST", "REJECTED"]


def test_normal_order_raises_nothing_with_full_history() -> None:
    history = OrderHistory(recent_fill_prices=[D("100")] * 4 + [D("100.1")] * 4,
                           ack_latencies_ms=[D("50")] * 6, recent_rejections=[], now=T0)
    assert kinds(accepted(order(reference="100"), after_ms=60), [fill("100.05")], history) == []


# ---- running-order rules -------------------------------------------------------------------------------


TIMING = TimingThresholds(ack_timeout=timedelta(seconds=2), fill_timeout=timedelta(seconds=5),
                          stall_timeout=timedelta(seconds=10))


def test_late_acknowledgement() -> None:
    assert late_acknowledgement(accepted(order(), after_ms=1500), TIMING) is None
    alert = late_acknowledgement(accepted(order(), after_ms=2500), TIMING)
    assert alert is not None and alert.kind == "UNACKNOWLEDGED" and "2.5 s" in alert.message
    waiting = order()
    assert [a.kind for a in overdue(waiting, T0 + timedelta(seconds=3), TIMING, None)] == ["UNACKNOWLEDGED"]


def test_marketable_order_not_filling() -> None:
    market = accepted(order())
    assert overdue(market, T0 + timedelta(seconds=4), TIMING, None) == []
    assert [a.kind for a in overdue(market, T0 + timedelta(seconds=6), TIMING, None)] == ["NOT_FILLING"]
    resting = accepted(order("LIMIT", price="95", reference="100"))
    assert not is_marketable(resting) and overdue(resting, T0 + timedelta(hours=1), TIMING, None) == []
    assert is_marketable(accepted(order("LIMIT", price="100.5", reference="100")))
    # A stop is marketable once triggered, and counts from its trigger, not from its acknowledgement.
    stop = accepted(order("STOP", stop_price="105"))
    assert overdue(stop, T0 + timedelta(hours=1), TIMING, None) == []
    stop.trigger(T0 + timedelta(minutes=59, seconds=58))
    assert overdue(stop, T0 + timedelta(hours=1), TIMING, None) == []
    assert [a.kind for a in overdue(stop, T0 + timedelta(hours=1, seconds=4), TIMING, None)] == ["NOT_FILLING"]
    assert is_marketable(accepted(order("LIMIT", side="SELL", price="99", reference="100")))


def test_partial_fill_stalled() -> None:
    o = accepted(order(quantity=10))
    o.apply_execution(fill("100", 4))
    last = T0 + timedelta(seconds=1)
    assert overdue(o, last + timedelta(seconds=9), TIMING, last) == []
    (alert,) = overdue(o, last + timedelta(seconds=11), TIMING, last)
    assert alert.kind == "PARTIAL_STALLED" and "4 of 10" in alert.message
    o.apply_execution(fill("100", 6, "e2"))
    assert overdue(o, last + timedelta(hours=1), TIMING, last) == []  # filled: nothing is overdue


def test_status_moving_backwards() -> None:
    o = accepted(order(quantity=10))
    o.apply_execution(fill("100", 4))
    regressed = status_regression(o, OrderStatus.ACCEPTED, D(0), D(4))
    assert regressed is not None and regressed.kind == "STATUS_REGRESSION"
    assert status_regression(o, OrderStatus.PARTIALLY_FILLED, D(4), D(4)) is None
    assert status_regression(o, OrderStatus.PARTIALLY_FILLED, D(7), D(4)) is None  # ahead of us: fills coming
    o.apply_execution(fill("100", 6, "e2"))
    assert status_regression(o, OrderStatus.ACCEPTED, D(10), D(10)) is not None  # "working" after FILLED
    refused = refused_report(o, "IllegalTransitionError", "FILLED -> ACCEPTED")
    assert refused is not None and refused.kind == "STATUS_REGRESSION"
    assert refused_report(o, "ForeignReportError", "x") is None


def test_duplicate_execution_id_for_a_different_fill() -> None:
    first = fill("100", 4)
    assert conflicting_execution(first, fill("100", 4)) is None  # the same fill from a second source
    alert = conflicting_execution(first, fill("101", 4))
    assert alert is not None and alert.kind == "DUPLICATE_EXECUTION" and alert.severity == "CRITICAL"
    assert conflicting_execution(first, fill("101", 4, "e2")) is None


def test_thresholds_are_tunable() -> None:
    strict = AnomalyThresholds(rejection_burst=2, rejection_window=timedelta(seconds=30))
    assert rejection_burst("sim", [T0, T0 - timedelta(seconds=10)], T0, strict) is not None
    assert rejection_burst("sim", [T0, T0 - timedelta(seconds=40)], T0, strict) is None
