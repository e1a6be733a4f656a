"""`make bench`: throughput and latency figures (printed, never asserted).

- the pure order state machine: fills applied per second;
- OrderWorkflow end to end on a local Temporal dev server with the real activities over an in-memory
  broker: orders per second and submit-to-final latency percentiles;
- the peak memory of this process (ru_maxrss).
"""

from __future__ import annotations

import asyncio
import resource
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal

from domain.broker_integration import BrokerOrder, ExecutionReport, Order


def bench_state_machine(orders: int = 2000, fills: int = 10) -> None:
    start = time.perf_counter()
    at = datetime(2026, 1, 1, tzinfo=UTC)
    for n in range(orders):
        order = Order.create(BrokerOrder(client_order_id=f"b{n}", symbol="AAPL", side="BUY", quantity=fills), at)
        order.submit(at)
        order.accept("x", at)
        for i in range(fills):
            order.apply_execution(ExecutionReport(execution_id=f"{n}-{i}", client_order_id=f"b{n}", symbol="AAPL",
                                                  side="BUY", quantity=1, price=Decimal("10.01"), executed_at=at))
    elapsed = time.perf_counter() - start
    print(f"state machine: {orders * fills / elapsed:,.0f} fills/s ({orders} orders x {fills} fills, {elapsed:.2f}s)")


async def bench_workflows(count: int = 100, concurrency: int = 20) -> None:
    from temporalio.contrib.pydantic import pydantic_data_converter
    from temporalio.testing import WorkflowEnvironment

    from activities.models import OrderRequest
    from domain.broker_integration import BrokerConnection, ConnectionCredentials
    from starter.orders import OrderClient
    from starter.search_attributes import SEARCH_ATTRIBUTE_KEYS
    from tests.conftest import temporal_binary
    from tests.unit.domain.fakes import (
        FakeClock,
        FakeConnections,
        FakeExecutions,
        FakeOrders,
        FakeProvider,
        FakeStatuses,
    )
    from tests.workflows.fake_broker import FakeBroker
    from tests.workflows.test_order_workflow import FakeAccounts, Repos
    from worker import build_worker

    env = await WorkflowEnvironment.start_local(dev_server_existing_path=temporal_binary("temporal"),
                                                data_converter=pydantic_data_converter,
                                                search_attributes=SEARCH_ATTRIBUTE_KEYS, dev_server_log_level="error")
    repos = Repos(FakeConnections(), FakeAccounts(), FakeOrders(), FakeExecutions(), FakeStatuses())
    await repos.connections.save(BrokerConnection(connection_id="conn-1", broker="fakebroker"))
    await repos.connections.save_credentials("conn-1", ConnectionCredentials(api_key="k", api_secret="s"))
    queue = f"bench-{uuid.uuid4().hex[:8]}"
    worker, _ = build_worker(env.client, repos, FakeProvider(FakeBroker()), FakeClock(), queue)
    client = OrderClient(env.client, queue)
    latencies: list[float] = []
    gate = asyncio.Semaphore(concurrency)

    async def one(n: int) -> None:
        async with gate:
            started = time.perf_counter()
            cid = await client.submit(OrderRequest(client_order_id=f"bench-{queue}-{n}", symbol="AAPL", side="BUY",
                                                   quantity=1, connection_id="conn-1"))
            await client.wait(cid, timeout=120)
            latencies.append(time.perf_counter() - started)

    async with worker:
        start = time.perf_counter()
        await asyncio.gather(*(one(n) for n in range(count)))
        elapsed = time.perf_counter() - start
    await env.shutdown()
    q = statistics.quantiles(latencies, n=100)
    print(f"order workflows: {count / elapsed:.1f} orders/s ({count} market orders, {concurrency} in flight); "
          f"submit-to-FILLED p50 {q[49] * 1000:.0f} ms, p95 {q[94] * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms")


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    bench_state_machine()
    asyncio.run(bench_workflows(count))
    print(f"peak memory of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
