"""Smart order routing: pick a connection and account for an order that does not pin one.

A candidate is a connection with its broker's capabilities, the accounts it reaches (our ledger figures
and the reservations of orders in flight), its fee schedule, its recent execution quality and how many
orders it has open. A candidate is excluded when the broker cannot take the order (order type, time in
force, asset class, fractional quantity, extended hours, shorting, tick size), when the connection is
unhealthy (FAILED, or abandoned by this order already), or when the account cannot take the order (buying
power, position, shorting, day trades: the pre-trade rules on our own figures). The eligible ones are
scored in dollars: estimated fees + expected slippage (recent median, bps of notional) + a health penalty
(bps of notional for a degraded or not yet connected session, and for a slow acknowledgement).

The policy decides among the eligible: CHEAPEST (lowest score), PREFER_BROKER (that broker's best when it
has an eligible candidate, else the cheapest), SPREAD (fewest open orders, then the lowest score). Ties
fall to the healthier connection, then the ids. The pre-trade reservation afterwards stays the atomic check.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from ..base import ValueObject
from ..entities import BrokerAccount, BrokerConnection
from ..enums import ConnectionStatus, OrderSide
from ..errors import InvalidOrderError, PreTradeRejectedError, Problem
from ..route import CandidateVerdict, RouteDecision
from ..value_objects import BrokerCapabilities, BrokerOrder
from .buying_power import Reservation, check_pre_trade, reserved_totals
from .fees import FeeSchedule, estimate_fees
from .metrics import ExecutionQuality
from .validation import capability_problems

__all__ = [
    "SMART",
    "AccountCandidate",
    "CandidateVerdict",
    "PolicyKind",
    "RouteCandidate",
    "RouteDecision",
    "RoutingPolicy",
    "choose_route",
    "is_smart",
]

SMART = "SMART"
ZERO = Decimal("0")
_BPS = Decimal("10000")
_CENT = Decimal("0.01")
# Health penalties, in basis points of the order's notional.
DEGRADED_BPS = Decimal("10")
NOT_CONNECTED_BPS = Decimal("2")
FAILURE_BPS = Decimal("1")  # per consecutive failure
LATENCY_BPS_PER_SECOND = Decimal("1")  # median acknowledgement latency
MIN_QUALITY_ORDERS = 3  # fewer recent orders than this say nothing about slippage


def is_smart(connection_id: str | None) -> bool:
    """Whether an order leaves the choice of connection to the router (none named, or SMART)."""
    return connection_id is None or connection_id.strip().upper() in ("", SMART)


class PolicyKind(StrEnum):
    CHEAPEST = "CHEAPEST"
    PREFER_BROKER = "PREFER_BROKER"
    SPREAD = "SPREAD"


class RoutingPolicy(ValueObject):
    """How to choose among eligible candidates; `broker` is the preferred broker of PREFER_BROKER."""

    kind: PolicyKind = PolicyKind.CHEAPEST
    broker: str | None = None

    @classmethod
    def from_text(cls, text: str | None) -> RoutingPolicy:
        """`cheapest` (default), `spread`, or `prefer:<broker>`; InvalidOrderError otherwise."""
        raw = (text or "").strip()
        name, _, arg = raw.partition(":")
        kind = name.strip().upper().replace("-", "_") or PolicyKind.CHEAPEST
        if kind in ("PREFER", PolicyKind.PREFER_BROKER) and arg.strip():
            return cls(kind=PolicyKind.PREFER_BROKER, broker=arg.strip().lower())
        if kind in (PolicyKind.CHEAPEST, PolicyKind.SPREAD) and not arg:
            return cls(kind=PolicyKind(kind))
        raise InvalidOrderError([Problem("routing", f"must be cheapest, spread or prefer:<broker>, got {text!r}")])

    def __str__(self) -> str:
        return f"PREFER_BROKER({self.broker})" if self.kind is PolicyKind.PREFER_BROKER else str(self.kind)


@dataclass(frozen=True)
class AccountCandidate:
    """An account a connection reaches, with the reservations of its orders in flight."""

    account: BrokerAccount
    reservations: tuple[Reservation, ...] = ()


@dataclass(frozen=True)
class RouteCandidate:
    """A connection the router may use. No accounts: not synchronised yet (the pre-trade check decides)."""

    connection: BrokerConnection
    capabilities: BrokerCapabilities
    accounts: tuple[AccountCandidate, ...] = ()
    fee_schedule: FeeSchedule | None = None
    quality: ExecutionQuality = field(default_factory=ExecutionQuality)
    open_orders: int = 0

    @property
    def connection_id(self) -> str:
        return self.connection.connection_id

    def schedule(self) -> FeeSchedule:
        """The fee schedule; without one, the capabilities' per-share commission."""
        if self.fee_schedule is not None:
            return self.fee_schedule
        return FeeSchedule(name=f"{self.capabilities.broker}-capabilities",
                           commission_per_share=self.capabilities.commission_per_share)


