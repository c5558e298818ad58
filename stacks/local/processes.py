"""Start and stop the control plane's processes, each known by a pid file.

A pid file is trusted only when ``/proc/<pid>/cmdline`` still shows the binary it named and this
cluster's state folder: pids are reused, and a stale pid file must never make ``stop`` signal an
unrelated process, nor make ``start`` believe a dead cluster runs.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from stacks.local.errors import LocalClusterError
from stacks.local.settings import ClusterSettings

# Generous: etcd and the API server flush and close their stores on SIGTERM within a second or two.
STOP_GRACE_S = 15.0


@dataclass(frozen=True)
class Command:
    """One component: its name (pid and log file names) and its argv."""

    name: str
    argv: tuple[str, ...]
    #: Added to this process's environment (Dapr's binaries take some settings only there).
    env: tuple[tuple[str, str], ...] = ()


def pid_file(settings: ClusterSettings, name: str) -> Path:
    return settings.run_dir / f"{name}.pid"


def log_file(settings: ClusterSettings, name: str) -> Path:
    return settings.log_dir / f"{name}.log"


def _cmdline(pid: int) -> list[str] | None:
    """The live process's argv, or None when it is gone or a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    if stat.rsplit(")", 1)[-1].split()[0] == "Z":
        return None
    return raw.decode(errors="replace").split("\0")[:-1]


def program(argv: list[str] | tuple[str, ...]) -> str:
    """The component an argv runs, as its pid file names it: the binary's name, or, for
    ``python -m stacks.local.egress_proxy``, the module's last part with dashes."""
    if len(argv) > 2 and argv[1] == "-m":
        return argv[2].rsplit(".", 1)[-1].replace("_", "-")
    return Path(argv[0]).name


def _ours(settings: ClusterSettings, name: str, argv: list[str] | None) -> bool:
    if not argv:  # gone, a zombie, or exiting (an empty cmdline)
        return False
    return program(argv) == name and any(str(settings.state_dir) in arg for arg in argv)


def read_pid(settings: ClusterSettings, name: str) -> int | None:
    """The pid recorded for ``name``, or None when there is no pid file."""
    path = pid_file(settings, name)
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        return None
    if not text.isdigit():
        raise LocalClusterError(f"stale pid file {path}: {text!r} is not a pid")
    return int(text)


def running_pid(settings: ClusterSettings, name: str) -> int | None:
    """The pid of this cluster's ``name`` when it runs; None when it has no pid file.

    A pid file whose process is gone, or is another program, is an error that says so: the
    cluster stopped uncleanly and ``stop`` clears it.
    """
    pid = read_pid(settings, name)
    if pid is None:
        return None
    if not _ours(settings, name, _cmdline(pid)):
        raise LocalClusterError(
            f"stale pid file {pid_file(settings, name)}: pid {pid} is not this cluster's {name}"
            " (it stopped uncleanly); run `todo-infra local stop` to clear it"
        )
    return pid


def spawn(settings: ClusterSettings, command: Command) -> int:
    """Start ``command`` in its own session (it outlives this process), output to its log."""
    settings.run_dir.mkdir(parents=True, exist_ok=True)
    settings.log_dir.mkdir(parents=True, exist_ok=True)
    with log_file(settings, command.name).open("ab") as log:
        process = subprocess.Popen(  # noqa: S603 - argv built from the toolchain's own paths
            command.argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=settings.state_dir,
            env={**os.environ, **dict(command.env)} if command.env else None,
            start_new_session=True,
        )
    pid_file(settings, command.name).write_text(f"{process.pid}\n")
    # Popen returns once the exec has begun, and /proc shows the new command line a moment later
    # (long enough under load for a liveness check to take a starting component for a dead one,
    # fail the start and leave it running): wait for it, or for the process to end.
    deadline = time.monotonic() + STOP_GRACE_S
    while (_cmdline(process.pid) or [""])[0] != command.argv[0] and process.poll() is None:
        if time.monotonic() > deadline:
            raise LocalClusterError(f"{command.name} (pid {process.pid}) did not start its binary")
        time.sleep(0.01)
    return process.pid


def _reap(pid: int) -> None:
    """Collect the exit status when the process is our own child, so it leaves no zombie."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def alive(settings: ClusterSettings, name: str, pid: int) -> bool:
    _reap(pid)
    return _ours(settings, name, _cmdline(pid))


def stop_process(settings: ClusterSettings, name: str) -> bool:
    """Stop this cluster's ``name`` if its pid file names it (SIGTERM, then SIGKILL after a grace
    period), and remove the pid file, stale or not. True when a process was stopped."""
    path = pid_file(settings, name)
    try:
        pid = read_pid(settings, name)
    except LocalClusterError:
        path.unlink()
        return False
    if pid is None:
        return False
    stopped = False
    if alive(settings, name, pid):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        while alive(settings, name, pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if alive(settings, name, pid):
            os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + STOP_GRACE_S
            while alive(settings, name, pid):
                if time.monotonic() > deadline:
                    raise LocalClusterError(f"{name} (pid {pid}) survived SIGKILL")
                time.sleep(0.05)
        stopped = True
    path.unlink(missing_ok=True)
    return stopped
