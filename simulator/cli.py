"""`python -m simulator` / `brokerflow simulator`: run a standalone broker simulator."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Sequence

from simulator.config import default_config, load_config
from simulator.server import run

__all__ = ["build_parser", "cli_main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="simulator", description="Local broker speaking Alpaca's Trading API v2")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port (see the READY line)")
    parser.add_argument("--seed", type=int, default=None, help="seed of the price paths (default 42)")
    parser.add_argument("--config", default=None, help="JSON or YAML SimConfig file")
    parser.add_argument("--no-autotick", action="store_true", help="only the admin API moves the clock")
    parser.add_argument("--tick-interval", type=float, default=None, help="wall seconds between ticks")
    parser.add_argument("--log-level", default="warning")
    return parser


def cli_main(argv: Sequence[str] | None = None) -> int:
    """Parse `argv` and run the simulator until interrupted; return the exit code."""
    args = build_parser().parse_args(argv)
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