@dataclass(frozen=True)
class _Eligible:
    candidate: RouteCandidate
    verdict: CandidateVerdict
    tier: int


def _health(connection: BrokerConnection, at: datetime) -> tuple[int, str | None]:
    """(tier, reason): 0 connected, 1 not connected yet (a login will be tried), 2 degraded, -1 unusable."""
    status = connection.status
    if status is ConnectionStatus.FAILED:
        return -1, f"unhealthy: FAILED ({connection.status_reason or 'circuit open'})"
    if connection.is_usable(at):
        if status is ConnectionStatus.DEGRADED:
            return 2, f"degraded: {connection.status_reason or 'unhealthy'}"
        return 0, None
    if status in (ConnectionStatus.CONNECTED, ConnectionStatus.DEGRADED):
        return 1, "session expired: a login is tried first"
    return 1, f"not connected ({status}): a login is tried first"


def _connection_problems(order: BrokerOrder, candidate: RouteCandidate) -> list[str]:
    problems = [str(p) for p in capability_problems(order, candidate.capabilities)]
    if order.side is OrderSide.SELL_SHORT and not candidate.capabilities.supports_short:
        problems.append(f"side: {candidate.capabilities.broker} does not allow short selling")
    return problems


def _price(order: BrokerOrder, candidates: Sequence[RouteCandidate], reference: Decimal | None) -> Decimal | None:
    if reference:
        return reference
    if order.price or order.stop_price:
        return order.price or order.stop_price
    for candidate in candidates:
        for acc in candidate.accounts:
            position = acc.account.positions.get(order.symbol)
            if position is not None and position.last_price:
                return position.last_price
    return None


def _accounts(order: BrokerOrder, candidate: RouteCandidate) -> list[AccountCandidate | None]:
    """The accounts to judge: the one the order names (if this connection reaches it), else all of them."""
    if not candidate.accounts:
        return [None]
    wanted = order.account_id
    if wanted is None:
        return list(candidate.accounts)
    return [a for a in candidate.accounts if wanted in (a.account.account_id, a.account.account_number)]


def _account_problem(order: BrokerOrder, acc: AccountCandidate, price: Decimal | None, fees: Decimal,
                     today: date) -> str | None:
    reserved = reserved_totals(acc.reservations, order.symbol, exclude=order.client_order_id)
    try:
        check_pre_trade(order, acc.account, price or ZERO, today=today, fees=fees, reserved=reserved)
    except PreTradeRejectedError as exc:
        return str(exc)
    return None


def _score(order: BrokerOrder, candidate: RouteCandidate, tier: int, price: Decimal | None,
           fees: Decimal) -> tuple[Decimal, Decimal | None, Decimal]:
    """(score, expected slippage in dollars or None, health penalty in dollars)."""
    notional = order.quantity * (price or ZERO)
    quality = candidate.quality
    slippage: Decimal | None = None
    if quality.orders >= MIN_QUALITY_ORDERS and quality.median_slippage_bps is not None:
        slippage = (notional * quality.median_slippage_bps / _BPS).quantize(_CENT)
    bps = {0: ZERO, 1: NOT_CONNECTED_BPS, 2: DEGRADED_BPS}[tier]
    bps += FAILURE_BPS * candidate.connection.consecutive_failures
    if quality.median_ack_latency_ms is not None:
        bps += LATENCY_BPS_PER_SECOND * quality.median_ack_latency_ms / 1000
    penalty = (notional * bps / _BPS).quantize(_CENT)
    return fees + (slippage or ZERO) + penalty, slippage, penalty


