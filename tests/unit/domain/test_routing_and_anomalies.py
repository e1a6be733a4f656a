from datetime import UTC, datetime, timedelta
from decimal import Decimal

from domain.broker_integration import (
    BrokerCapabilities,
    BrokerConnection,
    BrokerOrder,
    ExecutionReport,
    Order,
    OrderType,
    TimeInForce,
)
from domain.broker_integration.rules.anomalies import detect_anomalies, slippage_zscore
from domain.broker_integration.rules.metrics import execution_metrics
from domain.broker_integration.rules.routing import RouteCandidate, choose_route

T0 = datetime(2026, 11, 25, 15, tzinfo=UTC)


def connection(cid: str, failures: int = 0, status: str = "CONNECTED") -> BrokerConnection:
    c = BrokerConnection(connection_id=cid, broker="x")
    c.begin_connect(T0)
    c.authenticated(T0, None)
    for _ in range(failures):
        c.record_failure(T0, "slow", max_failures=10)
    if status == "FAILED":
        for _ in range(10):
            c.record_failure(T0, "down", max_failures=10)
    return c


def caps(commission: str = "0", types: frozenset[OrderType] = frozenset(OrderType)) -> BrokerCapabilities:
    return BrokerCapabilities(broker="x", commission_per_share=Decimal(commission), order_types=types,
                              time_in_force=frozenset(TimeInForce))


ORDER = BrokerOrder(symbol="AAPL", side="BUY", quantity=100, order_type="LIMIT", price="10.00")


def test_router_skips_failed_and_incapable_connections_and_prefers_healthy_then_cheap() -> None:
    candidates = [
        RouteCandidate(connection("a-failed", status="FAILED"), caps()),
        RouteCandidate(connection("b-no-limit"), caps(types=frozenset({OrderType.MARKET}))),
        RouteCandidate(connection("c-degraded", failures=1), caps("0")),
        RouteCandidate(connection("d-pricey"), caps("0.005")),
        RouteCandidate(connection("e-cheap"), caps("0.001")),
    ]
    decision = choose_route(ORDER, candidates, T0 + timedelta(seconds=1))
    assert decision.connection_id == "e-cheap"
    assert any(r.startswith("a-failed") for r in decision.reasons)
    assert any(r.startswith("b-no-limit") for r in decision.reasons)


def test_router_without_a_usable_connection_says_why() -> None:
    decision = choose_route(ORDER, [RouteCandidate(connection("a", status="FAILED"), caps())], T0)
    assert decision.connection_id is None and decision.reasons


def filled(prices: list[str], limit: str = "10.00", reference: str = "10.00") -> tuple[Order, list[ExecutionReport]]:
    order = Order.create(BrokerOrder(client_order_id="c1", symbol="AAPL", side="BUY", quantity=len(prices),
                                     order_type="LIMIT", price=limit), T0, reference_price=Decimal(reference))
    order.submit(T0)
    order.accept("b1", T0 + timedelta(milliseconds=3000), T0)
    reports = [ExecutionReport(execution_id=f"e{i}", client_order_id="c1", broker_order_id="b1", symbol="AAPL",
                               side="BUY", quantity=1, price=p, executed_at=T0 + timedelta(seconds=i + 1),
                               fees="0.01") for i, p in enumerate(prices)]
    for report in reports:
        order.apply_execution(report)
    return order, reports


def test_metrics_measure_slippage_fill_rate_latency_and_costs() -> None:
    order, reports = filled(["10.01", "10.03"])
    metrics = execution_metrics(order, reports)
    assert metrics.fill_rate == 1 and metrics.avg_fill_price == Decimal("10.02")
    assert metrics.slippage_bps == Decimal("20.00") and metrics.fees == Decimal("0.02")
    assert metrics.ack_latency_ms == Decimal("3000.0") and metrics.time_to_first_fill_ms == Decimal("1000.0")


def test_anomaly_rules_fire_on_limit_violation_slow_ack_and_slippage() -> None:
    order, reports = filled(["10.50"], limit="10.00", reference="10.00")
    kinds = [a.kind for a in detect_anomalies(order, reports, execution_metrics(order, reports))]
    assert kinds[0] == "LIMIT_VIOLATION" and {"SLIPPAGE", "SLOW_ACK"} <= set(kinds)
    clean, clean_reports = filled(["10.00"])
    clean.accepted_at = clean.submitted_at
    assert detect_anomalies(clean, clean_reports, execution_metrics(clean, clean_reports)) == []


def test_slippage_zscore_needs_history() -> None:
    assert slippage_zscore(Decimal("5"), [Decimal("1")] * 5) is None
    history = [Decimal(x) for x in ("1", "2", "1", "2", "1", "2", "1", "2", "1", "2")]
    z = slippage_zscore(Decimal("10"), history)
    assert z is not None and z > 10


def test_stop_orders_are_measured_against_their_stop_and_trailing_stops_not_at_all() -> None:
    stop = Order.create(BrokerOrder(client_order_id="s1", symbol="AAPL", side="BUY", quantity=1, order_type="STOP",
                                    stop_price="121.20"), T0, reference_price=Decimal("120"))
    stop.submit(T0)
    report = ExecutionReport(execution_id="x", client_order_id="s1", symbol="AAPL", side="BUY", quantity=1,
                             price="121.32", executed_at=T0)
    stop.apply_execution(report)
    assert execution_metrics(stop, [report]).slippage_bps == Decimal("9.90")
    trail = Order.create(BrokerOrder(client_order_id="t1", symbol="AAPL", side="SELL", quantity=1,
                                     order_type="TRAILING_STOP", trail_percent="1"), T0, reference_price=Decimal(190))
    assert execution_metrics(trail, []).slippage_bps is None
