"""Tradier's brokerage API v1 over the same exchange core: form-encoded orders, XML-converted JSON, events stream.

Written from Tradier's published documentation (documentation.tradier.com), independently of brokers/tradier.
"""

from simulator.tradier.frontend import TradierFrontEnd, tradier_routes

__all__ = ["TradierFrontEnd", "tradier_routes"]
