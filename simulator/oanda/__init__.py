"""OANDA's v20 REST API over the same exchange core: signed units, string decimals, transactions, a chunked
transaction stream.

Written from OANDA's published v20 specification (developer.oanda.com, the v20 OpenAPI document),
independently of brokers/oanda.
"""

from simulator.oanda.frontend import OandaFrontEnd, oanda_routes

__all__ = ["OandaFrontEnd", "oanda_routes"]
