"""Sampling profile of this process (worker, workflow threads and the bench client) with py-spy.

py-spy samples every thread, which matters: the Temporal SDK runs workflow activations on a thread pool,
activities on the event loop. The raw (collapsed) output is summarised by library and by function.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["ProfileSummary", "py_spy", "summarize_collapsed"]

_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::\d+)?\)$")
OUR_PACKAGES = ("activities", "workflows", "domain", "brokers", "persistence", "starter", "bench", "simulator")


def _py_spy() -> str | None:
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


@contextlib.contextmanager
def py_spy(output: Path | None, rate: int = 100) -> Iterator[Path | None]:
    """Record this process while the block runs; yields the raw output path (None when not profiling)."""
    exe = _py_spy() if output is not None else None
    if output is None or exe is None:
        if output is not None:
            print("py-spy not installed (pip install -c constraints.txt -e '.[bench]'): no profile")
        yield None
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    cmd = [exe, "record", "--pid", str(os.getpid()), "--rate", str(rate), "--nonblocking", "--format", "raw",
           "--output", str(output)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        yield output
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()


def _where(file: str) -> str:
    """The library (or our package) a source file belongs to; py-spy names files relative to sys.path."""
    parts = file.replace("\\", "/").split("/")
    if "site-packages" in parts:
        parts = parts[parts.index("site-packages") + 1:]
    if file.startswith("<frozen"):
        return "importlib"
    if len(parts) == 1:
        return "stdlib"
    return parts[0]


_IDLE = ("EpollSelector.select", "_worker (concurrent/futures/thread.py")


def _phase(frames: list[tuple[str, str]], leaf: str) -> str:
    """What the sample was doing: an activity (by name), a workflow activation, the bench client, or idle."""
    if leaf.startswith(_IDLE):
        return "idle wait (event loop select / thread pool)"
    funcs = [f for f, _ in frames]
    if "_ActivityInboundImpl.execute_activity" in funcs:
        after = funcs[funcs.index("_ActivityInboundImpl.execute_activity") + 1:]
        return f"activity {after[0]}" if after else "activity (SDK)"
    files = [file for _, file in frames]
    if any("workflow_sandbox" in f or "_workflow_instance" in f for f in files):
        return "workflow activation (sandbox thread)"
    if any(f.startswith("temporalio/worker/_workflow") for f in files):
        return "workflow worker (SDK, outside the sandbox)"
    if any(f.startswith("bench/") and "cli.py" not in f and "__main__" not in f for f in files):
        return "bench client / direct path"
    if any(f.startswith("temporalio/") for f in files):
        return "temporalio SDK (bridge, client, activity worker)"
    if any(f.startswith(("sqlalchemy/", "psycopg/", "greenlet")) for f in files):
        return "database (SQLAlchemy greenlets, commits)"
    return "other"


def _parse(frame: str) -> tuple[str, str]:
    match = _FRAME.match(frame.strip())
    if match is None:
        return frame.strip(), "?"
    return match["func"], match["file"]


@dataclass
class ProfileSummary:
    samples: int = 0
    by_phase: dict[str, int] = field(default_factory=dict)
    by_library: dict[str, int] = field(default_factory=dict)
    self_functions: dict[str, int] = field(default_factory=dict)
    our_functions: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


def summarize_collapsed(lines: list[str], top: int = 25) -> ProfileSummary:
    """Self time by library and function, and inclusive time of our own functions (innermost of ours)."""
    phases: Counter[str] = Counter()
    libraries: Counter[str] = Counter()
    selfs: Counter[str] = Counter()
    ours: Counter[str] = Counter()
    total = 0
    for line in lines:
        stack, _, count_text = line.rstrip().rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = [_parse(f) for f in stack.split(";") if f and not f.startswith(("process ", "thread "))]
        if not frames:
            phases["idle wait (event loop select / thread pool)"] += count
            continue
        func, file = frames[-1]
        phases[_phase(frames, frames[-1][0] + " (" + file)] += count
        libraries[_where(file)] += count
        selfs[f"{_where(file)}:{func}"] += count
        for func, file in reversed(frames):
            where = _where(file)
            if where in OUR_PACKAGES and where != "bench":
                ours[f"{where}:{func}"] += count
                break
    return ProfileSummary(total, dict(phases.most_common(top)), dict(libraries.most_common(top)),
                          dict(selfs.most_common(top)), dict(ours.most_common(top)))
