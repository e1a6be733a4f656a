"""brokerflow's metrics as recorded on the activity's meter, and the Temporal connection options."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from temporalio import activity
from temporalio.common import MetricMeter
from temporalio.service import TLSConfig
from temporalio.testing import ActivityEnvironment

from domain.broker_integration import BrokerConnection, BrokerOrder, ExecutionReport, FeeReport, Order
from domain.broker_integration.rules.metrics import execution_metrics
from observability import metrics as m
from starter.settings import Settings
from starter.temporal_options import TemporalSettingsError, connect_options, tls_config


class Recorder:
    """One instrument of the fake meter: every value with its labels."""

    def __init__(self, meter: FakeMeter, kind: str, name: str) -> None:
        self.meter, self.kind, self.name = meter, kind, name

    def _record(self, value: float, labels: Mapping[str, Any] | None) -> None:
        self.meter.points.append((self.kind, self.name, value, dict(labels or {})))

    add = record = set = _record


class FakeMeter:
    def __init__(self) -> None:
        self.points: list[tuple[str, str, float, dict[str, Any]]] = []

    def with_additional_attributes(self, attributes: Mapping[str, Any]) -> FakeMeter:
        return self  # the activity's own labels (activity type, task queue) are not under test here

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("create_"):
            return lambda name, description=None, unit=None: Recorder(self, attr.removeprefix("create_"), name)
        raise AttributeError(attr)

    def values(self, name: str, **labels: str) -> list[float]:
        return [v for _, n, v, got in self.points if n == name and all(got.get(k) == x for k, x in labels.items())]


class Connections:
    def __init__(self) -> None:
        self.reads = 0

    async def get(self, connection_id: str) -> BrokerConnection | None:
        self.reads += 1
        return BrokerConnection(connection_id=connection_id, broker="alpaca")


NOW = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)


def filled_order() -> tuple[Order, ExecutionReport]:
    order = Order.create(BrokerOrder(client_order_id="mx-1", symbol="AAPL", side="BUY", quantity=10,
                                     order_type="MARKET", connection_id="conn-m"), NOW,
                         reference_price=Decimal("150"))
    order.submit(NOW)
    report = ExecutionReport(execution_id="e1", client_order_id="mx-1", broker_order_id="b1", symbol="AAPL",
                             side="BUY", quantity=Decimal(10), price=Decimal("150.10"), executed_at=NOW,
                             commission=Decimal("0.50"), cumulative_quantity=Decimal(10))
    return order, report


def in_activity(meter: FakeMeter) -> ActivityEnvironment:
    env = ActivityEnvironment()
    env.metric_meter = meter  # type: ignore[assignment]
    return env


async def test_order_recorded_counts_new_fills_fees_and_statuses() -> None:
    meter, connections = FakeMeter(), Connections()
    order, report = filled_order()
    fee = FeeReport(fee_id="f1", client_order_id="mx-1", kind="SEC_FEE", amount=Decimal("0.02"), charged_at=NOW)

    @activity.defn(name="record_order")
    async def record() -> None:
        await m.order_recorded(connections, order, [report], [fee], [])
        await m.order_recorded(connections, order, [], [], [])

    await in_activity(meter).run(record)
    assert meter.values(m.FILLS, broker="alpaca", side="BUY") == [1]
    assert sorted(meter.values(m.FEES, broker="alpaca")) == [0.02, 0.5]
    assert connections.reads == 1  # the broker of a connection is looked up once


async def test_order_outcome_counts_rejections_by_stage() -> None:
    meter = FakeMeter()
    order, _ = filled_order()
    order.reject("pre-trade: insufficient buying power", NOW)

    @activity.defn(name="record_outcome")
    async def outcome() -> None:
        await m.order_outcome(Connections(), order, execution_metrics(order, []), [])

    await in_activity(meter).run(outcome)
    assert meter.values(m.ORDERS, status="REJECTED", broker="alpaca") == [1]
    assert meter.values(m.REJECTIONS, stage="pre_trade") == [1]
    assert meter.values(m.FILL_LATENCY) == []


async def test_latencies_from_two_clocks_are_never_negative_and_metrics_never_fail() -> None:
    meter = FakeMeter()

    @activity.defn(name="record_outcome")
    async def outcome() -> None:
        m.order_finished("FILLED", "alpaca", None, Decimal("-3.5"), Decimal("1250"))
        m.fee_recorded("alpaca", "SEC_FEE", "not a number")  # type: ignore[arg-type]

    await in_activity(meter).run(outcome)
    assert meter.values(m.ACK_LATENCY) == [0.0]
    assert meter.values(m.FILL_LATENCY) == [1.25]
    assert meter.values(m.FEES) == []


async def test_connection_status_gauge_marks_the_current_status_only() -> None:
    meter = FakeMeter()

    @activity.defn(name="record_status")
    async def status() -> None:
        m.connection_status("sim", "alpaca", "DEGRADED")
        m.connection_checked("sim", False, 2500.0)
        m.alert_raised("order_late_fill_0f3c2a9b-77aa-4e7e-9c1d-1a2b3c4d5e6f", "WARNING")
        m.alert_cleared("connection_degraded", 2)

    await in_activity(meter).run(status)
    assert meter.values(m.CONNECTION_STATUS, connection_id="sim", status="DEGRADED") == [1]
    assert sum(meter.values(m.CONNECTION_STATUS, connection_id="sim")) == 1
    assert len(meter.values(m.CONNECTION_STATUS, connection_id="sim")) == len(m.CONNECTION_STATUSES)
    assert meter.values(m.CONNECTION_CHECK_LATENCY, ok="false") == [2.5]
    assert meter.values(m.ALERTS_RAISED, kind="order_late_fill") == [1]
    assert meter.values(m.ALERTS_CLEARED, kind="connection_degraded") == [2]


async def test_outside_an_activity_nothing_is_recorded() -> None:
    assert m.meter() is MetricMeter.noop
    assert await m.broker_of(Connections(), "conn-m") is None
    m.connection_status("sim", "alpaca", "FAILED")  # no error, no meter


def test_rejection_stages() -> None:
    assert m.rejection_stage("pre-trade: no position to sell") == "pre_trade"
    assert m.rejection_stage("not submitted: ConnectionNotReady") == "connection"
    assert m.rejection_stage("insufficient qty available") == "broker"


def test_connect_options_default_to_plain_local(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("BROKERFLOW_METRICS_PORT", "BROKERFLOW_TEMPORAL_TLS", "BROKERFLOW_TEMPORAL_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    options = connect_options(Settings(), serve_metrics=True)
    assert options["tls"] is False and "runtime" not in options and "api_key" not in options


def test_api_key_implies_tls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BROKERFLOW_TEMPORAL_API_KEY", "cloud-key-123")
    options = connect_options(Settings())
    assert options["api_key"] == "cloud-key-123" and options["tls"] is True


def test_mtls_reads_the_certificate_files(tmp_path: Path) -> None:
    (tmp_path / "client.pem").write_bytes(b"CERT")
    (tmp_path / "client.key").write_bytes(b"KEY")
    settings = Settings(temporal_tls_client_cert=tmp_path / "client.pem",
                        temporal_tls_client_key=tmp_path / "client.key",
                        temporal_tls_server_name="temporal.internal")
    tls = tls_config(settings)
    assert isinstance(tls, TLSConfig)
    assert (tls.client_cert, tls.client_private_key, tls.domain) == (b"CERT", b"KEY", "temporal.internal")
    with pytest.raises(TemporalSettingsError, match="go together"):
        tls_config(Settings(temporal_tls_client_cert=tmp_path / "client.pem"))
    with pytest.raises(TemporalSettingsError, match="cannot read"):
        tls_config(Settings(temporal_tls_server_ca=tmp_path / "missing.pem"))
