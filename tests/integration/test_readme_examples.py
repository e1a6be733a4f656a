"""The README's domain examples run as written (examples/domain_quickstart.py is the README's code)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from persistence import Repositories
from simulator.testing import running_simulator

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "domain_quickstart.py"


def test_readme_shows_the_example_verbatim() -> None:
    readme = (ROOT / "README.md").read_text()
    body = EXAMPLE.read_text().split('"""', 2)[2].strip()
    assert body in readme, "README's domain example and examples/domain_quickstart.py differ"


async def test_domain_example_runs_against_postgres_and_the_simulator(
    repositories: Repositories, database_url: str, credentials_key: str, tmp_path: Path,
) -> None:
    async with running_simulator(autotick=True) as sim:
        env = {**os.environ, "DATABASE_URL": database_url, "ALPACA_BASE_URL": sim.base_url,
               "BROKERFLOW_SECRET_KEY": credentials_key, "BROKERFLOW_DATA_DIR": str(tmp_path),
               "PYTHONPATH": str(ROOT)}
        env.pop("APCA_API_KEY_ID", None)
        env.pop("APCA_API_SECRET_KEY", None)
        run = [sys.executable, str(EXAMPLE)]
        first = await asyncio.to_thread(subprocess.run, run, env=env, capture_output=True, text=True, timeout=60)
        assert first.returncode == 0, first.stderr
        assert "connected: True" in first.stdout and "submitted: ACCEPTED" in first.stdout
        again = await asyncio.to_thread(subprocess.run, run, env=env, capture_output=True, text=True, timeout=60)
        assert again.returncode == 0, again.stderr
        view = await sim.admin.orders()
    assert len(view["submissions"]["order_123"]) == 1  # the second run is the same order, not a new one
    stored = await repositories.orders.get("order_123")
    assert stored is not None and stored.status == "ACCEPTED"
    assert [u.status for u in await repositories.statuses.history("order_123")] == ["SUBMITTED", "ACCEPTED"]
