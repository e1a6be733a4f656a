"""Enumerations of the broker integration domain (values are the wire-neutral names)."""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "AccountType",
    "AssetClass",
    "AuthMethod",
    "ConnectionStatus",
    "Environment",
    "FeeKind",
    "OrderSide",
    "OrderType",
    "TimeInForce",
]


class OrderSide(StrEnum):
    BUY = "BUY"
    SELL = "SELL"
    SELL_SHORT = "SELL_SHORT"
    BUY_TO_COVER = "BUY_TO_COVER"

    @property
    def is_buy(self) -> bool:
        """Whether the side adds to the position."""
        return self in (OrderSide.BUY, OrderSide.BUY_TO_COVER)


class OrderType(StrEnum):
    MARKET = "MARKET"
    LIMIT = "LIMIT"
    STOP = "STOP"
    STOP_LIMIT = "STOP_LIMIT"
    TRAILING_STOP = "TRAILING_STOP"


class TimeInForce(StrEnum):
    DAY = "DAY"
    GTC = "GTC"
    IOC = "IOC"
    FOK = "FOK"
    OPG = "OPG"
    CLS = "CLS"
    GTD = "GTD"


class AssetClass(StrEnum):
    EQUITY = "EQUITY"
    OPTION = "OPTION"
    FUTURE = "FUTURE"
    FOREX = "FOREX"
    CRYPTO = "CRYPTO"


class AuthMethod(StrEnum):
    API_KEY = "API_KEY"
    OAUTH2 = "OAUTH2"
    SESSION = "SESSION"


class Environment(StrEnum):
    PAPER = "PAPER"
    LIVE = "LIVE"


class ConnectionStatus(StrEnum):
    DISCONNECTED = "DISCONNECTED"
    CONNECTING = "CONNECTING"
    CONNECTED = "CONNECTED"
    DEGRADED = "DEGRADED"
    RECONNECTING = "RECONNECTING"
    FAILED = "FAILED"


class AccountType(StrEnum):
    CASH = "CASH"
    MARGIN = "MARGIN"
    IRA_TRADITIONAL = "IRA_TRADITIONAL"
    IRA_ROTH = "IRA_ROTH"
    IRA_SEP = "IRA_SEP"
    IRA_SIMPLE = "IRA_SIMPLE"
    SOLO_401K = "SOLO_401K"

    @property
    def is_retirement(self) -> bool:
        """Retirement accounts trade like cash accounts: no shorting, no margin borrowing."""
        return self not in (AccountType.CASH, AccountType.MARGIN)

    @property
    def allows_short(self) -> bool:
        """Only margin accounts may sell short."""
        return self is AccountType.MARGIN


class FeeKind(StrEnum):
    COMMISSION = "COMMISSION"
    SEC_FEE = "SEC_FEE"
    FINRA_TAF = "FINRA_TAF"
    OTHER = "OTHER"
