"""Inputs, outputs and messages of the order-group workflow and its activities: one model per call, no secrets."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator

from domain.broker_integration import (
    ExecutionReport,
    GroupKind,
    GroupStatus,
    LegRole,
    LegStatus,
    OrderGroupRequest,
    OrderSnapshot,
)

__all__ = [
    "GroupCapabilitiesInput",
    "GroupCapabilitiesResult",
    "GroupPath",
    "GroupPollInput",
    "GroupPollResult",
    "GroupPreTradeInput",
    "GroupPreTradeResult",
    "GroupReleaseInput",
    "GroupView",
    "LegChange",
    "LegChangeKind",
    "LegUpdate",
    "LegView",
    "OrderGroupInput",
    "SubmitGroupInput",
    "order_group_workflow_id",
]


def order_group_workflow_id(group_id: str) -> str:
    """The workflow id of a group: one group per group id."""
    return f"order-group-{group_id}"


class GroupPath(StrEnum):
    NATIVE = "NATIVE"  # the broker holds the group (Alpaca order classes)
    EMULATED = "EMULATED"  # one child OrderWorkflow per leg, coupled by the group workflow


class OrderGroupInput(BaseModel):
    """What a caller sends to start a group; the group must pin its connection (all legs at one broker)."""

    model_config = ConfigDict(extra="forbid")

    group: OrderGroupRequest
    path: GroupPath | None = Field(default=None, description="Force a path; none: native when the broker can")
    poll_interval_seconds: float = Field(default=2.0, gt=0, le=3600)
    safety_poll_seconds: float = Field(default=21600.0, ge=1, le=86400)

    @field_validator("group")
    @classmethod
    def _pinned(cls, group: OrderGroupRequest) -> OrderGroupRequest:
        if not group.connection_id:
            raise ValueError("an order group needs a connection_id: all its legs go to one broker")
        return group


class LegUpdate(BaseModel):
    """A leg order's news for its group: status and cumulative fill (from the leg's workflow, or a poll)."""

    client_order_id: str
    status: str
    filled_quantity: Decimal = Decimal(0)
    avg_fill_price: Decimal | None = None
    broker_order_id: str | None = None
    reason: str | None = None


class LegChangeKind(StrEnum):
    CANCEL = "CANCEL"
    REDUCE = "REDUCE"


class LegChange(BaseModel):
    """What a group asks of one of its leg orders (a workflow cannot send updates: this is a signal)."""

    kind: LegChangeKind
    quantity: Decimal | None = None
    reason: str = ""


class LegView(BaseModel):
    role: LegRole
    client_order_id: str
    status: LegStatus
    order_status: str | None = None
    quantity: Decimal
    filled_quantity: Decimal
    avg_fill_price: Decimal | None = None
    broker_order_id: str | None = None
    reason: str | None = None


class GroupView(BaseModel):
    """What the group's `state` query (and its result) answers."""

    group_id: str
    kind: GroupKind
    symbol: str
    status: GroupStatus
    path: GroupPath | None = None
    connection_id: str | None = None
    legs: list[LegView] = Field(default_factory=list)
    both_exits_filled: bool = False
    reason: str | None = None


class GroupCapabilitiesInput(BaseModel):
    connection_id: str


class GroupCapabilitiesResult(BaseModel):
    broker: str
    supports_order_classes: bool = False


class SubmitGroupInput(BaseModel):
    group: OrderGroupRequest


class GroupPollInput(BaseModel):
    group: OrderGroupRequest
    since: datetime | None = None


class GroupPollResult(BaseModel):
    """The parent order and its legs at the broker (by role), and the executions of any of them."""

    legs: dict[LegRole, OrderSnapshot] = Field(default_factory=dict)
    executions: list[ExecutionReport] = Field(default_factory=list)


class GroupPreTradeInput(BaseModel):
    """The pre-trade check (and ledger reservation) of some legs of a native group: its entry before it is sent
    (an OCO: both exits, against the position), a bracket's exits once the entry has filled (`quantity`)."""

    group: OrderGroupRequest
    roles: list[LegRole]
    quantity: Decimal | None = None
    enforce: bool = True  # False: a refusal is reported, the legs already reserved stay


class GroupPreTradeResult(BaseModel):
    ok: bool
    reason: str | None = None
    reserved: list[str] = Field(default_factory=list)  # client order ids whose check passed


class GroupReleaseInput(BaseModel):
    """Legs that have ended: their reservations are released (filled, canceled, expired, rejected)."""

    client_order_ids: list[str]
    reason: str
