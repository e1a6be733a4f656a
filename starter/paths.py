"""Where the local stack keeps its files, and the ``stack.json`` state file.

``stack.json`` records what ``brokerflow dev up`` started, so other processes (worker, tests,
CLI) find the embedded database and ``dev down`` stops only what was started.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starter.settings import Settings

__all__ = ["StackPaths", "find_executable", "read_state", "write_state"]

STATE_FILE = "stack.json"


@dataclass(frozen=True)
class StackPaths:
    """The files of one local stack, all under ``data_dir``."""

    data_dir: Path

    @classmethod
    def of(cls, settings: Settings) -> StackPaths:
        """Return the paths for ``settings.data_dir``."""
        return cls(settings.resolved_data_dir)

    @property
    def state_file(self) -> Path:
        return self.data_dir / STATE_FILE

    @property
    def pgdata(self) -> Path:
        return self.data_dir / "postgres"

    @property
    def temporal_db(self) -> Path:
        return self.data_dir / "temporal.db"

    @property
    def temporal_log(self) -> Path:
        return self.data_dir / "temporal.log"


def read_state(paths: StackPaths) -> dict[str, Any]:
    """Return the recorded stack state, or an empty dict when there is none."""
    try:
        data = json.loads(paths.state_file.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def write_state(paths: StackPaths, state: dict[str, Any]) -> None:
    """Write the stack state atomically (readers never see half a file)."""
    paths.data_dir.mkdir(parents=True, exist_ok=True)
    tmp = paths.state_file.with_suffix(f".tmp.{os.getpid()}")
    tmp.write_text(json.dumps(state, indent=2, sort_keys=True) + "\n")
    tmp.replace(paths.state_file)


def find_executable(name: str) -> Path:
    """Find ``name`` next to the running interpreter (the venv) or on PATH."""
    beside = Path(sys.executable).parent / name
    if beside.is_file() and os.access(beside, os.X_OK):
        return beside
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(f"{name!r} not found next to {sys.executable} nor on PATH")
    return Path(found)
