"""Binance spot REST `/api/v3` over the same exchange core: signed requests, filters, integer ids, myTrades.

Written from Binance's published spot API documentation (developers.binance.com), independently of brokers/.
"""

from simulator.binance.frontend import BinanceFrontEnd, binance_routes

__all__ = ["BinanceFrontEnd", "binance_routes"]
