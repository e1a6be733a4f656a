"""Defaults the outer layers install, so services built as `Manager(repository)` find a gateway and a clock."""

from __future__ import annotations

from .errors import ConfigurationError
from .ports import Clock, GatewayProvider

__all__ = ["configure", "default_clock", "default_gateways", "reset"]

_gateways: GatewayProvider | None = None
_clock: Clock | None = None


def configure(*, gateways: GatewayProvider | None = None, clock: Clock | None = None) -> None:
    """Install the process-wide gateway provider and clock (done by brokers.registry.install_defaults)."""
    global _gateways, _clock
    if gateways is not None:
        _gateways = gateways
    if clock is not None:
        _clock = clock


def reset() -> None:
    """Forget the installed defaults (for tests)."""
    global _gateways, _clock
    _gateways = None
    _clock = None


def default_gateways() -> GatewayProvider:
    """The installed gateway provider, or a ConfigurationError saying how to install one."""
    if _gateways is None:
        raise ConfigurationError(
            "no broker gateways configured: pass gateways=... or call brokers.registry.install_defaults()"
        )
    return _gateways


def default_clock() -> Clock:
    """The installed clock, or a ConfigurationError saying how to install one."""
    if _clock is None:
        raise ConfigurationError(
            "no clock configured: pass clock=... or call brokers.registry.install_defaults()"
        )
    return _clock
