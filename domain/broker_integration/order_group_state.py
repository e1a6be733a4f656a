"""The contingent-group state machine (pure): leg events in, actions on the other legs and the group's status out.

Policy (the same as Alpaca's order classes, so the native and emulated paths agree):

- BRACKET / OTO: the exits are HELD until the entry is completely filled, then activated for the filled quantity.
  An entry that ends CANCELED or EXPIRED (not by a group cancel) after a partial fill activates the exits for what
  was filled, so no filled position is left unprotected; with nothing filled the exits are SKIPPED.
- Exits (BRACKET, OCO): a fill of one exit cancels the other; a partial fill REDUCEs the other to what is left of
  the filled leg (a position is never closed twice over). A canceled, expired or rejected exit cancels the other
  ("if any leg is canceled the rest are canceled").
- A group cancel cancels every live leg and skips the held ones; it does not undo fills.
- The group ends when every leg has: COMPLETED when its purpose was served (an exit filled; for an OCO either leg),
  FAILED when a leg was rejected, CANCELLED otherwise. `both_exits_filled` flags the race the broker lost.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from .errors import DomainError
from .order_groups import GroupKind, LegRole, OrderGroupRequest

__all__ = [
    "ActionKind",
    "GroupAction",
    "GroupStatus",
    "LegEvent",
    "LegEventKind",
    "LegProgress",
    "LegStatus",
    "OrderGroup",
    "UnknownLegError",
]


class GroupStatus(StrEnum):
    PENDING = "PENDING"
    ACTIVE = "ACTIVE"
    COMPLETED = "COMPLETED"
    CANCELLED = "CANCELLED"
    FAILED = "FAILED"

    @property
    def is_terminal(self) -> bool:
        return self in (GroupStatus.COMPLETED, GroupStatus.CANCELLED, GroupStatus.FAILED)


class LegStatus(StrEnum):
    HELD = "HELD"  # waiting for the entry to fill
    WORKING = "WORKING"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELED = "CANCELED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"
    SKIPPED = "SKIPPED"  # never activated: the group ended first

    @property
    def is_terminal(self) -> bool:
        return self in (LegStatus.FILLED, LegStatus.CANCELED, LegStatus.REJECTED, LegStatus.EXPIRED, LegStatus.SKIPPED)

    @property
    def is_live(self) -> bool:
        return self in (LegStatus.WORKING, LegStatus.PARTIALLY_FILLED)


class LegEventKind(StrEnum):
    ACCEPTED = "ACCEPTED"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELED = "CANCELED"
    EXPIRED = "EXPIRED"
    REJECTED = "REJECTED"


class ActionKind(StrEnum):
    ACTIVATE = "ACTIVATE"
    CANCEL = "CANCEL"
    REDUCE = "REDUCE"


class UnknownLegError(DomainError):
    """An event for a leg the group does not have."""


class LegEvent(BaseModel):
    """What happened to a leg; `filled_quantity` is cumulative."""

    model_config = ConfigDict(frozen=True)

    role: LegRole
    kind: LegEventKind
    filled_quantity: Decimal = Decimal(0)
    reason: str | None = None


class GroupAction(BaseModel):
    """What the group's runner must do to a leg (ACTIVATE and REDUCE carry the quantity)."""

    model_config = ConfigDict(frozen=True)

    kind: ActionKind
    role: LegRole
    quantity: Decimal | None = None
    reason: str = ""


class LegProgress(BaseModel):
    role: LegRole
    status: LegStatus
    quantity: Decimal
    filled_quantity: Decimal = Decimal(0)
    reason: str | None = None


_EVENT_STATUS = {
    LegEventKind.ACCEPTED: LegStatus.WORKING, LegEventKind.PARTIALLY_FILLED: LegStatus.PARTIALLY_FILLED,
    LegEventKind.FILLED: LegStatus.FILLED, LegEventKind.CANCELED: LegStatus.CANCELED,
    LegEventKind.EXPIRED: LegStatus.EXPIRED, LegEventKind.REJECTED: LegStatus.REJECTED,
}
_EXITS = (LegRole.TAKE_PROFIT, LegRole.STOP_LOSS)


