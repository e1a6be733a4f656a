"""Connecting to Temporal the way every brokerflow client and worker must (pydantic data converter)."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from .devstack import temporal_address_for
from .settings import Settings, get_settings

__all__ = ["connect"]


async def connect(settings: Settings | None = None, address: str | None = None) -> Client:
    """A Temporal client for the configured (or local dev) server."""
    settings = settings or get_settings()
    return await Client.connect(
        address or temporal_address_for(settings),
        namespace=settings.temporal_namespace,
        data_converter=pydantic_data_converter,
    )
