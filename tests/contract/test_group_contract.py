"""The native order-group contract, asked of every adapter whose capabilities declare `supports_order_classes`.

What activities/group_activities.py relies on: `submit_group` returns the group's orders by role, a repeat either
returns the same orders or raises BrokerDuplicateOrderError (never a second group), `get_group_by_client_id`
finds them ({} for an unknown group), and the broker couples the legs (one exit's fill cancels the other).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from domain.broker_integration import (
    BrokerDuplicateOrderError,
    BrokerGateway,
    BrokerOrder,
    LegRole,
    OrderGroupRequest,
    OrderStatus,
)
from simulator.testing import SimulatorHandle
from tests.contract.conftest import BrokerUnderTest
from tests.trade_updates import eventually

pytestmark = pytest.mark.integration


def _oco(broker: BrokerUnderTest, gid: str) -> OrderGroupRequest:
    legs = [
        {
            "role": "TAKE_PROFIT",
            "side": "SELL",
            "quantity": 10,
            "order_type": "LIMIT",
            "limit_price": "195",
            "time_in_force": "GTC",
        },
        {
            "role": "STOP_LOSS",
            "side": "SELL",
            "quantity": 10,
            "order_type": "STOP",
            "stop_price": "180",
            "time_in_force": "GTC",
        },
    ]
    return OrderGroupRequest(
        group_id=gid,
        kind="OCO",
        symbol=broker.symbol,
        asset_class=broker.asset_class,
        legs=legs,
        connection_id="contract",
    )


def _native(gateway: BrokerGateway) -> Any:
    if not getattr(gateway.capabilities(), "supports_order_classes", False):
        pytest.skip("the broker declares no native order groups (they are emulated)")
    return gateway


async def test_an_oco_of_a_position_is_held_by_the_broker(
    sim: SimulatorHandle, broker: BrokerUnderTest, gateway: BrokerGateway
) -> None:
    native = _native(gateway)
    await sim.admin.set_price(broker.sim_symbol, "187.5", volatility="0")
    position = BrokerOrder(
        client_order_id="contract-grp-pos",
        symbol=broker.symbol,
        side="BUY",
        quantity="10",
        asset_class=broker.asset_class,
        **broker.marketable,
    )
    await gateway.submit_order(position)
    await eventually(lambda: _filled(gateway, "contract-grp-pos"))
    group = _oco(broker, "contract-grp-1")
    legs = await native.submit_group(group)  # both exits of 10 against a position of 10
    assert set(legs) == {LegRole.TAKE_PROFIT, LegRole.STOP_LOSS}
    assert {s.status for s in legs.values()} == {OrderStatus.ACCEPTED}
    assert (legs[LegRole.TAKE_PROFIT].limit_price, legs[LegRole.STOP_LOSS].stop_price) == (Decimal(195), Decimal(180))
    try:
        again = await native.submit_group(group)
    except BrokerDuplicateOrderError:
        again = legs
    assert {r: s.broker_order_id for r, s in again.items()} == {r: s.broker_order_id for r, s in legs.items()}
    found = await native.get_group_by_client_id(group)
    assert {r: s.broker_order_id for r, s in found.items()} == {r: s.broker_order_id for r, s in legs.items()}
    assert await native.get_group_by_client_id(_oco(broker, "contract-grp-never")) == {}
    await sim.admin.set_price(broker.sim_symbol, "196", volatility="0")
    await sim.admin.advance(1)

    async def take_profit_done() -> bool:
        now = await native.get_group_by_client_id(group)
        return bool(now) and now[LegRole.TAKE_PROFIT].status is OrderStatus.FILLED

    await eventually(take_profit_done)
    done = await native.get_group_by_client_id(group)
    assert done[LegRole.STOP_LOSS].status is OrderStatus.CANCELED
    assert done[LegRole.STOP_LOSS].filled_quantity == 0 and done[LegRole.TAKE_PROFIT].filled_quantity == 10


async def _filled(gateway: BrokerGateway, client_order_id: str) -> bool:
    found = await gateway.get_order_by_client_id(client_order_id)
    return found is not None and found.status is OrderStatus.FILLED
