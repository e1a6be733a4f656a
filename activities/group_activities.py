"""Order-group activities: which path a group takes, and the native path's pre-trade check and ledger
reservation (the single order's own check, leg by leg), submission, polling and release."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from domain.broker_integration import (
    BrokerDuplicateOrderError,
    BrokerError,
    DomainError,
    NotFoundError,
)

from .group_models import (
    GroupCapabilitiesInput,
    GroupCapabilitiesResult,
    GroupPollInput,
    GroupPollResult,
    GroupPreTradeInput,
    GroupPreTradeResult,
    GroupReleaseInput,
    SubmitGroupInput,
)
from .models import PreTradeInput
from .order_activities import OrderActivities, broker_failure
from .ports import ActivityRepositories
from .sessions import SessionPool

__all__ = ["GroupActivities"]


class GroupActivities:
    """Activities of OrderGroupWorkflow, bound to the worker's repositories and broker sessions."""

    def __init__(self, repositories: ActivityRepositories, sessions: SessionPool) -> None:
        self._repos = repositories
        self._sessions = sessions
        self._orders = OrderActivities(repositories, sessions)

    def methods(self) -> list[Callable[..., Any]]:
        """The bound activity methods, for Worker(activities=...)."""
        return [self.group_capabilities, self.pre_trade_group, self.submit_group, self.poll_group,
                self.release_group_legs]

    @activity.defn
    async def pre_trade_group(self, request: GroupPreTradeInput) -> GroupPreTradeResult:
        """Each leg through the single order's pre-trade check and reservation (an OCO's exits hold their
        position once). Enforced, a refusal releases what this call reserved: the group is not sent."""
        reserved: list[str] = []
        refused: list[str] = []
        for role in request.roles:
            order = request.group.broker_order(role, request.quantity)
            checked = await self._orders.pre_trade_check(PreTradeInput(order=order))
            if checked.ok:
                reserved.append(order.client_order_id)
                continue
            reason = f"{role}: {checked.reason}"
            if request.enforce:
                await self._release(reserved, "group refused before submission")
                return GroupPreTradeResult(ok=False, reason=reason)
            refused.append(reason)  # not enforced (the broker holds the legs already): reserve the others
        if refused:
            return GroupPreTradeResult(ok=False, reason="; ".join(refused), reserved=reserved)
        return GroupPreTradeResult(ok=True, reserved=reserved)

    @activity.defn
    async def release_group_legs(self, request: GroupReleaseInput) -> None:
        """Release the reservations of legs that have ended."""
        await self._release(request.client_order_ids, request.reason)

    async def _release(self, client_order_ids: list[str], reason: str) -> None:
        ledger = getattr(self._repos, "ledger", None)
        if ledger is None:
            return
        for client_order_id in client_order_ids:
            await ledger.release(client_order_id, reason)

    @activity.defn
    async def group_capabilities(self, request: GroupCapabilitiesInput) -> GroupCapabilitiesResult:
        """Whether the connection's broker holds bracket/OCO/OTO groups itself (no broker call)."""
        try:
            connection = await self._sessions.connection(request.connection_id)
            capabilities = self._sessions.provider.gateway_for(connection).capabilities()
        except NotFoundError as exc:
            raise ApplicationError(str(exc), type="ConnectionNotFound", non_retryable=True) from exc
        except DomainError as exc:  # no adapter for the broker: emulate (the legs will say what is wrong)
            activity.logger.warning("capabilities of %s unknown: %s", request.connection_id, exc)
            return GroupCapabilitiesResult(broker="unknown")
        return GroupCapabilitiesResult(broker=capabilities.broker,
                                       supports_order_classes=getattr(capabilities, "supports_order_classes", False))

    @activity.defn
    async def submit_group(self, request: SubmitGroupInput) -> GroupPollResult:
        """Submit the group natively, once: a retry first looks the parent order up by its client order id."""
        group = request.group
        assert group.connection_id is not None
        gateway = await self._sessions.activity_gateway(group.connection_id)
        submit = getattr(gateway, "submit_group", None)
        if submit is None:
            raise ApplicationError(f"{gateway.broker} has no native order groups", type="BrokerRejected",
                                   non_retryable=True)
        lookup = gateway.get_group_by_client_id  # type: ignore[attr-defined]
        try:
            if activity.info().attempt > 1:
                found = await lookup(group)
                if found:
                    return GroupPollResult(legs=found)
            legs = await submit(group)
        except BrokerDuplicateOrderError:
            legs = await lookup(group)
            if not legs:
                raise ApplicationError("group submitted but not visible yet", type="DuplicateNotVisible") from None
        except BrokerError as exc:
            raise broker_failure(exc) from exc
        return GroupPollResult(legs=legs)

    @activity.defn
    async def poll_group(self, request: GroupPollInput) -> GroupPollResult:
        """The group's orders at the broker by role, and the executions since `since` of any of them."""
        gateway = await self._sessions.activity_gateway(request.group.connection_id or "")
        try:
            legs = await gateway.get_group_by_client_id(request.group)  # type: ignore[attr-defined]
            executions = await gateway.executions_since(request.since) if request.since else []
        except BrokerError as exc:
            raise broker_failure(exc) from exc
        ids = {snapshot.broker_order_id for snapshot in legs.values()}
        return GroupPollResult(legs=legs, executions=[e for e in executions if e.broker_order_id in ids])
