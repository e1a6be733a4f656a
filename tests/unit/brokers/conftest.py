"""Recorded Alpaca payloads from tests/resources/alpaca."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

RESOURCES = Path(__file__).resolve().parents[2] / "resources" / "alpaca"


def load(name: str) -> Any:
    """A recorded payload by file name (without .json)."""
    return json.loads((RESOURCES / f"{name}.json").read_text())


@pytest.fixture
def resource() -> Any:
    return load
