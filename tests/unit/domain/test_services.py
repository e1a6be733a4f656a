from decimal import Decimal

import pytest

from domain.broker_integration import (
    AmbiguousOutcomeError,
    BrokerConnection,
    BrokerConnectionManager,
    BrokerOrder,
    ConfigurationError,
    ConnectionCredentials,
    ConnectionNotReadyError,
    ConnectionStatus,
    ExecutionParameters,
    InvalidOrderError,
    OrderExecutionManager,
    OrderStatus,
    runtime,
)

from .fakes import (
    FakeClock,
    FakeConnections,
    FakeExecutions,
    FakeGateway,
    FakeOrders,
    FakeProvider,
    FakeStatuses,
)


@pytest.fixture
def world() -> dict[str, object]:
    clock = FakeClock()
    gateway = FakeGateway(clock)
    return {
        "clock": clock, "gateway": gateway, "provider": FakeProvider(gateway), "connections": FakeConnections(),
        "orders": FakeOrders(), "executions": FakeExecutions(), "statuses": FakeStatuses(),
    }


async def connected(world: dict[str, object], key: str = "good") -> BrokerConnectionManager:
    manager = BrokerConnectionManager(world["connections"], gateways=world["provider"], clock=world["clock"])  # type: ignore[arg-type]
    await manager.register_connection(
        BrokerConnection(connection_id="conn-1", broker="fake"),
        ConnectionCredentials(api_key=key, api_secret="s", access_token="t"),
    )
    return manager


def order_manager(world: dict[str, object]) -> OrderExecutionManager:
    return OrderExecutionManager(
        world["orders"], world["executions"], world["statuses"], world["connections"],  # type: ignore[arg-type]
        gateways=world["provider"], clock=world["clock"],  # type: ignore[arg-type]
    )


async def test_seed_constructors_need_configured_defaults() -> None:
    runtime.reset()
    manager = BrokerConnectionManager(FakeConnections())
    await manager.register_connection(BrokerConnection(connection_id="c", broker="fake"), ConnectionCredentials())
    with pytest.raises(ConfigurationError):
        await manager.establish_connection("c")


async def test_establish_connection_authenticates(world: dict[str, object]) -> None:
    manager = await connected(world)
    assert await manager.establish_connection("conn-1") is True
    connection = await manager.get_connection("conn-1")
    assert connection.status is ConnectionStatus.CONNECTED and connection.authenticated_at is not None


async def test_bad_credentials_leave_connection_failed(world: dict[str, object]) -> None:
    manager = await connected(world, key="bad")
    assert await manager.establish_connection("conn-1") is False
    assert (await manager.get_connection("conn-1")).status is ConnectionStatus.FAILED


async def test_no_order_before_authentication(world: dict[str, object]) -> None:
    await connected(world)
    with pytest.raises(ConnectionNotReadyError):
        await order_manager(world).submit_order(BrokerOrder(symbol="AAPL", side="BUY", quantity=1))
    assert world["gateway"].received == []  # type: ignore[attr-defined]


async def test_seed_flow_limit_order_accepted_and_tracked(world: dict[str, object]) -> None:
    await (await connected(world)).establish_connection("conn-1")
    om = order_manager(world)
    order = BrokerOrder(broker_order_id="order_123", symbol="AAPL", side="BUY", quantity=100, order_type="LIMIT",
                        price=Decimal("150.00"), execution_params=ExecutionParameters(time_in_force="DAY"))
    result = await om.submit_order(order)
    assert result.accepted and result.status is OrderStatus.ACCEPTED and result.broker_order_id == "B1"
    status = await om.get_order_status("order_123")
    assert status.status is OrderStatus.ACCEPTED and status.remaining_quantity == 100
    assert await om.get_execution_history("order_123") == []
    history = await world["statuses"].history("order_123")  # type: ignore[attr-defined]
    assert [u.status for u in history] == [OrderStatus.SUBMITTED, OrderStatus.ACCEPTED]


async def test_market_order_fills_and_reports_metrics(world: dict[str, object]) -> None:
    await (await connected(world)).establish_connection("conn-1")
    om = order_manager(world)
    result = await om.submit_order(BrokerOrder(client_order_id="m1", symbol="AAPL", side="BUY", quantity=10))
    assert result.status is OrderStatus.FILLED
    executions = await om.get_execution_history("m1")
    assert [e.quantity for e in executions] == [Decimal("10")]
    metrics = await om.get_execution_metrics("m1")
    assert metrics.fill_rate == 1 and metrics.fees == Decimal("0.03") and metrics.slippage_bps == 0


