"""The BrokerGateway contract, asked of every adapter against its broker's simulator front end."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from activities.connection_models import StreamInput, StreamPosition
from activities.trade_stream import StreamRunner
from domain.broker_integration import (
    AmbiguousOutcomeError,
    BrokerGateway,
    BrokerOrder,
    BrokerRejectedError,
    ExecutionParameters,
    OrderAmendment,
    OrderStatus,
    TradeEventKind,
)
from domain.broker_integration.rules.validation import capability_problems
from simulator.testing import SimulatorHandle
from tests.contract.conftest import BrokerUnderTest, accepted_submissions
from tests.trade_updates import Collector, RecordingForwarder, eventually

pytestmark = pytest.mark.integration

GTC = ExecutionParameters(time_in_force="GTC")


def order(broker: BrokerUnderTest, cid: str, **fields: Any) -> BrokerOrder:
    data: dict[str, Any] = {"client_order_id": cid, "symbol": broker.symbol, "side": "BUY", "quantity": "10",
                            "asset_class": broker.asset_class}
    data.update(fields)
    return BrokerOrder(**data)


def resting(broker: BrokerUnderTest, cid: str, price: str = "150") -> BrokerOrder:
    return order(broker, cid, order_type="LIMIT", price=price, execution_params=GTC)


async def test_submit_then_lookup_by_client_order_id(sim: SimulatorHandle, broker: BrokerUnderTest,
                                                     gateway: BrokerGateway) -> None:
    placed = await gateway.submit_order(resting(broker, "contract-submit-1"))
    assert (placed.client_order_id, placed.symbol, placed.quantity) == ("contract-submit-1", broker.symbol,
                                                                        Decimal("10"))
    assert placed.status is OrderStatus.ACCEPTED and placed.limit_price == Decimal("150")
    found = await gateway.get_order_by_client_id("contract-submit-1")
    assert found is not None and found.broker_order_id == placed.broker_order_id
    assert (await gateway.get_order(placed.broker_order_id)).client_order_id == "contract-submit-1"
    assert await gateway.get_order_by_client_id("contract-never-sent") is None
    assert len(accepted_submissions(await sim.admin.orders(), "contract-submit-1")) == 1


async def test_cancel(broker: BrokerUnderTest, gateway: BrokerGateway, stream: Collector) -> None:
    placed = await gateway.submit_order(resting(broker, "contract-cancel-1"))
    assert placed.broker_order_id in {o.broker_order_id for o in await gateway.list_open_orders()}
    await gateway.cancel_order(placed.broker_order_id)
    await eventually(lambda: any(e.kind is TradeEventKind.CANCELED for e in stream.of("contract-cancel-1")))
    assert (await gateway.get_order(placed.broker_order_id)).status is OrderStatus.CANCELED
    assert placed.broker_order_id not in {o.broker_order_id for o in await gateway.list_open_orders()}
    with pytest.raises(BrokerRejectedError) as refused:
        await gateway.cancel_order(placed.broker_order_id)
    assert not refused.value.is_retryable()


async def test_replace_follows_the_declared_model(broker: BrokerUnderTest, gateway: BrokerGateway) -> None:
    caps = gateway.capabilities()
    if not caps.supports_replace:
        pytest.skip("the broker declares no replace (test_without_replace_an_amendment_is_refused_unsent)")
    placed = await gateway.submit_order(resting(broker, "contract-replace-1"))
    live = await gateway.replace_order(placed.broker_order_id, OrderAmendment(limit_price="151"))
    assert live.limit_price == Decimal("151") and live.client_order_id == "contract-replace-1"
    if caps.replace_keeps_id:
        assert live.broker_order_id == placed.broker_order_id
    else:
        assert live.broker_order_id != placed.broker_order_id and live.replaces == placed.broker_order_id
    found = await gateway.get_order_by_client_id("contract-replace-1")
    assert found is not None
    while found.replaced_by is not None:  # the client order id names the first order of a chain
        found = await gateway.get_order(found.replaced_by)
    assert found.broker_order_id == live.broker_order_id
    assert found.limit_price == Decimal("151") and found.quantity == Decimal("10")


async def test_without_replace_an_amendment_is_refused_unsent(sim: SimulatorHandle, broker: BrokerUnderTest,
                                                             gateway: BrokerGateway) -> None:
    if gateway.capabilities().supports_replace:
        pytest.skip("the broker declares replace (test_replace_follows_the_declared_model)")
    placed = await gateway.submit_order(resting(broker, "contract-noreplace-1"))
    with pytest.raises(BrokerRejectedError) as refused:
        await gateway.replace_order(placed.broker_order_id, OrderAmendment(limit_price="151"))
    assert not refused.value.is_retryable()
    unchanged = await gateway.get_order(placed.broker_order_id)
    assert (unchanged.status, unchanged.limit_price) == (OrderStatus.ACCEPTED, Decimal("150"))
    assert len(accepted_submissions(await sim.admin.orders(), "contract-noreplace-1")) == 1


async def test_quantity_change_where_the_broker_cannot_is_refused_unsent(broker: BrokerUnderTest,
                                                                        gateway: BrokerGateway) -> None:
    placed = await gateway.submit_order(resting(broker, "contract-qty-1"))
    amendment = OrderAmendment(quantity="12", limit_price="152")
    if gateway.capabilities().supports_replace_quantity:
        live = await gateway.replace_order(placed.broker_order_id, amendment)
        assert (live.quantity, live.limit_price) == (Decimal("12"), Decimal("152"))
        return
    with pytest.raises(BrokerRejectedError, match="quantity"):
        await gateway.replace_order(placed.broker_order_id, amendment)
    unchanged = await gateway.get_order(placed.broker_order_id)
    assert (unchanged.quantity, unchanged.limit_price) == (Decimal("10"), Decimal("150"))


async def test_partial_fills_arrive_once_each(sim: SimulatorHandle, broker: BrokerUnderTest, gateway: BrokerGateway,
                                              stream: Collector) -> None:
    await sim.admin.set_liquidity(broker.sim_symbol, 3)
    placed = await gateway.submit_order(order(broker, "contract-partial-1", **broker.marketable))
    for _ in range(5):
        await sim.admin.advance(1)
    await eventually(lambda: any(e.kind is TradeEventKind.FILL for e in stream.of("contract-partial-1")))
    events = stream.of("contract-partial-1")
    fills = [e.execution for e in events if e.execution is not None]
    assert len(fills) >= 3 and sum(f.quantity for f in fills) == Decimal("10")
    assert [f.cumulative_quantity for f in fills] == sorted(f.cumulative_quantity for f in fills)
    assert len({f.execution_id for f in fills}) == len(fills)
    assert TradeEventKind.PARTIAL_FILL in {e.kind for e in events}
    final = await gateway.get_order(placed.broker_order_id)
    assert final.status is OrderStatus.FILLED and final.filled_quantity == Decimal("10")
    average = sum(f.quantity * f.price for f in fills) / Decimal("10")
    assert final.filled_avg_price is not None and abs(final.filled_avg_price - average) < Decimal("0.0001")
    assert placed.submitted_at is not None
    polled = [r for r in await gateway.executions_since(placed.submitted_at)
              if r.client_order_id == "contract-partial-1"]
    assert {r.execution_id for r in polled} == {f.execution_id for f in fills}


async def test_fills_missed_while_the_stream_was_down_are_recovered(
        sim: SimulatorHandle, broker: BrokerUnderTest, gateway: BrokerGateway, stream: Collector) -> None:
    await sim.admin.set_price(broker.sim_symbol, "187.5", volatility="0")
    placed = await gateway.submit_order(resting(broker, "contract-gap-1", price="180"))
    await eventually(lambda: bool(stream.of("contract-gap-1")))
    await sim.admin.disconnect_streams(refuse_seconds=1)
    await eventually(lambda: _no_streams(sim))
    await sim.admin.set_price(broker.sim_symbol, "179", volatility="0")  # fills while nobody listens
    await sim.admin.advance(1)
    await eventually(lambda: any(e.kind is TradeEventKind.FILL for e in stream.of("contract-gap-1")), timeout=10)
    fills = [e.execution for e in stream.of("contract-gap-1") if e.execution is not None]
    assert sum(f.quantity for f in fills) == Decimal("10")
    assert len({f.execution_id for f in fills}) == len(fills)
    assert placed.submitted_at is not None
    polled = [r for r in await gateway.executions_since(placed.submitted_at) if r.client_order_id == "contract-gap-1"]
    assert sorted(r.execution_id for r in polled) == sorted(f.execution_id for f in fills)
    assert (await gateway.get_order(placed.broker_order_id)).status is OrderStatus.FILLED


async def test_a_reconcile_pass_finds_the_fills_of_an_order_no_event_told_of(
        sim: SimulatorHandle, broker: BrokerUnderTest, gateway: BrokerGateway) -> None:
    # The connection's periodic pass (activities/trade_stream.py) with nothing but this adapter and the order
    # rows: no event ever forwarded, so the fills are found from the broker's own figures for the order.
    await sim.admin.set_price(broker.sim_symbol, "187.5", volatility="0")
    filled = await gateway.submit_order(resting(broker, "contract-pass-1", price="180"))
    waiting = await gateway.submit_order(resting(broker, "contract-pass-2", price="150"))
    await sim.admin.set_price(broker.sim_symbol, "179", volatility="0")
    await sim.admin.advance(1)
    await eventually(lambda: _filled(gateway, filled.broker_order_id))
    ours = {filled.broker_order_id: Decimal(0), waiting.broker_order_id: Decimal(0)}

    async def known_open() -> dict[str, Decimal]:
        return ours

    forwarded = RecordingForwarder(StreamPosition(revision=1))
    runner = StreamRunner(gateway, forwarded,  # type: ignore[arg-type]
                          StreamInput(connection_id="contract", reconcile_every_seconds=60), None,
                          known_open=known_open)
    await runner.reconcile()
    await runner.reconcile()  # the same drift twice: lost fills, not fills on their way
    await runner.reconcile()  # and nothing twice
    fills = [e.execution for e in forwarded.events if e.execution is not None]
    assert {e.order.client_order_id for e in forwarded.events} == {"contract-pass-1"}
    assert sum(f.quantity for f in fills) == Decimal("10") and len({f.execution_id for f in fills}) == len(fills)
    assert forwarded.events[-1].kind is TradeEventKind.FILL


async def _filled(gateway: BrokerGateway, broker_order_id: str) -> bool:
    return (await gateway.get_order(broker_order_id)).status is OrderStatus.FILLED


async def _no_streams(sim: SimulatorHandle) -> bool:
    return (await sim.admin.state())["stream_connections"] == 0


async def test_ambiguous_submit_is_one_order(sim: SimulatorHandle, broker: BrokerUnderTest,
                                             gateway: BrokerGateway) -> None:
    await sim.admin.set_faults(drop_responses=1, drop_mode="close", drop_match=broker.place_order_request)
    with pytest.raises(AmbiguousOutcomeError):
        await gateway.submit_order(resting(broker, "contract-ambiguous-1"))
    found = await gateway.get_order_by_client_id("contract-ambiguous-1")
    assert found is not None
    again = await gateway.submit_order(resting(broker, "contract-ambiguous-1"))
    assert again.broker_order_id == found.broker_order_id
    view = await sim.admin.orders()
    assert len(accepted_submissions(view, "contract-ambiguous-1")) == 1
    assert len(view["dropped_responses"]) == 1


async def test_what_the_broker_cannot_do_is_refused_before_submission(sim: SimulatorHandle, broker: BrokerUnderTest,
                                                                      gateway: BrokerGateway) -> None:
    caps = gateway.capabilities()
    candidates = [ExecutionParameters(time_in_force="IOC"),
                  ExecutionParameters(time_in_force="GTD", expire_at="2030-01-01T00:00:00Z"),
                  ExecutionParameters(time_in_force="OPG")]
    params = next(p for p in candidates if p.time_in_force not in caps.time_in_force)
    unsupported = order(broker, "contract-unsupported-1", order_type="LIMIT", price="150", execution_params=params)
    problems = capability_problems(unsupported, caps)
    assert problems and "does not support" in str(problems[0])
    with pytest.raises(BrokerRejectedError):
        await gateway.submit_order(unsupported)
    assert (await sim.admin.orders())["submissions"].get("contract-unsupported-1") is None


async def test_replace_after_a_partial_fill_keeps_what_filled(sim: SimulatorHandle, broker: BrokerUnderTest,
                                                              gateway: BrokerGateway) -> None:
    if not gateway.capabilities().supports_replace:
        pytest.skip("the broker declares no replace")
    await sim.admin.set_liquidity(broker.sim_symbol, 4)
    placed = await gateway.submit_order(resting(broker, "contract-partial-replace-1", price="190"))
    await sim.admin.advance(1)
    await sim.admin.set_price(broker.sim_symbol, "195", volatility="0")
    filled = (await gateway.get_order(placed.broker_order_id)).filled_quantity
    assert Decimal("0") < filled < Decimal("10")
    live = await gateway.replace_order(placed.broker_order_id, OrderAmendment(limit_price="189"))
    assert live.limit_price == Decimal("189")
    if gateway.capabilities().replace_keeps_id:
        assert (live.quantity, live.filled_quantity) == (Decimal("10"), filled)  # one order, its fills kept
    else:
        assert (live.quantity, live.filled_quantity) == (Decimal("10") - filled, Decimal("0"))  # the rest
        assert (await gateway.get_order(placed.broker_order_id)).filled_quantity == filled