class OrderGroup(BaseModel):
    """A group's legs and status; `start`, `apply` and `cancel` return the actions to carry out."""

    request: OrderGroupRequest
    status: GroupStatus = GroupStatus.PENDING
    legs: list[LegProgress] = Field(default_factory=list)
    cancel_requested: str | None = None
    both_exits_filled: bool = False

    @classmethod
    def create(cls, request: OrderGroupRequest) -> OrderGroup:
        """A PENDING group: the contingent exits HELD, the rest waiting to be activated."""
        legs = [LegProgress(role=leg.role, status=LegStatus.HELD, quantity=leg.quantity) for leg in request.legs]
        return cls(request=request, legs=legs)

    def leg(self, role: LegRole) -> LegProgress:
        found = next((leg for leg in self.legs if leg.role is role), None)
        if found is None:
            raise UnknownLegError(f"group {self.request.group_id} has no {role} leg")
        return found

    @property
    def has_entry(self) -> bool:
        return self.request.kind is not GroupKind.OCO

    @property
    def is_terminal(self) -> bool:
        return self.status.is_terminal

    def start(self) -> list[GroupAction]:
        """Activate the legs that work from the start: the entry, or both legs of an OCO."""
        if self.status is not GroupStatus.PENDING:
            return []
        self.status = GroupStatus.ACTIVE
        first = [LegRole.ENTRY] if self.has_entry else [leg.role for leg in self.legs]
        return [self._activate(role, self.leg(role).quantity, "group started") for role in first]

    def cancel(self, reason: str) -> list[GroupAction]:
        """Cancel the group: every live leg canceled, every held one skipped."""
        if self.is_terminal or self.cancel_requested is not None:
            return []
        self.cancel_requested = reason
        actions = self._stop_others(None, reason)
        self._settle()
        return actions

    def apply(self, event: LegEvent) -> list[GroupAction]:
        """Apply a leg's event; the actions that follow for the other legs (none for a repeat)."""
        leg = self.leg(event.role)
        more_filled = event.filled_quantity > leg.filled_quantity
        leg.filled_quantity = max(leg.filled_quantity, event.filled_quantity)
        status = _EVENT_STATUS[event.kind]
        if leg.status.is_terminal:
            # A late fill of a canceled leg still counts; the status does not move back.
            if more_filled and leg.role in _EXITS:
                self._check_both_filled()
            return []
        if status is leg.status and not more_filled:
            return []
        if leg.status is LegStatus.HELD and status is LegStatus.WORKING:
            return []  # a broker's held leg is alive but waiting: only the group activates it
        leg.status = status
        leg.reason = event.reason or leg.reason
        actions = self._entry_actions(leg) if leg.role is LegRole.ENTRY else self._exit_actions(leg)
        self._check_both_filled()
        self._settle()
        return actions

    # ---- the policy ------------------------------------------------------------------------------------

    def _entry_actions(self, entry: LegProgress) -> list[GroupAction]:
        if entry.status is LegStatus.FILLED and self.cancel_requested is None:
            return self._activate_exits(entry.filled_quantity, "entry filled")
        if entry.status in (LegStatus.CANCELED, LegStatus.EXPIRED) and entry.filled_quantity > 0 \
                and self.cancel_requested is None:
            return self._activate_exits(entry.filled_quantity, f"entry {entry.status} after a partial fill")
        if entry.status.is_terminal:
            return self._stop_others(entry.role, f"entry {entry.status}")
        return []

    def _exit_actions(self, leg: LegProgress) -> list[GroupAction]:
        sibling = self._sibling(leg.role)
        if leg.status is LegStatus.PARTIALLY_FILLED:
            left = leg.quantity - leg.filled_quantity
            if sibling is not None and sibling.status.is_live and sibling.filled_quantity < left < sibling.quantity:
                sibling.quantity = left
                return [GroupAction(kind=ActionKind.REDUCE, role=sibling.role, quantity=left,
                                    reason=f"{leg.role} partially filled")]
            return []
        if leg.status.is_terminal:
            return self._stop_others(leg.role, f"{leg.role} {leg.status}")
        return []

    def _activate_exits(self, quantity: Decimal, reason: str) -> list[GroupAction]:
        actions = []
        for leg in self.legs:
            if leg.role in _EXITS and leg.status is LegStatus.HELD:
                leg.quantity = quantity
                actions.append(self._activate(leg.role, quantity, reason))
        return actions

    def _activate(self, role: LegRole, quantity: Decimal, reason: str) -> GroupAction:
        self.leg(role).status = LegStatus.WORKING
        return GroupAction(kind=ActionKind.ACTIVATE, role=role, quantity=quantity, reason=reason)

    def _stop_others(self, cause: LegRole | None, reason: str) -> list[GroupAction]:
        """Cancel the live legs and skip the held ones (except `cause`)."""
        actions = []
        for leg in self.legs:
            if leg.role is cause:
                continue
            if leg.status is LegStatus.HELD:
                leg.status = LegStatus.SKIPPED
                leg.reason = reason
            elif leg.status.is_live:
                actions.append(GroupAction(kind=ActionKind.CANCEL, role=leg.role, reason=reason))
        return actions

    def _sibling(self, role: LegRole) -> LegProgress | None:
        other = LegRole.STOP_LOSS if role is LegRole.TAKE_PROFIT else LegRole.TAKE_PROFIT
        return next((leg for leg in self.legs if leg.role is other), None)

    def _check_both_filled(self) -> None:
        exits = [leg for leg in self.legs if leg.role in _EXITS]
        if len(exits) == 2 and all(leg.filled_quantity > 0 for leg in exits):
            total = sum((leg.filled_quantity for leg in exits), Decimal(0))
            self.both_exits_filled = total > max(leg.quantity for leg in exits)

    def _settle(self) -> None:
        """The group's status once every leg has ended."""
        if not all(leg.status.is_terminal for leg in self.legs):
            return
        if any(leg.status is LegStatus.REJECTED for leg in self.legs):
            self.status = GroupStatus.FAILED
        elif any(leg.role in _EXITS and leg.status is LegStatus.FILLED for leg in self.legs):
            self.status = GroupStatus.COMPLETED
        else:
            self.status = GroupStatus.CANCELLED
