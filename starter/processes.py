"""Process helpers for the local stack: is this pid ours, stop it, wait for a port."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time
from collections.abc import Callable, Sequence

import psutil

__all__ = ["is_alive", "is_our_process", "port_open", "terminate", "wait_gone", "wait_until"]


def is_our_process(pid: int | None, markers: Sequence[str]) -> bool:
    """Tell whether ``pid`` is alive and its command line contains every marker."""
    if not pid:
        return False
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        cmdline = " ".join(proc.cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return False
    return all(marker in cmdline for marker in markers)


def is_alive(pid: int) -> bool:
    """Tell whether ``pid`` runs (a zombie does not; reap it if it is our child)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return False


def wait_gone(pid: int, timeout: float) -> bool:
    """Wait until ``pid`` has exited; tell whether it did within ``timeout``."""
    return wait_until(lambda: not is_alive(pid), timeout, interval=0.1)


def terminate(pid: int, timeout: float = 15.0) -> bool:
    """Send SIGTERM to ``pid``, then SIGKILL if still alive after ``timeout``; tell whether it is gone."""
    if not _signal(pid, signal.SIGTERM) or wait_gone(pid, timeout):
        return True
    _signal(pid, signal.SIGKILL)
    return wait_gone(pid, 5.0)


def _signal(pid: int, sig: int) -> bool:
    """Send ``sig`` to ``pid``; tell whether the process existed."""
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return False
    return True


def port_open(port: int, host: str = "127.0.0.1", timeout: float = 0.5) -> bool:
    """Tell whether something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_until(check: Callable[[], bool], timeout: float, interval: float = 0.2) -> bool:
    """Poll ``check`` until it returns True; tell whether it did within ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
