"""Defaults the outer layers install, so services built as `Manager(repository)` find a gateway and a clock."""

from __future__ import annotations

from .errors import ConfigurationError
from .ports import Clock, ConnectionSupervisor, GatewayProvider

__all__ = ["configure", "default_clock", "default_gateways", "default_supervisor", "reset"]

_gateways: GatewayProvider | None = None
_clock: Clock | None = None
_supervisor: ConnectionSupervisor | None = None


def configure(
    *,
    gateways: GatewayProvider | None = None,
    clock: Clock | None = None,
    supervisor: ConnectionSupervisor | None = None,
) -> None:
    """Install the process-wide gateway provider, clock and connection supervisor."""
    global _gateways, _clock, _supervisor
    if gateways is not None:
        _gateways = gateways
    if clock is not None:
        _clock = clock
    if supervisor is not None:
        _supervisor = supervisor


def reset() -> None:
    """Forget the installed defaults (for tests)."""
    global _gateways, _clock, _supervisor
    _gateways = None
    _clock = None
    _supervisor = None


def default_supervisor() -> ConnectionSupervisor | None:
    """The installed connection supervisor, if any (without one, connections are not supervised)."""
    return _supervisor


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
