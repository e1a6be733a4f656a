"""OANDA v20 wire models, field for field (camelCase as OANDA sends it); decimals stay strings here.

Conversion to Decimal and to the domain's terms lives in parsing.py. Unknown fields are kept (OANDA adds
fields over time), unknown transaction types are read as the common header.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from .errors import OandaAmbiguousOutcomeError, OandaProtocolError

__all__ = [
    "OandaAccountSummary",
    "OandaClientExtensions",
    "OandaInstrument",
    "OandaInstruments",
    "OandaOrder",
    "OandaPosition",
    "OandaPositionSide",
    "OandaTransaction",
    "validated",
]

M = TypeVar("M", bound=BaseModel)


def validated(cls: type[M], payload: Any, what: str, *, placed: bool = False) -> M:
    """Validate a payload; an unreadable answer to an order we placed is ambiguous, not a failure."""
    try:
        return cls.model_validate(payload)
    except ValidationError:
        error = OandaAmbiguousOutcomeError if placed else OandaProtocolError
        raise error(f"{what}: answer does not match OANDA's {cls.__name__}") from None


class _Wire(BaseModel):
    model_config = ConfigDict(extra="allow")


class OandaClientExtensions(_Wire):
    id: str | None = None
    tag: str | None = None
    comment: str | None = None


class OandaOrder(_Wire):
    """An Order of GET …/orders[/{orderSpecifier}] (MARKET, LIMIT, STOP and the others)."""

    id: str
    type: str
    state: str
    createTime: str | None = None
    instrument: str | None = None
    units: str | None = None
    price: str | None = None
    timeInForce: str | None = None
    gtdTime: str | None = None
    positionFill: str | None = None
    clientExtensions: OandaClientExtensions | None = None
    fillingTransactionID: str | None = None
    filledTime: str | None = None
    tradeOpenedID: str | None = None
    cancellingTransactionID: str | None = None
    cancelledTime: str | None = None
    replacesOrderID: str | None = None
    replacedByOrderID: str | None = None


class OandaTransaction(_Wire):
    """Any transaction (or HEARTBEAT) by its common header and the fields the adapter reads."""

    type: str
    id: str | None = None
    time: str | None = None
    accountID: str | None = None
    batchID: str | None = None
    lastTransactionID: str | None = None  # HEARTBEAT
    orderID: str | None = None
    clientOrderID: str | None = None
    instrument: str | None = None
    units: str | None = None
    price: str | None = None
    timeInForce: str | None = None
    reason: str | None = None
    rejectReason: str | None = None
    replacesOrderID: str | None = None
    replacedByOrderID: str | None = None
    clientExtensions: OandaClientExtensions | None = None
    commission: str | None = None
    guaranteedExecutionFee: str | None = None
    fullVWAP: str | None = None


class OandaAccountSummary(_Wire):
    """`account` of GET /v3/accounts/{id}/summary."""

    id: str
    currency: str
    balance: str
    NAV: str
    marginRate: str
    marginUsed: str
    marginAvailable: str
    unrealizedPL: str = "0"
    positionValue: str = "0"
    marginCloseoutMarginUsed: str | None = None
    hedgingEnabled: bool = False
    lastTransactionID: str | None = None


class OandaPositionSide(_Wire):
    units: str
    averagePrice: str | None = None
    unrealizedPL: str | None = None
    pl: str | None = None


class OandaPosition(_Wire):
    """An item of GET …/openPositions: the long and the short side of one instrument."""

    instrument: str
    long: OandaPositionSide
    short: OandaPositionSide
    unrealizedPL: str | None = None
    marginUsed: str | None = None


class OandaInstrument(_Wire):
    """An Instrument of GET /v3/accounts/{id}/instruments (the fields the adapter reads; the rest are kept)."""

    name: str
    type: str | None = None
    displayName: str | None = None
    marginRate: str | None = None


class OandaInstruments(_Wire):
    """GET /v3/accounts/{id}/instruments: the instruments the account may trade."""

    instruments: list[OandaInstrument]
    lastTransactionID: str | None = None
