"""Export the OrderRequest JSON schema, so callers in any language can build an order's input.

`python -m starter.schema` rewrites schemas/order_request.schema.json; a test keeps it current.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from activities.models import AmendRequest, CancelRequest, OrderRequest

__all__ = ["SCHEMA_DIR", "main", "schemas"]

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas"


def schemas() -> dict[str, dict[str, Any]]:
    """File name -> JSON schema of each public message."""
    return {
        "order_request.schema.json": OrderRequest.model_json_schema(),
        "amend_request.schema.json": AmendRequest.model_json_schema(),
        "cancel_request.schema.json": CancelRequest.model_json_schema(),
    }


def render(schema: dict[str, Any]) -> str:
    """Stable JSON text of a schema."""
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write the schema files (into the directory given, else schemas/)."""
    target = Path((argv or sys.argv[1:] or [str(SCHEMA_DIR)])[0])
    target.mkdir(parents=True, exist_ok=True)
    for name, schema in schemas().items():
        (target / name).write_text(render(schema))
        print(f"wrote {target / name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