def _judge(order: BrokerOrder, candidate: RouteCandidate, at: datetime, today: date, price: Decimal | None,
           exclude: dict[str, str]) -> list[CandidateVerdict | _Eligible]:
    cid, broker = candidate.connection_id, candidate.capabilities.broker
    base: list[str] = []
    if cid in exclude:
        base.append(f"abandoned: {exclude[cid]}")
    tier, health = _health(candidate.connection, at)
    if tier < 0 and health:
        base.append(health)
    base += _connection_problems(order, candidate)
    if base:
        return [CandidateVerdict(connection_id=cid, broker=broker, reasons=tuple(base))]
    fees = estimate_fees(candidate.schedule(), order.side, order.quantity, order.price or price or ZERO,
                         order.asset_class).total
    accounts = _accounts(order, candidate)
    if not accounts:
        return [CandidateVerdict(connection_id=cid, broker=broker, estimated_fees=fees,
                                 reasons=(f"does not reach account {order.account_id}",))]
    score, slippage, penalty = _score(order, candidate, tier, price, fees)
    notes = [health] if health else []
    out: list[CandidateVerdict | _Eligible] = []
    for acc in accounts:
        if acc is None:
            notes_acc = [*notes, "no synchronised account: buying power is checked before submission"]
            account_id = order.account_id
        else:
            account_id = acc.account.account_id
            problem = _account_problem(order, acc, price, fees, today)
            if problem is not None:
                out.append(CandidateVerdict(connection_id=cid, broker=broker, account_id=account_id,
                                            estimated_fees=fees, reasons=(problem,)))
                continue
            notes_acc = list(notes)
        verdict = CandidateVerdict(connection_id=cid, broker=broker, account_id=account_id, eligible=True,
                                   reasons=tuple(notes_acc), estimated_fees=fees, estimated_slippage=slippage,
                                   health_penalty=penalty, score=score)
        out.append(_Eligible(candidate, verdict, tier))
    return out


def _rank_key(policy: RoutingPolicy, e: _Eligible) -> tuple[object, ...]:
    base = (e.verdict.score or ZERO, e.tier, e.candidate.connection.consecutive_failures, e.candidate.connection_id,
            e.verdict.account_id or "")
    if policy.kind is PolicyKind.SPREAD:
        return (e.candidate.open_orders, *base)
    if policy.kind is PolicyKind.PREFER_BROKER:
        return (e.candidate.capabilities.broker.lower() != policy.broker, *base)
    return base


def _loss_reason(policy: RoutingPolicy, e: _Eligible, best: _Eligible) -> str:
    if policy.kind is PolicyKind.SPREAD and e.candidate.open_orders != best.candidate.open_orders:
        return f"more open orders ({e.candidate.open_orders} vs {best.candidate.open_orders})"
    if policy.kind is PolicyKind.PREFER_BROKER and e.candidate.capabilities.broker.lower() != policy.broker \
            and best.candidate.capabilities.broker.lower() == policy.broker:
        return f"not the preferred broker {policy.broker}"
    if (e.verdict.score or ZERO) != (best.verdict.score or ZERO):
        return f"costlier: score {e.verdict.score} vs {best.verdict.score}"
    return "tie: the healthier connection, then the ids, decided"


def choose_route(order: BrokerOrder, candidates: Sequence[RouteCandidate], at: datetime, *,
                 policy: RoutingPolicy | None = None, today: date | None = None,
                 reference_price: Decimal | None = None, exclude: dict[str, str] | None = None,
                 abandoned: Iterable[str] = ()) -> RouteDecision:
    """Judge every candidate, choose by the policy, explain every verdict (pure: `at`/`today` are given)."""
    policy = policy or RoutingPolicy()
    day = today or at.date()
    price = _price(order, candidates, reference_price)
    judged = [v for c in candidates for v in _judge(order, c, at, day, price, exclude or {})]
    eligible = [v for v in judged if isinstance(v, _Eligible)]
    verdicts = [v.verdict if isinstance(v, _Eligible) else v for v in judged]
    if not eligible:
        summary = "no connection can take the order" if candidates else "no connection registered"
        return RouteDecision(connection_id=None, policy=str(policy), summary=summary, candidates=tuple(verdicts),
                             abandoned=tuple(abandoned))
    best = min(eligible, key=lambda e: _rank_key(policy, e))
    final = []
    for v in judged:
        if isinstance(v, _Eligible):
            chosen = v is best
            reasons = v.verdict.reasons if chosen else (*v.verdict.reasons, _loss_reason(policy, v, best))
            final.append(v.verdict.model_copy(update={"chosen": chosen, "reasons": reasons}))
        else:
            final.append(v)
    summary = (f"{best.candidate.connection_id}/{best.verdict.account_id or '-'} by {policy}: score "
               f"{best.verdict.score} (fees {best.verdict.estimated_fees}) among {len(eligible)} eligible of "
               f"{len(verdicts)}")
    return RouteDecision(connection_id=best.candidate.connection_id, account_id=best.verdict.account_id,
                         policy=str(policy), summary=summary, candidates=tuple(final), abandoned=tuple(abandoned))
