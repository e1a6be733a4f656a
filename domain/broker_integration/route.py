"""The explanation of a routing decision, stored with the order: the chosen route and why every other lost.

Kept apart from `rules/routing.py` (which needs the entities) so that the Order aggregate can hold it.
"""

from __future__ import annotations

from decimal import Decimal

from .base import ValueObject

__all__ = ["CandidateVerdict", "RouteDecision"]


class CandidateVerdict(ValueObject):
    """One (connection, account) the router looked at: eligible or not, why, and what it would cost."""

    connection_id: str
    broker: str
    account_id: str | None = None
    eligible: bool = False
    chosen: bool = False
    reasons: tuple[str, ...] = ()
    estimated_fees: Decimal | None = None
    estimated_slippage: Decimal | None = None
    health_penalty: Decimal | None = None
    score: Decimal | None = None

    def describe(self) -> str:
        """One line: `conn/account: chosen|lost|excluded (reasons)`."""
        where = f"{self.connection_id}/{self.account_id or '-'}"
        verdict = "chosen" if self.chosen else ("lost" if self.eligible else "excluded")
        score = f" score {self.score}" if self.score is not None else ""
        why = f": {'; '.join(self.reasons)}" if self.reasons else ""
        return f"{where} {verdict}{score}{why}"


class RouteDecision(ValueObject):
    """The connection and account chosen (None when no candidate fits), and every candidate's verdict."""

    connection_id: str | None
    account_id: str | None = None
    policy: str = "CHEAPEST"
    summary: str = ""
    candidates: tuple[CandidateVerdict, ...] = ()
    # Connections given up before the order reached them (circuit open, login failed), oldest first.
    abandoned: tuple[str, ...] = ()

    @property
    def reasons(self) -> tuple[str, ...]:
        """Why each candidate not chosen lost or was excluded, `connection: reason; reason`."""
        return tuple(f"{v.connection_id}: {'; '.join(v.reasons)}" for v in self.candidates
                     if not v.chosen and v.reasons)

    def explain(self) -> list[str]:
        """The summary, then one line per candidate."""
        return [self.summary, *(v.describe() for v in self.candidates)]
