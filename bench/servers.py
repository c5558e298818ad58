"""PostgreSQL, Redis and Kafka through `scripts/services`: the shared set, or a private one.

The fault tests stop and kill servers. Doing that to the shared development servers would break
whatever else runs against them at the same time (another engineer's tests, the rest of a CI
run), so the fault tests get a private set: same script, own state folder, own free ports,
selected through the overrides `scripts/services` reads (TODO_SERVICES_DIR, TODO_*_PORT, ...).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from bench.processes import GUARD_S, REPO, ServiceEnv, alive, free_port

SERVICES_SCRIPT = REPO / "scripts" / "services"
SHARED_ENV_FILE = REPO / ".services.env"
# The variable `scripts/services` takes each server's port from.
PORT_VARIABLES = {
    "postgres": "TODO_PG_PORT",
    "redis": "TODO_REDIS_PORT",
    "kafka": "TODO_KAFKA_PORT",
}
NAMES = ("postgres", "redis", "kafka")
# A cold start may install packages and fetch the broker's jars.
START_TIMEOUT_S = 900.0


def read_env_file(path: Path) -> ServiceEnv:
    """Parse the env file `scripts/services start` writes."""
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and not key.startswith("#"):
            values[key.strip()] = value.strip()
    try:
        database_url = values["TODO_DATABASE_URL"]
    except KeyError:
        raise ValueError(f"{path}: TODO_DATABASE_URL is missing") from None
    return ServiceEnv(
        database_url=database_url,
        redis_url=values.get("TODO_REDIS_URL"),
        kafka_bootstrap=values.get("TODO_KAFKA_BOOTSTRAP_SERVERS"),
    )


@dataclass
class ServerSet:
    """One set of the three servers, and the environment that makes the script address it."""

    env_file: Path
    overrides: dict[str, str] = field(default_factory=dict)
    state_dir: Path | None = None

    @classmethod
    def shared(cls) -> ServerSet:
        """The development servers every other test and the benchmark use."""
        return cls(env_file=SHARED_ENV_FILE)

    @classmethod
    def private(cls, state_dir: Path) -> ServerSet:
        """A fresh set in `state_dir` on free loopback ports, for tests that break servers."""
        state_dir.mkdir(parents=True, exist_ok=True)
        env_file = state_dir / "services.env"
        ports = {
            name: str(free_port())
            for name in (
                "TODO_PG_PORT",
                "TODO_REDIS_PORT",
                "TODO_KAFKA_PORT",
                "TODO_KAFKA_CONTROLLER_PORT",
            )
        }
        overrides = {
            "TODO_SERVICES_DIR": str(state_dir),
            "TODO_SERVICES_ENV_FILE": str(env_file),
            # The broker's restart inside a fault is a wait on the machine too: under a CPU hog
            # and other work (load 23) its JVM took over scripts/services' 120 s default.
            "TODO_SERVICES_TIMEOUT": str(int(GUARD_S)),
            **ports,
        }
        return cls(env_file=env_file, overrides=overrides, state_dir=state_dir)

    def run(self, action: str, *names: str, timeout: float = START_TIMEOUT_S) -> str:
        """`scripts/services <action> [names]` for this set; raises with its output on failure."""
        unknown = [name for name in names if name not in NAMES]
        if unknown:
            raise ValueError(f"unknown service {unknown}; choose from {NAMES}")
        env = {**os.environ, **self.overrides}
        result = subprocess.run(
            [str(SERVICES_SCRIPT), action, *names],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"scripts/services {action} {' '.join(names)} exited {result.returncode}:\n"
                f"{result.stdout}\n{result.stderr}"
            )
        return result.stdout

    def start(self, *names: str) -> None:
        self.run("start", *names)

    def stop(self, *names: str) -> None:
        self.run("stop", *names)

    def env(self) -> ServiceEnv:
        return read_env_file(self.env_file)

    def _home(self, name: str) -> Path:
        """The server's folder in a private set (the script names it after server and port)."""
        if self.state_dir is None:
            raise RuntimeError("only the servers of a private set are reached directly")
        return self.state_dir / f"{name}-{self.overrides[PORT_VARIABLES[name]]}"

    def log_tail(self, name: str, chars: int = 3000) -> str:
        """The end of a private server's own log, for failure messages."""
        try:
            return (self._home(name) / f"{name}.log").read_text(errors="replace")[-chars:]
        except FileNotFoundError:
            return ""

    def pid(self, name: str) -> int:
        """The pid of a running server of this set, from the pid file the script keeps."""
        home = self._home(name)
        pid = int(home.with_name(f"{home.name}.pid").read_text().strip())
        # Pids are reused: only trust one whose command line names this server's home folder.
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        if str(home) not in cmdline:
            raise RuntimeError(f"pid {pid} in the {name} pid file is not our {name} server")
        return pid

    def kill(self, name: str) -> None:
        """SIGKILL the server, as a crashed node: no shutdown, no flush; wait until it is gone."""
        pid = self.pid(name)
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if alive(pid):
            raise RuntimeError(f"{name} (pid {pid}) survived SIGKILL for 30s")

    def freeze(self, name: str) -> None:
        """SIGSTOP the server: it keeps its port and accepts connections, and answers nothing."""
        os.kill(self.pid(name), signal.SIGSTOP)

    def thaw(self, name: str) -> None:
        os.kill(self.pid(name), signal.SIGCONT)

    def remove(self) -> None:
        """Stop every server of a private set and delete its state."""
        if self.state_dir is None:
            raise RuntimeError("refusing to remove the shared development servers")
        try:
            self.stop()
        finally:
            shutil.rmtree(self.state_dir, ignore_errors=True)


@contextlib.contextmanager
def private_servers(prefix: str, *names: str) -> Iterator[ServerSet]:
    """A private set in a fresh temp folder, started (`names`, or all three), then removed with
    its folder."""
    # A short path: PostgreSQL's socket path must stay under 108 bytes.
    state = Path(tempfile.mkdtemp(prefix=prefix))
    servers = ServerSet.private(state)
    try:
        servers.start(*names)
        yield servers
    finally:
        try:
            servers.remove()
        finally:
            shutil.rmtree(state, ignore_errors=True)
