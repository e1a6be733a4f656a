"""The smart order router: capabilities, health, buying power, costs, policies, and the explanation."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from domain.broker_integration import (
    AccountType,
    AssetClass,
    BrokerAccount,
    BrokerCapabilities,
    BrokerConnection,
    BrokerOrder,
    InvalidOrderError,
    Order,
    OrderType,
    TimeInForce,
)
from domain.broker_integration.rules.buying_power import Reservation
from domain.broker_integration.rules.fees import FeeSchedule
from domain.broker_integration.rules.metrics import ExecutionQuality
from domain.broker_integration.rules.routing import (
    AccountCandidate,
    PolicyKind,
    RouteCandidate,
    RoutingPolicy,
    choose_route,
    is_smart,
)

T0 = datetime(2026, 11, 25, 15, tzinfo=UTC)
TODAY = date(2026, 11, 25)
FULL = BrokerCapabilities(broker="full", supports_fractional=True, supports_extended_hours=True,
                          asset_classes=frozenset(AssetClass))


def connection(cid: str, broker: str = "full", status: str = "CONNECTED") -> BrokerConnection:
    c = BrokerConnection(connection_id=cid, broker=broker)
    if status == "DISCONNECTED":
        return c
    c.begin_connect(T0)
    c.authenticated(T0, None)
    if status == "DEGRADED":
        c.degrade(T0, "slow health checks")
    if status == "FAILED":
        c.trip(T0, "503 from every endpoint")
    return c


def candidate(cid: str, caps: BrokerCapabilities = FULL, **fields: Any) -> RouteCandidate:
    status = fields.pop("status", "CONNECTED")
    return RouteCandidate(connection(cid, caps.broker, status), caps, **fields)


def order(**fields: Any) -> BrokerOrder:
    base: dict[str, Any] = dict(client_order_id="o1", symbol="AAPL", side="BUY", quantity=100, order_type="LIMIT",
                                price="10.00")
    return BrokerOrder(**(base | fields))


def cash_account(cid: str, cash: str, account_id: str | None = None, **fields: Any) -> AccountCandidate:
    account = BrokerAccount(account_id=account_id or f"{cid}-acct", connection_id=cid, account_number="12345678",
                            account_type=AccountType.CASH, cash=Decimal(cash), settled_cash=Decimal(cash),
                            trade_date=TODAY)
    return AccountCandidate(account, **fields)


def verdict(decision: Any, cid: str) -> Any:
    return next(v for v in decision.candidates if v.connection_id == cid)


@pytest.mark.parametrize(("mismatch", "caps", "fields", "why"), [
    ("order type", FULL.model_copy(update={"order_types": frozenset({OrderType.MARKET})}), {},
     "does not support LIMIT"),
    ("time in force", FULL.model_copy(update={"time_in_force": frozenset({TimeInForce.DAY})}),
     {"execution_params": {"time_in_force": "GTC"}}, "does not support GTC"),
    ("asset class", FULL.model_copy(update={"asset_classes": frozenset({AssetClass.EQUITY})}),
     {"symbol": "BTCUSD", "asset_class": "CRYPTO"}, "does not trade CRYPTO"),
    ("fractional", FULL.model_copy(update={"supports_fractional": False}), {"quantity": "0.5"},
     "fractional"),
    ("extended hours", FULL.model_copy(update={"supports_extended_hours": False}),
     {"execution_params": {"extended_hours": True}}, "no extended hours"),
    ("shorting", FULL.model_copy(update={"supports_short": False}), {"side": "SELL_SHORT"}, "short"),
])
def test_each_capability_mismatch_excludes_the_candidate(mismatch: str, caps: BrokerCapabilities,
                                                         fields: dict[str, Any], why: str) -> None:
    unfit = caps.model_copy(update={"broker": "unfit"})
    decision = choose_route(order(**fields), [candidate("a-unfit", unfit), candidate("b-fits")], T0, today=TODAY)
    assert decision.connection_id == "b-fits", mismatch
    excluded = verdict(decision, "a-unfit")
    assert not excluded.eligible and any(why in r for r in excluded.reasons), excluded.reasons


def test_an_unhealthy_broker_is_skipped_even_when_cheaper() -> None:
    cheap = FeeSchedule(name="free")
    pricey = FeeSchedule(name="pricey", commission_per_order=Decimal("5"))
    decision = choose_route(order(), [candidate("a-failed", status="FAILED", fee_schedule=cheap),
                                      candidate("b-healthy", fee_schedule=pricey)], T0, today=TODAY)
    assert decision.connection_id == "b-healthy"
    failed = verdict(decision, "a-failed")
    assert not failed.eligible and "unhealthy: FAILED" in failed.reasons[0]


def test_degraded_costs_more_than_connected_and_a_new_connection_is_still_eligible() -> None:
    decision = choose_route(order(), [candidate("a-degraded", status="DEGRADED"),
                                      candidate("b-new", status="DISCONNECTED")], T0, today=TODAY)
    assert decision.connection_id == "b-new"
    assert verdict(decision, "a-degraded").health_penalty > verdict(decision, "b-new").health_penalty > 0


def test_costs_decide_between_equals() -> None:
    per_share = FeeSchedule(name="per-share", commission_per_share=Decimal("0.005"))
    per_order = FeeSchedule(name="per-order", commission_per_order=Decimal("0.35"))
    decision = choose_route(order(), [candidate("a-per-share", fee_schedule=per_share),
                                      candidate("b-per-order", fee_schedule=per_order)], T0, today=TODAY)
    assert decision.connection_id == "b-per-order"
    loser = verdict(decision, "a-per-share")
    assert loser.eligible and loser.estimated_fees == Decimal("0.50") and "costlier" in loser.reasons[-1]
    # The same two for 10 shares: now the per-share schedule is cheaper.
    small = choose_route(order(quantity=10), [candidate("a-per-share", fee_schedule=per_share),
                                              candidate("b-per-order", fee_schedule=per_order)], T0, today=TODAY)
    assert small.connection_id == "a-per-share"


def test_recent_slippage_counts_as_cost() -> None:
    slippy = ExecutionQuality(orders=10, median_slippage_bps=Decimal("20"))
    tight = ExecutionQuality(orders=10, median_slippage_bps=Decimal("1"))
    decision = choose_route(order(), [candidate("a-slippy", quality=slippy), candidate("b-tight", quality=tight)],
                            T0, today=TODAY)
    assert decision.connection_id == "b-tight"
    assert verdict(decision, "a-slippy").estimated_slippage == Decimal("2.00")


def test_the_explanation_names_every_candidate() -> None:
    candidates = [candidate("a-failed", status="FAILED"),
                  candidate("b-market-only", FULL.model_copy(update={"order_types": frozenset({OrderType.MARKET})})),
                  candidate("c-poor", accounts=(cash_account("c-poor", "50"),)),
                  candidate("d-rich", accounts=(cash_account("d-rich", "5000"),)),
                  candidate("e-degraded", status="DEGRADED")]
    decision = choose_route(order(), candidates, T0, today=TODAY)
    assert decision.connection_id == "d-rich" and decision.account_id == "d-rich-acct"
    assert [v.connection_id for v in decision.candidates] == ["a-failed", "b-market-only", "c-poor", "d-rich",
                                                             "e-degraded"]
    assert [v.chosen for v in decision.candidates] == [False, False, False, True, False]
    assert all(v.reasons for v in decision.candidates if not v.chosen)
    lines = decision.explain()
    assert "d-rich" in lines[0] and all(c.connection.connection_id in " ".join(lines) for c in candidates)
    assert {r.split(":")[0] for r in decision.reasons} == {"a-failed", "b-market-only", "c-poor", "e-degraded"}


def test_buying_power_and_reservations_exclude_an_account() -> None:
    held = Reservation(client_order_id="other", account_id="a-acct", symbol="MSFT", side="BUY", quantity=Decimal(10),
                       amount=Decimal("600"))
    decision = choose_route(order(), [candidate("a", accounts=(cash_account("a", "1500", reservations=(held,)),)),
                                      candidate("b", accounts=(cash_account("b", "1000"),))], T0, today=TODAY)
    # a: $1,500 less $600 reserved leaves $900 < $1,000 needed; b has exactly enough.
    assert decision.connection_id == "b"
    reason = verdict(decision, "a").reasons[0]
    assert "INSUFFICIENT_BUYING_POWER" in reason and "$600.00 reserved" in reason


def test_the_named_account_is_the_only_one_considered() -> None:
    candidates = [candidate("a", accounts=(cash_account("a", "5000"),)),
                  candidate("b", accounts=(cash_account("b", "5000", account_id="mine"),))]
    decision = choose_route(order(account_id="mine"), candidates, T0, today=TODAY)
    assert (decision.connection_id, decision.account_id) == ("b", "mine")
    assert "does not reach account mine" in verdict(decision, "a").reasons[0]


def test_no_candidate_fits_says_why_for_each() -> None:
    decision = choose_route(order(), [candidate("a", status="FAILED")], T0, today=TODAY)
    assert decision.connection_id is None
    assert decision.reasons == (f"a: {decision.candidates[0].reasons[0]}",) and "FAILED" in decision.reasons[0]
    empty = choose_route(order(), [], T0)
    assert empty.connection_id is None and empty.summary == "no connection registered"


def test_abandoned_connections_are_excluded_and_recorded() -> None:
    decision = choose_route(order(), [candidate("a"), candidate("b")], T0, today=TODAY,
                            exclude={"a": "session not ready (FAILED): circuit open"}, abandoned=["a"])
    assert decision.connection_id == "b" and decision.abandoned == ("a",)
    assert verdict(decision, "a").reasons[0].startswith("abandoned: session not ready")


def test_prefer_broker_wins_when_eligible_and_falls_back_otherwise() -> None:
    other = FULL.model_copy(update={"broker": "other"})
    pricey = FeeSchedule(name="pricey", commission_per_order=Decimal("1"))
    candidates = [candidate("a-full"), candidate("b-other", other, fee_schedule=pricey)]
    policy = RoutingPolicy.from_text("prefer:other")
    assert policy == RoutingPolicy(kind=PolicyKind.PREFER_BROKER, broker="other")
    decision = choose_route(order(), candidates, T0, today=TODAY, policy=policy)
    assert decision.connection_id == "b-other" and decision.policy == "PREFER_BROKER(other)"
    assert "not the preferred broker other" in verdict(decision, "a-full").reasons[-1]
    fallback = choose_route(order(), [candidates[0], candidate("b-other", other, status="FAILED")], T0,
                            today=TODAY, policy=policy)
    assert fallback.connection_id == "a-full"


def test_spread_picks_the_connection_with_fewest_open_orders() -> None:
    candidates = [candidate("a", open_orders=3), candidate("b", open_orders=1), candidate("c", open_orders=2)]
    decision = choose_route(order(), candidates, T0, today=TODAY, policy=RoutingPolicy.from_text("SPREAD"))
    assert decision.connection_id == "b"
    assert "more open orders (3 vs 1)" in verdict(decision, "a").reasons[-1]


@pytest.mark.parametrize("text", ["fastest", "prefer:", "spread:x", "prefer"])
def test_a_bad_policy_is_a_typed_error(text: str) -> None:
    with pytest.raises(InvalidOrderError) as info:
        RoutingPolicy.from_text(text)
    assert info.value.fields == ["routing"]


def test_smart_names() -> None:
    assert is_smart(None) and is_smart("SMART") and is_smart("smart") and not is_smart("alpaca-sim")


def test_the_decision_is_stored_with_the_order_and_survives_json() -> None:
    decision = choose_route(order(), [candidate("a"), candidate("b", status="FAILED")], T0, today=TODAY)
    tracked = Order.create(order(connection_id="a"), T0)
    tracked.route = decision
    restored = Order.model_validate_json(tracked.model_dump_json())
    assert restored.route == decision and restored.route is not None
    assert [v.connection_id for v in restored.route.candidates] == ["a", "b"]
    assert Order.model_validate({k: v for k, v in tracked.model_dump(mode="json").items() if k != "route"}).route \
        is None


def test_an_expired_session_is_eligible_but_ranks_behind_a_live_one() -> None:
    expired = connection("a-expired")
    expired.authenticated(T0, T0)  # the session ended at T0
    decision = choose_route(order(), [RouteCandidate(expired, FULL), candidate("b-live")], T0, today=TODAY)
    assert decision.connection_id == "b-live"
    assert verdict(decision, "a-expired").eligible
    assert "session expired" in verdict(decision, "a-expired").reasons[0]
