"""Smart order routing: pick the healthy connection whose broker fits the order, by health then cost."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from ..entities import BrokerConnection
from ..enums import ConnectionStatus
from ..value_objects import BrokerCapabilities, BrokerOrder
from .validation import capability_problems

__all__ = ["RouteCandidate", "RouteDecision", "choose_route"]


@dataclass(frozen=True, slots=True)
class RouteCandidate:
    """A connection the router may use, with what its broker supports."""

    connection: BrokerConnection
    capabilities: BrokerCapabilities


@dataclass(frozen=True, slots=True)
class RouteDecision:
    """The chosen connection, or None with the reason for each candidate left out."""

    connection_id: str | None
    reasons: tuple[str, ...] = ()


def _score(candidate: RouteCandidate, order: BrokerOrder) -> tuple[int, int, Decimal]:
    degraded = 1 if candidate.connection.status is ConnectionStatus.DEGRADED else 0
    cost = candidate.capabilities.commission_per_share * order.quantity
    return degraded, candidate.connection.consecutive_failures, cost


def choose_route(order: BrokerOrder, candidates: Sequence[RouteCandidate], at: datetime) -> RouteDecision:
    """Healthy and capable first; among those the least degraded, then the cheapest; ties by id."""
    fitting: list[RouteCandidate] = []
    reasons: list[str] = []
    for candidate in candidates:
        cid = candidate.connection.connection_id
        if not candidate.connection.is_usable(at):
            reasons.append(f"{cid}: {candidate.connection.status}")
            continue
        problems = capability_problems(order, candidate.capabilities)
        if problems:
            reasons.append(f"{cid}: " + "; ".join(str(p) for p in problems))
            continue
        fitting.append(candidate)
    if not fitting:
        return RouteDecision(None, tuple(reasons) or ("no connection registered",))
    best = min(fitting, key=lambda c: (*_score(c, order), c.connection.connection_id))
    return RouteDecision(best.connection.connection_id, tuple(reasons))
