"""AccountLedgerRepository on PostgreSQL: the account row is the lock.

Every change to an account (a broker snapshot merged, a reservation taken, a fill or a fee booked) runs in
one transaction that first takes `SELECT ... FOR UPDATE` on the account's row, so concurrent pre-trade
checks of one account are serialised and two orders cannot spend the same dollars. A fill or fee is
inserted and applied in the same transaction, so a retried activity can neither skip nor repeat it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from domain.broker_integration import (
    AccountType,
    AssetClass,
    BrokerAccount,
    BrokerOrder,
    ExecutionReport,
    FeeReport,
    OrderSide,
)
from domain.broker_integration.repositories import LedgerSync, ReservationRequest
from domain.broker_integration.rules.accounting import (
    account_drift,
    ahead_of_us,
    apply_fill,
    is_stale,
    merge_broker_snapshot,
)
from domain.broker_integration.rules.buying_power import (
    Reservation,
    check_pre_trade,
    reservation_for,
    reserved_totals,
)
from domain.broker_integration.rules.margin import AccountFigures, compute_figures
from persistence.tables import AccountReservationRow, BrokerAccountRow, ExecutionReportRow, FeeReportRow, OrderRow

from ._base import SqlRepository, plain, table_of, upsert
from .accounts import account_from_row, account_values
from .fees import FEE_KEY
from .history import EXECUTION_KEY

__all__ = ["SqlAccountLedger"]

_ACCOUNTS = table_of(BrokerAccountRow)
_RESERVATIONS = table_of(AccountReservationRow)
_EXECUTIONS = table_of(ExecutionReportRow)
_FEES = table_of(FeeReportRow)
_ORDERS = table_of(OrderRow)
TERMINAL = ("FILLED", "CANCELED", "REJECTED", "EXPIRED")
ORPHAN_AFTER = timedelta(minutes=10)
HELD, RELEASED = "HELD", "RELEASED"


def _reservation(row: Any) -> Reservation:
    return Reservation(client_order_id=row["client_order_id"], account_id=row["account_id"], symbol=row["symbol"],
                       side=row["side"], quantity=row["quantity"], amount=row["amount"],
                       filled_quantity=row["filled_quantity"])


class SqlAccountLedger(SqlRepository):
    """Accounts, reservations, executions and fees, kept consistent with each other."""

    async def _locked(self, session: AsyncSession, account_id: str) -> BrokerAccount | None:
        query = select(_ACCOUNTS).where(_ACCOUNTS.c.account_id == account_id).with_for_update()
        row = (await session.execute(query)).mappings().first()
        return None if row is None else account_from_row(row)

    async def _save(self, session: AsyncSession, account: BrokerAccount) -> None:
        await session.execute(upsert(_ACCOUNTS, account_values(account), "account_id"))

    async def _held(self, session: AsyncSession, account_id: str) -> list[Reservation]:
        """The account's held reservations. Read for every new order of the account, so only the columns a
        Reservation needs, built without validation (the rows were validated on the way in)."""
        c = _RESERVATIONS.c
        query = select(c.client_order_id, c.account_id, c.symbol, c.side, c.quantity, c.amount,
                       c.filled_quantity).where(and_(c.account_id == account_id, c.status == HELD))
        return [Reservation.model_construct(client_order_id=cid, account_id=acc, symbol=symbol, side=OrderSide(side),
                                            quantity=quantity, amount=amount, filled_quantity=filled)
                for cid, acc, symbol, side, quantity, amount, filled in (await session.execute(query)).all()]

    async def _merge(self, session: AsyncSession, snapshot: BrokerAccount, today: date) -> LedgerSync:
        local = await self._locked(session, snapshot.account_id)
        if local is None:
            # A new account: insert it; if another transaction got there first, lock and merge into theirs.
            fresh = merge_broker_snapshot(None, snapshot, today)
            stmt = (insert(_ACCOUNTS).values(**account_values(fresh))
                    .on_conflict_do_nothing(index_elements=["account_id"]).returning(_ACCOUNTS.c.account_id))
            if (await session.execute(stmt)).first() is not None:
                return LedgerSync(account=fresh, created=True)
            local = await self._locked(session, snapshot.account_id)
        await self._release_finished(session, snapshot.account_id)
        held = await self._held(session, snapshot.account_id)
        in_flight = {r.symbol for r in held}
        merged = merge_broker_snapshot(local, snapshot, today, in_flight)
        comparable = local is not None and not is_stale(local, snapshot) and not ahead_of_us(local, snapshot,
                                                                                                  in_flight)
        drifts = account_drift(local, snapshot) if comparable and local is not None else []
        await self._save(session, merged)
        return LedgerSync(account=merged, drifts=drifts, orders_in_flight=len(held), held=tuple(held))

    async def _release_finished(self, session: AsyncSession, account_id: str) -> None:
        """A safety net for reservations whose order's last step failed: released when the order row is
        terminal, or when no order row exists ORPHAN_AFTER after the check (its workflow ended before it
        stored the order, e.g. the pre-trade activity failed after reserving)."""
        finished = select(_ORDERS.c.client_order_id).where(_ORDERS.c.status.in_(TERMINAL))
        stored = select(_ORDERS.c.client_order_id)
        orphaned = and_(_RESERVATIONS.c.client_order_id.not_in(stored),
                        _RESERVATIONS.c.created_at < func.now() - ORPHAN_AFTER)
        await session.execute(
            update(_RESERVATIONS)
            .where(and_(_RESERVATIONS.c.account_id == account_id, _RESERVATIONS.c.status == HELD,
                        or_(_RESERVATIONS.c.client_order_id.in_(finished), orphaned)))
            .values(status=RELEASED, reason="order ended", released_at=func.now()))

    async def sync(self, snapshot: BrokerAccount, today: date) -> LedgerSync:
        async with self._sessions.begin() as session:
            return await self._merge(session, snapshot, today)

    async def reserve(self, request: ReservationRequest) -> tuple[Reservation, AccountFigures]:
        order, snapshot = request.order, request.snapshot
        async with self._sessions.begin() as session:
            synced = await self._merge(session, snapshot, request.today)
            merged = synced.account
            query = select(_RESERVATIONS).where(_RESERVATIONS.c.client_order_id == order.client_order_id)
            existing = (await session.execute(query)).mappings().first()
            held_here = existing is not None and existing["status"] == HELD and (
                existing["account_id"] == snapshot.account_id)
            if held_here:  # a retried activity: the first decision stands
                return _reservation(existing), compute_figures(merged, request.today)
            others = [r for r in synced.held if r.client_order_id != order.client_order_id]
            figures = check_pre_trade(order, merged, request.reference_price, today=request.today,
                                      fees=request.estimated_fees, reserved=reserved_totals(others, order.symbol))
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
            stmt = insert(_RESERVATIONS).values(**values)
            await session.execute(stmt.on_conflict_do_update(
                index_elements=["client_order_id"],
                set_={k: stmt.excluded[k] for k in values if k != "client_order_id"}))
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
            others = [r for r in await self._held(session, account.account_id)
                      if r.client_order_id != order.client_order_id]
            remaining = order.quantity - current.filled_quantity
            moved = reservation_for(order, account.account_id, reference_price, estimated_fees)
            if not commit:
                if remaining > 0:
                    unfilled = order.model_copy(update={"quantity": remaining})
                    check_pre_trade(unfilled, account, reference_price, today=today, fees=estimated_fees,
                                    reserved=reserved_totals(others, order.symbol))
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
        stmt = (update(_RESERVATIONS)
                .where(and_(_RESERVATIONS.c.client_order_id == client_order_id, _RESERVATIONS.c.status == HELD))
                .values(status=RELEASED, reason=reason, released_at=func.now())
                .returning(_RESERVATIONS.c.client_order_id))
        async with self._sessions.begin() as session:
            return (await session.execute(stmt)).first() is not None

    async def _account_of(self, session: AsyncSession, client_order_id: str) -> str | None:
        query = select(_RESERVATIONS.c.account_id).where(_RESERVATIONS.c.client_order_id == client_order_id)
        return (await session.execute(query)).scalar_one_or_none()

    async def _order_account(self, session: AsyncSession, client_order_id: str) -> BrokerAccount | None:
        """The account an order reserved on, locked; None for an order we never checked."""
        account_id = await self._account_of(session, client_order_id)
        return None if account_id is None else await self._locked(session, account_id)

    async def book_execution(self, report: ExecutionReport, trade_date: date) -> bool:
        values = {key: plain(value) for key, value in report.model_dump().items()}
        async with self._sessions.begin() as session:
            if not await self._insert_once(_EXECUTIONS, values, EXECUTION_KEY, session):
                return False
            account = await self._order_account(session, report.client_order_id)
            if account is not None:
                effect = apply_fill(account, symbol=report.symbol, side=report.side, quantity=report.quantity,
                                    price=report.price, fees=report.commission + report.fees,
                                    trade_date=trade_date, order_id=report.client_order_id,
                                    asset_class=await self._asset_class(session, report.client_order_id))
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
        values = {key: plain(value) for key, value in fee.model_dump().items()}
        async with self._sessions.begin() as session:
            if not await self._insert_once(_FEES, values, FEE_KEY, session):
                return False
            account = await self._order_account(session, fee.client_order_id)
            if account is not None:
                await self._save(session, account.model_copy(update={
                    "cash": account.cash - fee.amount, "equity": account.equity - fee.amount,
                    "booked_at": datetime.now(UTC)}))
            return True

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

