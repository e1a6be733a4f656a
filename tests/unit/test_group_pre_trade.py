"""GroupActivities.pre_trade_group: enforced, one refused leg releases what the call reserved (nothing sent);
not enforced (the broker holds the legs already), a refused exit does not stop the other from reserving."""

from __future__ import annotations

from temporalio.testing import ActivityEnvironment

from activities.group_activities import GroupActivities
from activities.group_models import GroupPreTradeInput
from activities.models import PreTradeInput, PreTradeResult
from domain.broker_integration import LegRole, OrderGroupRequest


def _bracket() -> OrderGroupRequest:
    legs = [
        {"role": "ENTRY", "side": "BUY", "quantity": 10, "order_type": "MARKET"},
        {"role": "TAKE_PROFIT", "side": "SELL", "quantity": 10, "order_type": "LIMIT", "limit_price": "110"},
        {"role": "STOP_LOSS", "side": "SELL", "quantity": 10, "order_type": "STOP", "stop_price": "95"},
    ]
    return OrderGroupRequest(group_id="g1", kind="BRACKET", symbol="MSFT", legs=legs, connection_id="conn-1")


class _Checks:
    """The single order's pre-trade check: the take-profit is refused, the others pass (and are reserved)."""

    def __init__(self) -> None:
        self.checked: list[str] = []

    async def pre_trade_check(self, request: PreTradeInput) -> PreTradeResult:
        self.checked.append(request.order.client_order_id)
        if request.order.client_order_id.endswith("-tp"):
            return PreTradeResult(ok=False, reason="SHORT_NOT_ALLOWED: no shares")
        return PreTradeResult(ok=True)


class _Ledger:
    def __init__(self) -> None:
        self.released: list[str] = []

    async def release(self, client_order_id: str, reason: str) -> bool:
        self.released.append(client_order_id)
        return True


class _Repos:
    def __init__(self) -> None:
        self.ledger = _Ledger()


def _activities() -> tuple[GroupActivities, _Checks, _Ledger]:
    repos = _Repos()
    group = GroupActivities(repos, None)  # type: ignore[arg-type]  # no broker call on this path
    checks = _Checks()
    group._orders = checks  # type: ignore[assignment]
    return group, checks, repos.ledger


async def test_exits_reserved_after_the_fill_are_all_tried_when_one_is_refused() -> None:
    group, checks, ledger = _activities()
    request = GroupPreTradeInput(group=_bracket(), roles=[LegRole.TAKE_PROFIT, LegRole.STOP_LOSS], enforce=False)
    result = await ActivityEnvironment().run(group.pre_trade_group, request)
    assert checks.checked == ["g1-tp", "g1-sl"]  # the stop-loss is reserved although the take-profit was refused
    assert not result.ok and result.reserved == ["g1-sl"] and "TAKE_PROFIT" in (result.reason or "")
    assert ledger.released == []


async def test_an_enforced_refusal_releases_what_the_call_reserved() -> None:
    group, checks, ledger = _activities()
    request = GroupPreTradeInput(group=_bracket(), roles=[LegRole.STOP_LOSS, LegRole.TAKE_PROFIT])
    result = await ActivityEnvironment().run(group.pre_trade_group, request)
    assert not result.ok and ledger.released == ["g1-sl"]
    assert checks.checked == ["g1-sl", "g1-tp"]


