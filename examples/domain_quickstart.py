"""The seed's domain examples, runnable: PostgreSQL repositories and the Alpaca adapter.

Point ALPACA_BASE_URL at a broker (the simulator: `brokerflow simulator --port 8787`, or Alpaca's paper
API with your own keys in APCA_API_KEY_ID / APCA_API_SECRET_KEY) and run after `brokerflow dev up`.
"""

import asyncio
import os
from decimal import Decimal

from brokers.registry import install_defaults
from domain.broker_integration import (
    BrokerConnection,
    BrokerConnectionManager,
    BrokerOrder,
    ConnectionCredentials,
    ExecutionParameters,
    OrderExecutionManager,
)
from persistence import open_repositories
from starter.devstack import database_url_for


async def main() -> None:
    repositories = await open_repositories(os.environ.get("DATABASE_URL") or database_url_for())
    install_defaults(credentials=repositories.connections.get_credentials)
    connection_repository = repositories.connections
    order_repository, execution_repository = repositories.orders, repositories.executions
    status_repository = repositories.statuses

    # Establishing a broker connection
    connection_manager = BrokerConnectionManager(connection_repository)
    credentials = ConnectionCredentials(
        api_key=os.environ.get("APCA_API_KEY_ID", "SIMKEY"),
        api_secret=os.environ.get("APCA_API_SECRET_KEY", "SIMSECRET"),
        access_token="your_access_token",
    )
    base_url = os.environ.get("ALPACA_BASE_URL", "http://127.0.0.1:8787")
    await connection_manager.register_connection(
        BrokerConnection(connection_id="connection_id", broker="alpaca", base_url=base_url), credentials
    )
    success = await connection_manager.establish_connection("connection_id")
    print("connected:", success)

    # Submitting an order
    order_manager = OrderExecutionManager(
        order_repository, execution_repository, status_repository, connection_repository
    )
    order = BrokerOrder(
        broker_order_id="order_123",
        symbol="AAPL",
        side="BUY",
        quantity=100,
        order_type="LIMIT",
        price=Decimal("150.00"),
        execution_params=ExecutionParameters(time_in_force="DAY"),
    )
    result = await order_manager.submit_order(order)
    print("submitted:", result.status, result.broker_order_id)

    # Monitoring order status
    status = await order_manager.get_order_status("order_123")
    executions = await order_manager.get_execution_history("order_123")
    metrics = await order_manager.get_execution_metrics("order_123")
    print("status:", status.status, "filled:", status.filled_quantity, "executions:", len(executions))
    print("fill rate:", metrics.fill_rate, "fees:", metrics.fees)
    await repositories.close()


if __name__ == "__main__":
    asyncio.run(main())
