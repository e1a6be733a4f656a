"""`python -m chaos` / `make chaos`: the whole stack under faults, then three views compared."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .faults import FAULT_KINDS
from .run import ChaosOptions, main_with

app = typer.Typer(add_completion=False, help=__doc__)


@app.command()
def chaos(
    orders: Annotated[int, typer.Option(min=1, help="orders to push")] = 500,
    seed: Annotated[int | None, typer.Option(help="seed of the orders and faults (default: random, printed)")] = None,
    rate: Annotated[float, typer.Option(min=0.1, help="orders started per second")] = 5.0,
    workers: Annotated[int, typer.Option(min=1, help="worker processes")] = 2,
    random_faults: Annotated[int | None, typer.Option(help="broker faults at random (default orders/40)")] = None,
    only: Annotated[list[str] | None, typer.Option(help=f"fault kinds to inject: {', '.join(FAULT_KINDS)}")] = None,
    drain_timeout: Annotated[float, typer.Option(help="seconds for every order to end after the load")] = 240.0,
    keep: Annotated[bool, typer.Option(help="keep the run's data dir (logs, databases)")] = False,
    report: Annotated[Path | None, typer.Option(help="write the figures and every order's views as JSON")] = None,
) -> None:
    kinds = tuple(only) if only else FAULT_KINDS
    unknown = [k for k in kinds if k not in FAULT_KINDS]
    if unknown:
        raise typer.BadParameter(f"unknown fault kind(s) {unknown}; known: {', '.join(FAULT_KINDS)}")
    code = main_with(ChaosOptions(orders=orders, seed=seed, rate=rate, workers=workers, random_faults=random_faults,
                                  kinds=kinds, drain_timeout=drain_timeout, keep=keep, report=report))
    raise typer.Exit(code)


if __name__ == "__main__":
    app()
