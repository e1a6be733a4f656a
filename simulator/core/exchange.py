"""The exchange facade: accept, cancel and replace orders, close positions, move time, set prices."""

from __future__ import annotations

import uuid
from dataclasses import replace as dc_replace
from decimal import ROUND_DOWN, Decimal

from simulator.core import session
from simulator.core.accounts import Account
from simulator.core.clock import session_close
from simulator.core.execution import execute, route
from simulator.core.groups import after_cancel
from simulator.core.instruments import Instrument
from simulator.core.model import (
    OrderRequest,
    OrderStatus,
    OrderType,
    Rejection,
    RejectKind,
    Side,
    SimOrder,
    TimeInForce,
)
from simulator.core.risk import check_order
from simulator.core.state import MarketState

__all__ = ["Exchange"]

CLS_CUTOFF_MINUTES = 10
NOT_YET_ROUTED = (OrderStatus.ACCEPTED, OrderStatus.PENDING_NEW, OrderStatus.PENDING_CANCEL,
                  OrderStatus.PENDING_REPLACE)


class Exchange:
    """Protocol-independent broker + venue; every public method either changes state or raises Rejection."""

    def __init__(self, state: MarketState) -> None:
        self.state = state

    def add_account(self, account: Account) -> None:
        account.last_equity = account.equity(self.state.marks())
        self.state.accounts[account.id] = account

    def submit(self, account_id: str, request: OrderRequest) -> SimOrder:
        """Accept a new order (returned as accepted) and route it if its instrument's session is open."""
        state = self.state
        account = state.accounts[account_id]
        inst = state.instrument(request.symbol)
        client_id = request.client_order_id or str(uuid.uuid4())
        if (account_id, client_id) in state.client_ids:
            raise Rejection(RejectKind.DUPLICATE_CLIENT_ID, "client_order_id must be unique")
        self._check_session(request)
        order = self._new_order(account_id, request, client_id, inst)
        self._check_stop(order, inst)
        check_order(account, order, inst, state.open_orders(account_id), state.instruments, state.clock.today())
        accepted = self._register(order)
        self._start(order)
        return accepted

    def cancel(self, account_id: str, order_id: str) -> None:
        """Cancel an open order: pending_cancel then canceled (or the venue fills it first, if armed)."""
        state = self.state
        order = state.order_of(account_id, order_id)
        if not order.is_open:
            raise Rejection(RejectKind.NOT_CANCELABLE, f'order is already in "{order.status.value}" state')
        order.cancel_requested_at = state.now()
        state.set_status(order, OrderStatus.PENDING_CANCEL)
        state.emit("pending_cancel", order)
        if state.quirks.fill_before_cancel > 0:
            state.quirks.fill_before_cancel -= 1
            self._fill_now(order)
            state.emit("order_cancel_rejected", order)
            return
        order.canceled_at = state.now()
        state.set_status(order, OrderStatus.CANCELED)
        state.emit("canceled", order)
        after_cancel(state, order)  # the rest of a bracket/OCO/OTO group goes with it

    def cancel_all(self, account_id: str) -> list[str]:
        """Cancel every open order of the account; return their ids."""
        ids = [o.id for o in self.state.open_orders(account_id)]
        for order_id in ids:
            self.cancel(account_id, order_id)
        return ids

    def replace(
        self, account_id: str, order_id: str, *, qty: Decimal | None = None,
        time_in_force: TimeInForce | None = None, limit_price: Decimal | None = None,
        stop_price: Decimal | None = None, trail: Decimal | None = None, client_order_id: str | None = None,
    ) -> SimOrder:
        """Cancel-replace: a new order (new id) replaces the old one, which ends `replaced`."""
        state = self.state
        old = state.order_of(account_id, order_id)
        if not old.is_open:
            raise Rejection(RejectKind.NOT_REPLACEABLE, f'order is already in "{old.status.value}" state')
        if old.status in NOT_YET_ROUTED:
            raise Rejection(RejectKind.NOT_REPLACEABLE, "unable to replace order, order isn't sent to exchange yet")
        if qty is not None and old.qty is None:
            raise Rejection(RejectKind.INVALID, "qty of a notional order cannot be changed")
        keep = state.quirks.replace_keeps_original_qty
        request = self._replacement_request(
            old, keep, qty, time_in_force, limit_price, stop_price, trail, client_order_id
        )
        client_id = request.client_order_id or str(uuid.uuid4())
        if (account_id, client_id) in state.client_ids:
            raise Rejection(RejectKind.DUPLICATE_CLIENT_ID, "client_order_id must be unique")
        inst = state.instrument(old.symbol)
        new = self._new_order(account_id, request, client_id, inst)
        new.replaces = old.id
        others = [o for o in state.open_orders(account_id) if o.id != old.id]
        check_order(state.accounts[account_id], new, inst, others, state.instruments, state.clock.today())
        state.set_status(new, OrderStatus.PENDING_NEW)
        accepted = self._register(new)
        self._swap(old, new)
        return accepted

    def close_position(
        self, account_id: str, symbol: str, qty: Decimal | None = None, percentage: Decimal | None = None
    ) -> SimOrder:
        """Send a market order that closes all, `qty` or `percentage` of a position."""
        position = self.state.accounts[account_id].positions.get(symbol)
        if position is None or position.qty == 0:
            raise Rejection(RejectKind.NOT_FOUND, "position does not exist")
        size = abs(position.qty)
        if percentage is not None:
            size = (size * percentage / 100).quantize(Decimal("0.000000001"), rounding=ROUND_DOWN)
        elif qty is not None:
            size = qty
        side = Side.SELL if position.qty > 0 else Side.BUY
        return self.submit(account_id, OrderRequest(symbol, side, OrderType.MARKET, TimeInForce.DAY, qty=size))

    def advance(self, seconds: Decimal) -> int:
        """Run the market for `seconds` of simulated time."""
        return session.advance(self.state, seconds)

    def set_price(self, symbol: str, price: Decimal, volatility: Decimal | None = None) -> Instrument:
        inst = self.state.instrument(symbol)
        inst.set_price(price, volatility)
        session.match_symbol(self.state, symbol)
        return inst

    def set_liquidity(self, symbol: str, per_tick: Decimal | None) -> Instrument:
        inst = self.state.instrument(symbol)
        inst.set_liquidity(per_tick)
        return inst

    def _check_session(self, request: OrderRequest) -> None:
        """The auctions (OPG, CLS) are the equity session's: they check its hours (a forex or crypto order is
        routed by its own session, see `_start`)."""
        clock = self.state.clock
        if request.time_in_force is TimeInForce.OPG and clock.is_open():
            raise Rejection(RejectKind.INVALID, "opg orders must be submitted before the market opens")
        if request.time_in_force is TimeInForce.CLS and clock.is_open():
            cutoff = session_close(clock.today()).timestamp() - CLS_CUTOFF_MINUTES * 60
            if clock.now().timestamp() >= cutoff:
                raise Rejection(RejectKind.INVALID, "cls orders must be submitted before 15:50 ET")

    @staticmethod
    def _check_stop(order: SimOrder, inst: Instrument) -> None:
        if order.type not in (OrderType.STOP, OrderType.STOP_LIMIT) or order.stop_price is None:
            return
        if order.side is Side.BUY and order.stop_price <= inst.price:
            raise Rejection(RejectKind.PRICE, "stop price must be greater than current price",
                            market_price=inst.price, stop_price=order.stop_price)
        if order.side is Side.SELL and order.stop_price >= inst.price:
            raise Rejection(RejectKind.PRICE, "stop price must be less than current price",
                            market_price=inst.price, stop_price=order.stop_price)

    def _new_order(self, account_id: str, req: OrderRequest, client_id: str, inst: Instrument) -> SimOrder:
        now = self.state.now()
        return SimOrder(
            id=str(uuid.uuid4()), account_id=account_id, client_order_id=client_id, symbol=inst.symbol,
            asset_id=inst.asset_id, side=req.side, type=req.type, time_in_force=req.time_in_force, qty=req.qty,
            notional=req.notional, limit_price=req.limit_price, stop_price=req.stop_price,
            trail_price=req.trail_price, trail_percent=req.trail_percent, extended_hours=req.extended_hours,
            created_at=now, updated_at=now, submitted_at=now, seq=0,
        )

    def _register(self, order: SimOrder) -> SimOrder:
        state = self.state
        order.seq = state.next_order_seq
        state.next_order_seq += 1
        state.orders[order.id] = order
        state.client_ids[(order.account_id, order.client_order_id)] = order.id
        return order.snapshot()

    def _start(self, order: SimOrder) -> None:
        state = self.state
        if state.quirks.reject_after_accept > 0:
            state.quirks.reject_after_accept -= 1
            order.failed_at = state.now()
            state.set_status(order, OrderStatus.REJECTED)
            state.emit("rejected", order)
        elif state.clock.is_open(session=session.session_of(state, order.symbol)):
            route(state, order)
        else:
            state.emit("accepted", order)

    def _fill_now(self, order: SimOrder) -> None:
        """The venue wins a race: the rest of the order trades at the touch, ignoring liquidity."""
        inst = self.state.instruments[order.symbol]
        price = inst.ask if order.side is Side.BUY else inst.bid
        execute(self.state, order, order.leaves_qty, price)

    def _swap(self, old: SimOrder, new: SimOrder) -> None:
        state = self.state
        state.set_status(old, OrderStatus.PENDING_REPLACE)
        state.emit("pending_replace", old)
        if state.quirks.fill_before_replace > 0:
            state.quirks.fill_before_replace -= 1
            self._fill_now(old)
            state.emit("order_replace_rejected", old)
            new.failed_at = state.now()
            state.set_status(new, OrderStatus.REJECTED)
            state.emit("rejected", new)
            return
        old.replaced_at = state.now()
        old.replaced_by = new.id
        state.set_status(old, OrderStatus.REPLACED)
        state.emit("replaced", old)
        route(state, new)

    @staticmethod
    def _replacement_request(
        old: SimOrder, keep_qty: bool, qty: Decimal | None, tif: TimeInForce | None, limit: Decimal | None,
        stop: Decimal | None, trail: Decimal | None, client_id: str | None,
    ) -> OrderRequest:
        base = OrderRequest(
            old.symbol, old.side, old.type, old.time_in_force,
            qty=(old.qty if keep_qty else old.leaves_qty) if old.qty is not None else None,
            notional=old.notional - old.filled_value if old.notional is not None else None,
            limit_price=old.limit_price, stop_price=old.stop_price if old.type is not OrderType.TRAILING_STOP
            else None, trail_price=old.trail_price, trail_percent=old.trail_percent,
            extended_hours=old.extended_hours,
        )
        changes: dict[str, object] = {}
        if qty is not None and qty != base.qty:
            changes["qty"] = qty
        if tif is not None and tif is not old.time_in_force:
            changes["time_in_force"] = tif
        if limit is not None and limit != old.limit_price:
            changes["limit_price"] = limit
        if stop is not None and stop != old.stop_price:
            changes["stop_price"] = stop
        if trail is not None and trail != (old.trail_price or old.trail_percent):
            changes["trail_price" if old.trail_price is not None else "trail_percent"] = trail
        if not changes and client_id is None:
            raise Rejection(RejectKind.UNCHANGED, "order parameters are not changed")
        return dc_replace(base, client_order_id=client_id, **changes)  # type: ignore[arg-type]
