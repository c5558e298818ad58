"""The live processes as ``/proc`` lists them: what a test started, and whether any of it is left.

Zombies count as gone: they run nothing, and an orphan's zombie lingers until whoever adopted
it reaps it, which a test does not control.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from bench.processes import stat_fields

KILL_GUARD_S = 60.0
"""A guard against a hang only: SIGKILL takes effect at once."""


@dataclass(frozen=True)
class Process:
    """One process; ``started`` (clock ticks after boot) tells it from a later one that reuses
    its pid."""

    pid: int
    ppid: int
    session: int
    started: int
    argv: tuple[str, ...]

    @property
    def name(self) -> str:
        return Path(self.argv[0]).name if self.argv else ""

    def __str__(self) -> str:
        return f"{self.pid} {' '.join(self.argv)}"


def _read(pid: int) -> Process | None:
    """The process ``pid``, or None when it is gone or a zombie."""
    try:
        fields = stat_fields(pid)
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return None
    if fields[0] == "Z":
        return None
    return Process(
        pid=pid,
        ppid=int(fields[1]),
        session=int(fields[3]),
        started=int(fields[19]),
        argv=tuple(argv[:-1]),
    )


def live() -> list[Process]:
    """Every live process."""
    found = (_read(int(entry.name)) for entry in Path("/proc").iterdir() if entry.name.isdigit())
    return [process for process in found if process is not None]


def still_running(process: Process) -> bool:
    """Whether ``process`` itself (not a later one with its pid) still runs."""
    now = _read(process.pid)
    return now is not None and now.started == process.started


def descendants(pid: int) -> list[Process]:
    """The children of ``pid``, their children, and so on: a tree that process groups and
    sessions do not bound, since a child may leave either."""
    processes = live()
    tree: list[Process] = []
    parents = {pid}
    while True:
        children = [p for p in processes if p.ppid in parents and p not in tree]
        if not children:
            return tree
        tree.extend(children)
        parents = {p.pid for p in children}


def kill_session(session: int) -> None:
    """SIGKILL every process of ``session`` until none is left, also those forked meanwhile.

    A session, not a process group: Pulumi starts each plugin (the Kubernetes provider) in a
    process group of its own, so killing the group of a run leaves its provider running.
    """
    deadline = time.monotonic() + KILL_GUARD_S
    while members := [p for p in live() if p.session == session]:
        if time.monotonic() > deadline:
            left = ", ".join(map(str, members))
            raise TimeoutError(f"session {session} survived SIGKILL: {left}")
        for member in members:
            with contextlib.suppress(ProcessLookupError):
                os.kill(member.pid, signal.SIGKILL)
        time.sleep(0.05)
