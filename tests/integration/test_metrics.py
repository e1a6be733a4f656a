"""The worker's Prometheus endpoint: Temporal SDK metrics and brokerflow's, scraped after real orders."""

from __future__ import annotations

import asyncio
import re
import socket
import uuid
from decimal import Decimal

import httpx
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from activities.models import OrderRequest
from domain.broker_integration import BrokerConnection, ConnectionCredentials
from observability import metrics as m
from observability.runtime import metrics_runtime
from persistence import Repositories
from simulator.testing import running_simulator
from starter.connections import ConnectionClient
from starter.orders import OrderClient
from starter.settings import Settings
from starter.temporal_options import connect_options
from worker import running_worker

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)$")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def samples(text: str, name: str, **labels: str) -> list[float]:
    """Values of the samples named `name` whose labels include `labels`."""
    found = []
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if not match or match.group(1) != name:
            continue
        got = dict(re.findall(r'(\w+)="([^"]*)"', match.group(2) or ""))
        if all(got.get(key) == value for key, value in labels.items()):
            found.append(float(match.group(3)))
    return found


def total(text: str, name: str, **labels: str) -> float:
    return sum(samples(text, name, **labels))


async def scrape(port: int) -> str:
    async with httpx.AsyncClient() as http:
        response = await http.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
    response.raise_for_status()
    return response.text


async def test_metrics_endpoint_after_orders(temporal_env: WorkflowEnvironment, repositories: Repositories,
                                             task_queue: str) -> None:
    port = free_port()
    settings = Settings(metrics_port=port)
    options = connect_options(settings, serve_metrics=True)
    assert options["runtime"] is metrics_runtime("127.0.0.1", port)  # one runtime per address and process
    client = await Client.connect(temporal_env.client.service_client.config.target_host, namespace="default",
                                  data_converter=temporal_env.client.data_converter, runtime=options["runtime"])
    async with running_simulator(autotick=True) as sim:
        await repositories.connections.save(BrokerConnection(connection_id="m-sim", broker="alpaca",
                                                             base_url=sim.base_url))
        await repositories.connections.save_credentials("m-sim", ConnectionCredentials(api_key="SIMKEY",
                                                                                       api_secret="SIMSECRET"))
        await sim.admin.set_price("AAPL", "150.00", 0)
        async with running_worker(client, repositories, task_queue):
            before = await scrape(port)
            connections = ConnectionClient(client, task_queue)
            await connections.up("m-sim")
            orders = OrderClient(client, task_queue)
            filled = OrderRequest(client_order_id=f"m-{uuid.uuid4().hex[:10]}", symbol="AAPL", side="buy",
                                  quantity=Decimal(10), connection_id="m-sim", poll_interval_seconds=0.3)
            too_big = OrderRequest(client_order_id=f"m-{uuid.uuid4().hex[:10]}", symbol="AAPL", side="buy",
                                   quantity=Decimal(10_000_000), order_type="limit", limit_price=Decimal(150),
                                   connection_id="m-sim", poll_interval_seconds=0.3)
            await orders.submit(filled)
            await orders.submit(too_big)
            done = await orders.wait(filled.client_order_id or "", timeout=60)
            refused = await orders.wait(too_big.client_order_id or "", timeout=60)
            # A sell pays the SEC fee and FINRA TAF.
            sell = OrderRequest(client_order_id=f"m-{uuid.uuid4().hex[:10]}", symbol="AAPL", side="sell",
                                quantity=Decimal(10), connection_id="m-sim", poll_interval_seconds=0.3)
            await orders.submit(sell)
            sold = await orders.wait(sell.client_order_id or "", timeout=60)
            assert (done.view.status, refused.view.status, sold.view.status) == ("FILLED", "REJECTED", "FILLED")
            assert sold.view.fees > 0
            text = await _scrape_until_connected(port)
            await connections.down("m-sim")

    # Temporal's own metrics, on the same endpoint.
    assert total(text, "temporal_workflow_completed", workflow_type="OrderWorkflow") >= 3
    assert total(text, "temporal_activity_execution_latency_count", activity_type="submit_order") >= 1
    # Ours: finished orders by status and broker, the rejection, fills, fees, latencies, connection status.
    assert total(text, m.ORDERS, status="FILLED", broker="alpaca") >= 1
    assert total(text, m.ORDERS, status="REJECTED", broker="alpaca") >= 1
    assert total(text, m.REJECTIONS, stage="pre_trade", broker="alpaca") >= 1
    assert total(text, m.STATUS_CHANGES, status="FILLED", broker="alpaca") >= 1
    assert total(text, m.FILLS, broker="alpaca", side="BUY") >= 1
    assert total(text, m.FILLS, broker="alpaca", side="SELL") >= 1
    assert total(text, m.FEES + "_count", broker="alpaca") >= 1
    assert Decimal(str(total(text, m.FEES + "_sum", broker="alpaca"))).quantize(Decimal("0.01")) == sold.view.fees
    assert total(text, m.ACK_LATENCY + "_count", broker="alpaca") >= 1
    assert total(text, m.FILL_LATENCY + "_count", broker="alpaca") >= 1
    assert samples(text, m.CONNECTION_STATUS, connection_id="m-sim", status="CONNECTED") == [1.0]
    assert samples(text, m.CONNECTION_STATUS, connection_id="m-sim", status="FAILED") == [0.0]
    assert total(text, m.CONNECTION_CHECK_LATENCY + "_count", connection_id="m-sim") >= 1
    # The figures moved during the run (nothing of ours before it).
    assert total(before, m.ORDERS) == 0 and total(before, m.FILLS) == 0


async def _scrape_until_connected(port: int) -> str:
    """Scrape until the supervisor has recorded a health check (the gauge and its latency appear)."""
    text = ""
    for _ in range(100):
        text = await scrape(port)
        if samples(text, m.CONNECTION_STATUS, connection_id="m-sim", status="CONNECTED") == [1.0] and total(
                text, m.CONNECTION_CHECK_LATENCY + "_count", connection_id="m-sim") >= 1:
            return text
        await asyncio.sleep(0.2)
    return text
