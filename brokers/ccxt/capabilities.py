"""What a ccxt connection can do, in a module of its own: the registry lists it without importing ccxt itself
(over a second at every start of the CLI and the worker), which only a ccxt connection needs."""

from __future__ import annotations

from decimal import Decimal

from domain.broker_integration.enums import AssetClass, AuthMethod, OrderType, TimeInForce
from domain.broker_integration.value_objects import BrokerCapabilities

__all__ = ["BROKER_NAME", "CCXT_CAPABILITIES"]

BROKER_NAME = "ccxt"
CCXT_CAPABILITIES = BrokerCapabilities(
    broker=BROKER_NAME,
    order_types=frozenset({OrderType.MARKET, OrderType.LIMIT, OrderType.STOP_LIMIT}),
    time_in_force=frozenset({TimeInForce.GTC, TimeInForce.IOC, TimeInForce.FOK}),
    asset_classes=frozenset({AssetClass.CRYPTO}),
    auth_methods=frozenset({AuthMethod.API_KEY}),
    supports_fractional=True,
    supports_extended_hours=False,
    supports_short=False,
    supports_replace=False,
    supports_replace_quantity=False,
    supports_trail_percent=False,
    # Ticks differ per market; the adapter checks each market's own tick before sending.
    tick_size=Decimal("0.00000001"),
    sub_penny_tick=Decimal("0.00000001"),
    sub_penny_threshold=Decimal("0"),
)
