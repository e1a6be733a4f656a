"""The custom search attributes brokerflow registers on Temporal (all Keyword).

Search attributes are stored in clear text: never put account numbers or secrets in them.
"""

from __future__ import annotations

from temporalio.common import SearchAttributeKey

__all__ = [
    "BROKER",
    "CONNECTION_ID",
    "CONNECTION_STATUS",
    "ORDER_SIDE",
    "ORDER_STATUS",
    "ORDER_TYPE",
    "SEARCH_ATTRIBUTES",
    "SEARCH_ATTRIBUTE_KEYS",
    "SYMBOL",
    "dev_server_flags",
]

SEARCH_ATTRIBUTES: tuple[str, ...] = (
    "OrderStatus",
    "Symbol",
    "Broker",
    "ConnectionId",
    "OrderSide",
    "OrderType",
    "ConnectionStatus",
)

ORDER_STATUS = SearchAttributeKey.for_keyword("OrderStatus")
SYMBOL = SearchAttributeKey.for_keyword("Symbol")
BROKER = SearchAttributeKey.for_keyword("Broker")
CONNECTION_ID = SearchAttributeKey.for_keyword("ConnectionId")
ORDER_SIDE = SearchAttributeKey.for_keyword("OrderSide")
ORDER_TYPE = SearchAttributeKey.for_keyword("OrderType")
CONNECTION_STATUS = SearchAttributeKey.for_keyword("ConnectionStatus")

SEARCH_ATTRIBUTE_KEYS: tuple[SearchAttributeKey[str], ...] = (
    ORDER_STATUS,
    SYMBOL,
    BROKER,
    CONNECTION_ID,
    ORDER_SIDE,
    ORDER_TYPE,
    CONNECTION_STATUS,
)


def dev_server_flags() -> list[str]:
    """Return the ``--search-attribute Name=Keyword`` flags for ``temporal server start-dev``."""
    flags: list[str] = []
    for name in SEARCH_ATTRIBUTES:
        flags += ["--search-attribute", f"{name}=Keyword"]
    return flags
