"""The trade-updates stream inside an activity: forward each event to its order workflow, resume after drops.

The gateway reconnects its socket and replays the fills of a gap by itself; this module covers what the
gateway cannot: a new activity attempt (worker crash, heartbeat timeout, continue-as-new of the
supervisor) starts from the last position and first reconciles, fetching the fills since the last
event and the outcome of every order it saw working, so no event of the gap is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from domain.broker_integration import (
    BrokerGateway,
    ExecutionReport,
    OrderSnapshot,
    OrderStatus,
    TradeEvent,
    TradeEventKind,
)
from workflows.order_workflow import order_workflow_id

from .connection_models import StreamInput, StreamPosition

__all__ = ["POSITION_SIGNAL", "TRADE_EVENT_SIGNAL", "EventForwarder", "StreamRunner", "resume_position",
           "root_client_order_id"]

log = logging.getLogger(__name__)

TRADE_EVENT_SIGNAL = "trade_event"
POSITION_SIGNAL = "stream_position"
_REPLACEMENT = re.compile(r"~r[0-9a-zA-Z]+$")
# What an order workflow learns from its own submission (the submit activity's answer, or its lookup by client
# order id on a retry) before it reads any event: signalled, such an event only cost the order a workflow task
# that changed nothing (issue 10). An execution always goes.
_ACKNOWLEDGEMENTS = frozenset({TradeEventKind.NEW, TradeEventKind.ACCEPTED, TradeEventKind.PENDING_NEW})
_GAP_OUTCOMES = {OrderStatus.CANCELED: TradeEventKind.CANCELED, OrderStatus.EXPIRED: TradeEventKind.EXPIRED,
                 OrderStatus.REJECTED: TradeEventKind.REJECTED}


def root_client_order_id(client_order_id: str) -> str:
    """The order's own client id: a replacement's `~r...` suffix removed."""
    return _REPLACEMENT.sub("", client_order_id)


def resume_position(given: StreamPosition, heartbeat_details: Sequence[Any]) -> StreamPosition:
    """The newer of the supervisor's position and the last heartbeat of a previous attempt."""
    if heartbeat_details:
        beat = StreamPosition.model_validate(heartbeat_details[0])
        if beat.revision >= given.revision:
            return beat
    return given.model_copy(deep=True)


class EventForwarder:
    """Signals events to order workflows, each execution once, and moves the position. An acknowledgement
    (`NEW`, `ACCEPTED`, `PENDING_NEW` with no execution) moves the position only: the order workflow has it
    from its own submission."""

    def __init__(self, client: Client, position: StreamPosition,
                 late_fills: Callable[[ExecutionReport], Awaitable[None]] | None = None) -> None:
        self.client = client
        self.position = position
        self._late_fills = late_fills
        # The stream and a periodic reconcile forward concurrently: one event at a time, so an execution
        # both of them saw is checked against `seen` only after the other one remembered it.
        self._one_at_a_time = asyncio.Lock()

    async def forward(self, event: TradeEvent) -> None:
        """Deliver one event; an order without a (running) workflow is logged and skipped."""
        async with self._one_at_a_time:
            await self._forward(event)

    async def _forward(self, event: TradeEvent) -> None:
        execution = event.execution
        if execution is not None and self.position.seen(execution.execution_id):
            return
        client_order_id = root_client_order_id(event.order.client_order_id)
        if event.kind in _ACKNOWLEDGEMENTS and execution is None:
            self._advance(event, client_order_id)  # followed as working all the same
            return
        handle = self.client.get_workflow_handle(order_workflow_id(client_order_id))
        try:
            await handle.signal(TRADE_EVENT_SIGNAL, event)
            self.position.forwarded += 1
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
            self.position.ignored += 1
            log.info("trade event %s for %s: no running order workflow", event.kind, client_order_id)
            if execution is not None and self._late_fills is not None:
                # A fill after the order's workflow finished is still recorded (and alerted), never dropped.
                rooted = execution.model_copy(update={"client_order_id": client_order_id})
                await self._late_fills(rooted)
        self._advance(event, client_order_id)

    def _advance(self, event: TradeEvent, client_order_id: str) -> None:
        position = self.position
        if event.execution is not None:
            position.remember(event.execution.execution_id)
        position.track(event.order.broker_order_id, client_order_id, not event.order.status.is_terminal)
        if position.last_event_at is None or event.occurred_at > position.last_event_at:
            position.last_event_at = event.occurred_at
        position.revision += 1


