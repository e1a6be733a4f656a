"""AccountLedgerRepository on PostgreSQL: the account row is the lock.

Every change to an account (a broker snapshot merged, a reservation taken, a fill or a fee booked) runs in
one transaction that first takes `SELECT ... FOR UPDATE` on the account's row, so concurrent pre-trade
checks of one account are serialised and two orders cannot spend the same dollars. A fill or fee is
inserted and applied in the same transaction, so a retried activity can neither skip nor repeat it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, bindparam, exists, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.broker_integration import (
    AccountType,
    AssetClass,
    BrokerAccount,
    BrokerOrder,
    ExecutionReport,
    FeeReport,
    Order,
    OrderSide,
    OrderStatusUpdate,
)
from domain.broker_integration.repositories import LedgerSync, RecordedChanges, ReservationRequest
from domain.broker_integration.rules.accounting import (
    account_drift,
    ahead_of_us,
    apply_fill,
    is_stale,
    merge_broker_snapshot,
)
from domain.broker_integration.rules.buying_power import (
    EXIT_SUFFIXES,
    Reservation,
    ReservedTotals,
    check_pre_trade,
    reservation_for,
    reserved_totals,
)
from domain.broker_integration.rules.margin import AccountFigures, compute_figures
from persistence.tables import AccountReservationRow, BrokerAccountRow, ExecutionReportRow, FeeReportRow, OrderRow

from ._base import SqlRepository, plain, table_of, upsert_statement
from .accounts import account_from_row, account_values
from .fees import FEE_KEY
from .history import EXECUTION_KEY, STATUS_KEY, STATUS_TABLE, status_values
from .orders import order_save

__all__ = ["SqlAccountLedger"]

_ACCOUNTS = table_of(BrokerAccountRow)
_RESERVATIONS = table_of(AccountReservationRow)
_EXECUTIONS = table_of(ExecutionReportRow)
_FEES = table_of(FeeReportRow)
_ORDERS = table_of(OrderRow)
_UNKNOWN: Any = object()  # an asset class not known yet: read from the stored order
TERMINAL = ("FILLED", "CANCELED", "REJECTED", "EXPIRED")
ORPHAN_AFTER = timedelta(minutes=10)
HELD, RELEASED = "HELD", "RELEASED"
# The safety net's sweep (`_release_finished`) reads every held reservation of the account under its lock: 17 ms
# at 10,000 held, in every pre-trade check (issue 10). A check sweeps an account at most this often (per
# process); every sync sweeps.
SWEEP_EVERY_SECONDS = 60.0


def _reservation(row: Any) -> Reservation:
    return Reservation(client_order_id=row["client_order_id"], account_id=row["account_id"], symbol=row["symbol"],
                       side=row["side"], quantity=row["quantity"], amount=row["amount"],
                       filled_quantity=row["filled_quantity"])


def _release_finished_statement() -> Any:
    """`_release_finished`'s UPDATE, built once. Correlated EXISTS, not IN / NOT IN (SELECT ... FROM orders): those
    read every order ever stored (NOT IN hashes the whole table) on each pre-trade check; these probe the orders'
    primary key once per held reservation of the account."""
    r, o = _RESERVATIONS.c, _ORDERS.c
    finished = exists().where(and_(o.client_order_id == r.client_order_id, o.status.in_(TERMINAL)))
    stored = exists().where(o.client_order_id == r.client_order_id)
    orphaned = and_(~stored, r.created_at < func.now() - ORPHAN_AFTER)
    return (update(_RESERVATIONS)
            .where(and_(r.account_id == bindparam("account"), r.status == HELD, or_(finished, orphaned)))
            .values(status=RELEASED, reason="order ended", released_at=func.now()))


_RELEASE_FINISHED = _release_finished_statement()
# Bound names differ from the columns': SQLAlchemy keeps those for the SET clause.
_RELEASE = (update(_RESERVATIONS)
            .where(and_(_RESERVATIONS.c.client_order_id == bindparam("order"), _RESERVATIONS.c.status == HELD))
            .values(status=RELEASED, reason=bindparam("why"), released_at=func.now())
            .returning(_RESERVATIONS.c.client_order_id))


class SqlAccountLedger(SqlRepository):
    """Accounts, reservations, executions and fees, kept consistent with each other."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], *,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        super().__init__(sessions)
        self._monotonic = monotonic
        self._swept_at: dict[str, float] = {}  # account id -> when this process last swept it

    async def _locked(self, session: AsyncSession, account_id: str) -> BrokerAccount | None:
        query = select(_ACCOUNTS).where(_ACCOUNTS.c.account_id == account_id).with_for_update()
        row = (await session.execute(query)).mappings().first()
        return None if row is None else account_from_row(row)

    async def _save(self, session: AsyncSession, account: BrokerAccount) -> None:
        values = account_values(account)
        await session.execute(upsert_statement(_ACCOUNTS, values, "account_id"), values)

    async def _held(self, session: AsyncSession, account_id: str, *where: Any) -> list[Reservation]:
        """The account's held reservations (those matching `where` too). Only the columns a Reservation needs,
        built without validation (the rows were validated on the way in)."""
        c = _RESERVATIONS.c
        query = select(c.client_order_id, c.account_id, c.symbol, c.side, c.quantity, c.amount,
                       c.filled_quantity).where(and_(c.account_id == account_id, c.status == HELD, *where))
        return [Reservation.model_construct(client_order_id=cid, account_id=acc, symbol=symbol, side=OrderSide(side),
                                            quantity=quantity, amount=amount, filled_quantity=filled)
                for cid, acc, symbol, side, quantity, amount, filled in (await session.execute(query)).all()]

    async def _reserved(self, session: AsyncSession, account_id: str, symbol: str, exclude: str) -> ReservedTotals:
        """What the account's other held reservations hold: `reserved_totals` of them, without reading each one.
        A plain order (not an exit of a group) with nothing filled holds exactly its amount (and, a sell, its
        quantity): PostgreSQL sums those (exactly: numeric); the others (partly filled, group exits) are read
        and summed by the domain rule. An account with thousands of resting orders costs one row, not thousands
        (issue 10: the pre-trade check grew with the open orders)."""
        c = _RESERVATIONS.c
        simple = and_(c.filled_quantity == 0, c.quantity > 0, *(c.client_order_id.not_like(f"_%{suffix}")
                                                                for suffix in EXIT_SUFFIXES))
        selling = and_(c.symbol == symbol, c.side == OrderSide.SELL.value)
        sums = select(func.coalesce(func.sum(c.amount), 0), func.coalesce(func.sum(c.quantity).filter(selling), 0),
                      func.count()).where(and_(c.account_id == account_id, c.status == HELD,
                                               c.client_order_id != exclude, simple))
        amount, quantity, count = (await session.execute(sums)).one()
        others = await self._held(session, account_id, c.client_order_id != exclude, ~simple)
        rest = reserved_totals(others, symbol)
        return rest.model_copy(update={"buying_power": rest.buying_power + amount,
                                       "sell_quantity": rest.sell_quantity + quantity, "orders": rest.orders + count})

    async def _in_flight(self, session: AsyncSession, account_id: str) -> tuple[set[str], int]:
        """The symbols of the account's held reservations, and how many there are (one row per symbol)."""
        c = _RESERVATIONS.c
        query = (select(c.symbol, func.count()).where(and_(c.account_id == account_id, c.status == HELD))
                 .group_by(c.symbol))
        rows = (await session.execute(query)).all()
        return {symbol for symbol, _ in rows}, sum(count for _, count in rows)

    async def _merge(self, session: AsyncSession, snapshot: BrokerAccount, today: date,
                     sweep: bool = True) -> LedgerSync:
        """Merge the broker's snapshot into the locked account; `sweep=False` (a pre-trade check) sweeps the
        finished orders' reservations only when the last sweep of the account is SWEEP_EVERY_SECONDS old."""
        local = await self._locked(session, snapshot.account_id)
        if local is None:
            # A new account: insert it; if another transaction got there first, lock and merge into theirs.
            fresh = merge_broker_snapshot(None, snapshot, today)
            stmt = (insert(_ACCOUNTS).values(**account_values(fresh))
                    .on_conflict_do_nothing(index_elements=["account_id"]).returning(_ACCOUNTS.c.account_id))
            if (await session.execute(stmt)).first() is not None:
                return LedgerSync(account=fresh, created=True)
            local = await self._locked(session, snapshot.account_id)
        if self._sweep_due(snapshot.account_id, always=sweep):
            await self._release_finished(session, snapshot.account_id)
        in_flight, count = await self._in_flight(session, snapshot.account_id)
        merged = merge_broker_snapshot(local, snapshot, today, in_flight)
        comparable = local is not None and not is_stale(local, snapshot) and not ahead_of_us(local, snapshot,
                                                                                                  in_flight)
        drifts = account_drift(local, snapshot) if comparable and local is not None else []
        await self._save(session, merged)
        return LedgerSync(account=merged, drifts=drifts, orders_in_flight=count)

    def _sweep_due(self, account_id: str, always: bool) -> bool:
        now = self._monotonic()
        last = self._swept_at.get(account_id)
        if always or last is None or now - last >= SWEEP_EVERY_SECONDS:
            self._swept_at[account_id] = now
            return True
        return False

    async def _release_finished(self, session: AsyncSession, account_id: str) -> None:
        """A safety net for reservations whose order's last step failed: released when the order row is
        terminal, or when no order row exists ORPHAN_AFTER after the check (its workflow ended before it
        stored the order, e.g. the pre-trade activity failed after reserving)."""
        await session.execute(_RELEASE_FINISHED, {"account": account_id})

    async def sync(self, snapshot: BrokerAccount, today: date) -> LedgerSync:
        async with self._sessions.begin() as session:
            return await self._merge(session, snapshot, today)

    async def reserve(self, request: ReservationRequest) -> tuple[Reservation, AccountFigures]:
        order, snapshot = request.order, request.snapshot
        async with self._sessions.begin() as session:
            synced = await self._merge(session, snapshot, request.today, sweep=False)
            merged = synced.account
            query = select(_RESERVATIONS).where(_RESERVATIONS.c.client_order_id == order.client_order_id)
            existing = (await session.execute(query)).mappings().first()
            held_here = existing is not None and existing["status"] == HELD and (
                existing["account_id"] == snapshot.account_id)
            if held_here:  # a retried activity: the first decision stands
                return _reservation(existing), compute_figures(merged, request.today)
            reserved = await self._reserved(session, snapshot.account_id, order.symbol, order.client_order_id)
            figures = check_pre_trade(order, merged, request.reference_price, today=request.today,
                                      fees=request.estimated_fees, reserved=reserved)
            reservation = reservation_for(order, snapshot.account_id, request.reference_price,
                                          request.estimated_fees)
            values = dict(
                client_order_id=order.client_order_id, account_id=snapshot.account_id,
                connection_id=order.connection_id, symbol=order.symbol, side=plain(order.side),
                quantity=order.quantity, amount=reservation.amount, filled_quantity=Decimal("0"),
                estimated_fees=request.estimated_fees, reference_price=request.reference_price, status=HELD,
                reason=None, released_at=None,
            )
            # A released reservation (or one on another account: the order was routed elsewhere) is replaced.
            await session.execute(upsert_statement(_RESERVATIONS, values, "client_order_id", touch=False), values)
            return reservation, figures

    async def amend(self, order: BrokerOrder, reference_price: Decimal, estimated_fees: Decimal,
                    today: date, *, commit: bool) -> Reservation | None:
        async with self._sessions.begin() as session:
            account = await self._order_account(session, order.client_order_id)
            query = select(_RESERVATIONS).where(and_(_RESERVATIONS.c.client_order_id == order.client_order_id,
                                                     _RESERVATIONS.c.status == HELD))
            row = (await session.execute(query)).mappings().first()
            if account is None or row is None:
                return None
            current = _reservation(row)
            remaining = order.quantity - current.filled_quantity
            moved = reservation_for(order, account.account_id, reference_price, estimated_fees)
            if not commit:
                if remaining > 0:
                    unfilled = order.model_copy(update={"quantity": remaining})
                    check_pre_trade(unfilled, account, reference_price, today=today, fees=estimated_fees,
                                    reserved=await self._reserved(session, account.account_id, order.symbol,
                                                                  order.client_order_id))
                grown = moved.model_copy(update={"filled_quantity": current.filled_quantity})
                if grown.held_amount <= current.held_amount:
                    return current
                # Asking for more: hold the larger terms from now on, so no other order takes those dollars
                # while the broker answers; the commit (or the order's end) settles them.
            elif moved.model_copy(update={"filled_quantity": current.filled_quantity}) == current:
                return current
            await session.execute(
                update(_RESERVATIONS).where(_RESERVATIONS.c.client_order_id == order.client_order_id)
                .values(quantity=order.quantity, amount=moved.amount, estimated_fees=estimated_fees,
                        reference_price=reference_price))
            return moved.model_copy(update={"filled_quantity": current.filled_quantity})

    async def update_settings(self, account_id: str, account_type: AccountType | None = None,
                              allow_unsettled_funds: bool | None = None) -> BrokerAccount | None:
        async with self._sessions.begin() as session:
            account = await self._locked(session, account_id)
            if account is None:
                return None
            changes: dict[str, Any] = {}
            if account_type is not None:
                changes["account_type"] = account_type
            if allow_unsettled_funds is not None:
                changes["allow_unsettled_funds"] = allow_unsettled_funds
            updated = account.model_copy(update=changes)
            await self._save(session, updated)
            return updated

    async def release(self, client_order_id: str, reason: str) -> bool:
        async with self._sessions.begin() as session:
            found = await session.execute(_RELEASE, {"order": client_order_id, "why": reason})
            return found.first() is not None

    async def _order_account(self, session: AsyncSession, client_order_id: str) -> BrokerAccount | None:
        """The account an order reserved on, locked; None for an order we never checked. One statement: the
        reservation names the account, whose row is locked."""
        query = (select(_ACCOUNTS).join(_RESERVATIONS, _RESERVATIONS.c.account_id == _ACCOUNTS.c.account_id)
                 .where(_RESERVATIONS.c.client_order_id == client_order_id).with_for_update(of=_ACCOUNTS))
        row = (await session.execute(query)).mappings().first()
        return None if row is None else account_from_row(row)

    async def book_execution(self, report: ExecutionReport, trade_date: date) -> bool:
        async with self._sessions.begin() as session:
            return await self._book_execution(session, report, trade_date, _UNKNOWN)

    async def _book_execution(self, session: AsyncSession, report: ExecutionReport, trade_date: date,
                              asset_class: AssetClass | None) -> bool:
        """Store the execution and apply it to its account, in `session`'s transaction; `asset_class` is the
        order's (`_UNKNOWN`: read from the stored order)."""
        values = {key: plain(value) for key, value in report.model_dump().items()}
        if not await self._insert_once(_EXECUTIONS, values, EXECUTION_KEY, session):
            return False
        account = await self._order_account(session, report.client_order_id)
        if account is not None:
            if asset_class is _UNKNOWN:
                asset_class = await self._asset_class(session, report.client_order_id)
            effect = apply_fill(account, symbol=report.symbol, side=report.side, quantity=report.quantity,
                                price=report.price, fees=report.commission + report.fees,
                                trade_date=trade_date, order_id=report.client_order_id, asset_class=asset_class)
            await self._save(session, effect.account.model_copy(update={"booked_at": datetime.now(UTC)}))
            await session.execute(
                update(_RESERVATIONS).where(_RESERVATIONS.c.client_order_id == report.client_order_id)
                .values(filled_quantity=_RESERVATIONS.c.filled_quantity + report.quantity))
        return True

    async def _asset_class(self, session: AsyncSession, client_order_id: str) -> AssetClass | None:
        """The asset class of a stored order (None: not stored, or stored before orders carried one)."""
        query = select(_ORDERS.c.aggregate["order"]["asset_class"].astext).where(
            _ORDERS.c.client_order_id == client_order_id)
        value = (await session.execute(query)).scalar()
        return AssetClass(value) if value in {c.value for c in AssetClass} else None

    async def book_fee(self, fee: FeeReport) -> bool:
        async with self._sessions.begin() as session:
            return await self._book_fee(session, fee)

    async def _book_fee(self, session: AsyncSession, fee: FeeReport) -> bool:
        values = {key: plain(value) for key, value in fee.model_dump().items()}
        if not await self._insert_once(_FEES, values, FEE_KEY, session):
            return False
        account = await self._order_account(session, fee.client_order_id)
        if account is not None:
            await self._save(session, account.model_copy(update={
                "cash": account.cash - fee.amount, "equity": account.equity - fee.amount,
                "booked_at": datetime.now(UTC)}))
        return True

    async def record(self, order: Order, updates: Sequence[OrderStatusUpdate], executions: Sequence[ExecutionReport],
                     fees: Sequence[FeeReport], trade_date: Callable[[datetime], date]) -> RecordedChanges:
        """One transaction per record instead of one per change (issue 10: the commits cost more worker CPU
        than the statements). The order row is written after its changes, as before, and a terminal order's
        reservation is released with it; a failure stores nothing."""
        asset_class = order.order.asset_class
        async with self._sessions.begin() as session:
            booked = [r for r in executions
                      if await self._book_execution(session, r, trade_date(r.executed_at), asset_class)]
            charged = [fee for fee in fees if await self._book_fee(session, fee)]
            changed = [u for u in updates
                       if await self._insert_once(STATUS_TABLE, status_values(u), STATUS_KEY, session)]
            stmt, values = order_save(order)
            await session.execute(stmt, values)
            if order.is_terminal:  # as `release` would, after the order's last fills were applied
                await session.execute(_RELEASE, {"order": order.client_order_id, "why": str(order.status)})
        return RecordedChanges(executions=booked, fees=charged, updates=changed)

    async def reservations(self, account_id: str, held_only: bool = True) -> Sequence[Reservation]:
        query = select(_RESERVATIONS).where(_RESERVATIONS.c.account_id == account_id)
        if held_only:
            query = query.where(_RESERVATIONS.c.status == HELD)
        async with self._sessions() as session:
            rows = (await session.execute(query.order_by(_RESERVATIONS.c.created_at))).mappings().all()
        return [_reservation(row) for row in rows]

    async def reservation(self, client_order_id: str) -> Reservation | None:
        query = select(_RESERVATIONS).where(_RESERVATIONS.c.client_order_id == client_order_id)
        async with self._sessions() as session:
            row = (await session.execute(query)).mappings().first()
        return None if row is None else _reservation(row)

    async def estimated_fees(self, client_order_ids: Sequence[str]) -> dict[str, Decimal]:
        """Our pre-trade fee estimate of each order."""
        query = select(_RESERVATIONS.c.client_order_id, _RESERVATIONS.c.estimated_fees).where(
            _RESERVATIONS.c.client_order_id.in_(list(client_order_ids)))
        async with self._sessions() as session:
            return {row[0]: row[1] for row in (await session.execute(query)).all()}

