"""A local broker speaking Alpaca's Trading API v2 over HTTP and WebSocket, with an exchange core and faults.

Independent of domain/ and brokers/ by design: it is written from the broker's published protocol.
"""

from simulator.cli import cli_main
from simulator.config import SimConfig, default_config, load_config
from simulator.server import run

__all__ = ["SimConfig", "cli_main", "default_config", "load_config", "run"]