async def test_resubmitting_the_same_order_reaches_the_broker_once(world: dict[str, object]) -> None:
    await (await connected(world)).establish_connection("conn-1")
    om = order_manager(world)
    order = BrokerOrder(client_order_id="dup", symbol="AAPL", side="BUY", quantity=1, order_type="LIMIT", price=1)
    first = await om.submit_order(order)
    second = await om.submit_order(order)
    assert first == second
    assert len(world["gateway"].received) == 1  # type: ignore[attr-defined]


async def test_ambiguous_submit_is_resolved_by_lookup_not_resubmission(world: dict[str, object]) -> None:
    await (await connected(world)).establish_connection("conn-1")
    gateway: FakeGateway = world["gateway"]  # type: ignore[assignment]
    gateway.drop_response = True
    result = await order_manager(world).submit_order(
        BrokerOrder(client_order_id="amb", symbol="AAPL", side="BUY", quantity=1, order_type="LIMIT", price=1)
    )
    assert result.status is OrderStatus.ACCEPTED
    assert [o.client_order_id for o in gateway.received] == ["amb"]


async def test_unknown_outcome_without_order_at_broker_is_retried(world: dict[str, object]) -> None:
    await (await connected(world)).establish_connection("conn-1")
    gateway: FakeGateway = world["gateway"]  # type: ignore[assignment]
    gateway.fail_next_submit = AmbiguousOutcomeError("reset before the broker saw it")
    result = await order_manager(world).submit_order(
        BrokerOrder(client_order_id="r1", symbol="AAPL", side="BUY", quantity=1, order_type="LIMIT", price=1)
    )
    assert result.status is OrderStatus.ACCEPTED and len(gateway.received) == 1


async def test_pre_trade_rejection_for_buying_power_and_position(world: dict[str, object]) -> None:
    await (await connected(world)).establish_connection("conn-1")
    om = order_manager(world)
    big = await om.submit_order(BrokerOrder(client_order_id="big", symbol="AAPL", side="BUY", quantity=1000))
    assert big.status is OrderStatus.REJECTED and "INSUFFICIENT_BUYING_POWER" in (big.reason or "")
    sell = await om.submit_order(BrokerOrder(client_order_id="s1", symbol="MSFT", side="SELL", quantity=6))
    assert sell.status is OrderStatus.REJECTED and "INSUFFICIENT_POSITION" in (sell.reason or "")
    assert world["gateway"].received == []  # type: ignore[attr-defined]


async def test_capability_problems_raise_and_change_nothing(world: dict[str, object]) -> None:
    await (await connected(world)).establish_connection("conn-1")
    om = order_manager(world)
    with pytest.raises(InvalidOrderError) as info:
        await om.submit_order(BrokerOrder(client_order_id="f", symbol="AAPL", side="BUY", quantity="0.5",
                                          order_type="LIMIT", price="10.001"))
    assert set(info.value.fields) == {"quantity", "price"}
    assert await world["orders"].get("f") is None  # type: ignore[attr-defined]


class RecordingSupervisor:
    def __init__(self) -> None:
        self.supervised: list[str] = []

    async def ensure_supervised(self, connection_id: str) -> None:
        self.supervised.append(connection_id)


async def test_an_established_connection_gets_supervised(world: dict[str, object]) -> None:
    supervisor = RecordingSupervisor()
    manager = BrokerConnectionManager(world["connections"], gateways=world["provider"],  # type: ignore[arg-type]
                                      clock=world["clock"], supervisor=supervisor)  # type: ignore[arg-type]
    await manager.register_connection(BrokerConnection(connection_id="conn-1", broker="fake"),
                                      ConnectionCredentials(api_key="good", api_secret="s"))
    await manager.register_connection(BrokerConnection(connection_id="conn-2", broker="fake"),
                                      ConnectionCredentials(api_key="bad", api_secret="s"))
    assert await manager.establish_connection("conn-1") is True
    assert await manager.establish_connection("conn-2") is False
    assert supervisor.supervised == ["conn-1"]