# The orders our database holds as open: broker order id -> the quantity we hold filled.
OpenOrders = Callable[[], Awaitable[dict[str, Decimal]]]


class StreamRunner:
    """Reconcile from the position, then consume the stream, heartbeating and reporting the position."""

    def __init__(self, gateway: BrokerGateway, forwarder: EventForwarder, request: StreamInput,
                 supervisor_id: str | None, known_open: OpenOrders | None = None,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.gateway = gateway
        self.forwarder = forwarder
        self.request = request
        self.supervisor_id = supervisor_id
        # The orders our database holds as open at this connection (broker order id -> quantity filled).
        self.known_open = known_open
        self.clock = clock
        self._reported = -1
        self._periodic: asyncio.Task[int] | None = None
        # Orders the broker had filled further than our database, at the last pass: broker id -> its figure.
        self._drifted: dict[str, Decimal] = {}

    @property
    def position(self) -> StreamPosition:
        return self.forwarder.position

    async def run(self) -> StreamPosition:
        """Run until cancelled (or the stream fails); the final position is signalled on the way out."""
        if self.position.revision > 0:
            self.position.resumes += 1
            await self.reconcile()
            await self._report()  # the supervisor learns of this pass even if the stream then fails to start
        elif self.request.reconcile_every_seconds is not None and self.position.reconciled_at is None:
            self.position.reconciled_at = self.clock()  # a first stream: the first pass is due one interval on
        consumer = asyncio.create_task(self._consume())
        try:
            await self._watch(consumer)
        except BaseException:  # cancelled or failed: the supervisor keeps what it forwarded and reconciled
            with contextlib.suppress(Exception):
                await self._report()
            raise
        finally:
            for task in (consumer, self._periodic):
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(BaseException):
                        await task
        return self.position

    async def _watch(self, consumer: asyncio.Task[None]) -> None:
        beat = self.request.heartbeat_seconds
        while True:
            done, _ = await asyncio.wait({consumer}, timeout=beat)
            self._beat()
            await self._report()
            if consumer in done:
                consumer.result()
                raise ApplicationError("trade stream ended", type="StreamEnded")
            self._reconcile_when_due()

    def _reconcile_when_due(self) -> None:
        """Start the periodic reconcile when it is due, beside the stream (it never holds up a heartbeat).

        It is the safety net of every order at this connection at once: an event the broker's stream lost
        (a fill, a cancel, an expiry) reaches its order within one interval, by one pass over the
        connection, instead of each resting order polling on its own.
        """
        every = self.request.reconcile_every_seconds
        task = self._periodic
        if task is not None:
            if not task.done():
                return
            self._periodic = None
            if not task.cancelled() and task.exception() is not None:
                # A broker or database error here does not end a stream that works: the next pass retries.
                log.warning("periodic reconcile failed: %s", task.exception())
        last = self.position.reconciled_at
        if every is None or (last is not None and (self.clock() - last).total_seconds() < every):
            return
        self._periodic = asyncio.create_task(self.reconcile(periodic=True))

    def _beat(self) -> None:
        if activity.in_activity():
            activity.heartbeat(self.position.model_dump(mode="json"))

    async def _consume(self) -> None:
        async for event in self.gateway.trade_updates():
            await self.forwarder.forward(event)

    async def _report(self) -> None:
        """Signal the position to the supervisor when it moved (so it survives continue-as-new)."""
        if self.supervisor_id is None or self.position.revision == self._reported:
            return
        handle = self.forwarder.client.get_workflow_handle(self.supervisor_id)
        snapshot = self.position.model_copy(deep=True)  # the consumer moves on while we send
        try:
            await handle.signal(POSITION_SIGNAL, snapshot)
            self._reported = snapshot.revision
        except RPCError as exc:
            log.warning("stream position not reported: %s", exc.message)

    async def reconcile(self, periodic: bool = False) -> int:
        """Deliver what the broker did while nobody listened: fills since the last event, then outcomes."""
        before = self.position.forwarded + self.position.ignored
        started = self.clock()
        snapshots: dict[str, OrderSnapshot] = {}
        await self._reconcile_fills(snapshots)
        await self._reconcile_outcomes(snapshots)
        delivered = self.position.forwarded + self.position.ignored - before
        self.position.reconciled += delivered
        self.position.reconciled_at = started
        if delivered or not periodic:
            # A moved position is signalled to the supervisor; a quiet pass is not (one signal a minute per
            # connection, for nothing), though the heartbeat carries it.
            self.position.revision += 1
        return delivered

    async def _snapshot(self, broker_order_id: str, cache: dict[str, OrderSnapshot]) -> OrderSnapshot:
        if broker_order_id not in cache:
            cache[broker_order_id] = await self.gateway.get_order(broker_order_id)
        return cache[broker_order_id]

    async def _reconcile_fills(self, cache: dict[str, OrderSnapshot]) -> None:
        # The broker's time, not ours (a broker's clock may differ): every fill after the last event forwarded
        # is one the stream lost (or is about to bring), so the answer stays small however long ago that was.
        since = self.position.last_event_at
        if since is None:
            return
        margin = timedelta(seconds=self.request.reconcile_margin_seconds)
        for report in await self.gateway.executions_since(since - margin):
            await self._forward_fill(report, cache)

    async def _forward_fill(self, report: ExecutionReport, cache: dict[str, OrderSnapshot]) -> None:
        if self.position.seen(report.execution_id) or report.broker_order_id is None:
            return
        snapshot = await self._snapshot(report.broker_order_id, cache)
        done = report.cumulative_quantity is not None and report.cumulative_quantity >= snapshot.quantity
        kind = TradeEventKind.FILL if done else TradeEventKind.PARTIAL_FILL
        await self.forwarder.forward(TradeEvent(kind=kind, order=snapshot, occurred_at=report.executed_at,
                                                execution=report, sequence=f"reconcile:{report.execution_id}"))

    async def _reconcile_order_fills(self, lost: list[OrderSnapshot], cache: dict[str, OrderSnapshot]) -> None:
        """The broker has filled these orders further than our database holds: their fills since the earliest
        of them was sent, asked for once for all of them (a recovery with a hundred such orders must not spend
        a hundred of the broker's requests)."""
        dated: list[OrderSnapshot] = []
        for snapshot in lost:
            if snapshot.submitted_at is None:
                log.warning("order %s: filled %s at the broker, but no submission time to ask fills from",
                            snapshot.client_order_id, snapshot.filled_quantity)
            else:
                dated.append(snapshot)
        if not dated:
            return
        wanted = {s.broker_order_id for s in dated}
        margin = timedelta(seconds=self.request.reconcile_margin_seconds)
        since = min(s.submitted_at for s in dated if s.submitted_at is not None) - margin
        for report in await self.gateway.executions_since(since):
            if report.broker_order_id in wanted:
                await self._forward_fill(report, cache)

    async def _reconcile_outcomes(self, cache: dict[str, OrderSnapshot]) -> None:
        open_orders = await self.gateway.list_open_orders()
        listed = {s.broker_order_id: s for s in open_orders}
        # The position lags the stream by up to a heartbeat (a killed worker loses what it saw since): the
        # orders our database holds as open are asked about too, so no cancel or expiry is left unheard.
        candidates: dict[str, Decimal | None] = dict.fromkeys(self.position.working_orders)  # filled: unknown
        if self.known_open is not None:
            candidates.update(await self.known_open())
        drifted, self._drifted = self._drifted, {}
        lost: list[OrderSnapshot] = []
        for count, (broker_order_id, ours) in enumerate(candidates.items()):
            if count % 200 == 199:
                self._beat()  # a resume after a long gap asks about thousands of orders before the stream starts
            snapshot = listed.get(broker_order_id) or await self._snapshot(broker_order_id, cache)
            cache[broker_order_id] = snapshot
            if ours is not None and snapshot.filled_quantity > ours:
                # Filled further than our database knows. A fill on its way looks the same for a moment, so
                # only a drift the last pass saw too (whatever the clocks say) counts as lost fills.
                if drifted.get(broker_order_id) == snapshot.filled_quantity:
                    lost.append(snapshot)
                else:
                    self._drifted[broker_order_id] = snapshot.filled_quantity
        # The fills first: an order canceled after them is told of the cancel once it holds them.
        await self._reconcile_order_fills(lost, cache)
        for broker_order_id in candidates:
            snapshot = cache[broker_order_id]
            if broker_order_id in listed:
                continue
            kind = _GAP_OUTCOMES.get(snapshot.status)
            if kind is not None:
                at = snapshot.updated_at or self.position.last_event_at or snapshot.submitted_at
                if at is not None:
                    await self.forwarder.forward(TradeEvent(kind=kind, order=snapshot, occurred_at=at,
                                                            sequence=f"reconcile:{broker_order_id}:{kind}"))
            self.position.track(broker_order_id, snapshot.client_order_id, not snapshot.status.is_terminal)
        for snapshot in open_orders:
            self.position.track(snapshot.broker_order_id, root_client_order_id(snapshot.client_order_id), True)
