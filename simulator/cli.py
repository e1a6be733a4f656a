"""`python -m simulator` / `brokerflow simulator`: run a standalone broker simulator.

It listens on 127.0.0.1 unless told otherwise; with env BROKERFLOW_SIM_ADMIN_TOKEN set, the /_sim admin
API refuses state changes without that bearer token, and binding another address requires the token.
"""

from __future__ import annotations

import argparse
import contextlib
import os
from collections.abc import Sequence

from simulator.admin import ADMIN_TOKEN_ENV
from simulator.config import default_config, load_config
from simulator.server import run

__all__ = ["build_parser", "cli_main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="simulator",
        description="Local broker speaking Alpaca's Trading API v2 (/v2, /stream) and Tradier's API v1 (/v1), one port")
    parser.add_argument("--host", default="127.0.0.1",
                        help=f"address to bind (default loopback; any other needs {ADMIN_TOKEN_ENV})")
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port (see the READY line)")
    parser.add_argument("--seed", type=int, default=None, help="seed of the price paths (default 42)")
    parser.add_argument("--config", default=None, help="JSON or YAML SimConfig file")
    parser.add_argument("--no-autotick", action="store_true", help="only the admin API moves the clock")
    parser.add_argument("--tick-interval", type=float, default=None, help="wall seconds between ticks")
    parser.add_argument("--log-level", default="warning")
    return parser


def cli_main(argv: Sequence[str] | None = None) -> int:
    """Parse `argv` and run the simulator until interrupted; return the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not _loopback(args.host) and not os.environ.get(ADMIN_TOKEN_ENV):
        parser.error(f"--host {args.host} exposes the admin API beyond this machine: set {ADMIN_TOKEN_ENV} first")
    if args.config:
        config = load_config(args.config, seed=args.seed)
    else:
        config = default_config(args.seed if args.seed is not None else 42)
    updates: dict[str, object] = {}
    if args.no_autotick:
        updates["autotick"] = False
    if args.tick_interval is not None:
        updates["autotick_interval"] = args.tick_interval
    config = config.model_copy(update=updates)
    with contextlib.suppress(KeyboardInterrupt):
        run(args.host, args.port, config.seed, config=config, log_level=args.log_level)
    return 0


def _loopback(host: str) -> bool:
    return host in ("localhost", "::1") or host.startswith("127.")
