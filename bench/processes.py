"""Start, stop and kill the service's processes and the development servers.

The benchmark and the fault tests drive the real commands (`todo-api serve|relay|consume`) as
subprocesses on loopback, so a SIGKILL or a restart hits exactly the code that runs in a cluster,
not an in-process imitation of it.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import httpx

REPO = Path(__file__).resolve().parent.parent
# The console script installed beside the interpreter that runs us (the project's venv).
TODO_API = Path(sys.executable).parent / "todo-api"
# A generous guard for every wait on the machine doing work (a server starting, events
# arriving): waits return as soon as it is done, and a loaded machine (a CPU hog, a cold
# build beside the tests) took 30 s just to import the service.
GUARD_S = 300.0


@dataclass(frozen=True)
class ServiceEnv:
    """Where the service's processes find PostgreSQL, Redis and Kafka."""

    database_url: str
    redis_url: str | None
    kafka_bootstrap: str | None
    jwt_secret: str = "bench-and-fault-tests-secret-0123456789abcdef"
    log_level: str = "WARNING"

    def environ(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """The environment for a subprocess: ours, minus stray TODO_ settings, plus these."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("TODO_")}
        env["TODO_DATABASE_URL"] = self.database_url
        if self.redis_url is not None:
            env["TODO_REDIS_URL"] = self.redis_url
        if self.kafka_bootstrap is not None:
            env["TODO_KAFKA_BOOTSTRAP_SERVERS"] = self.kafka_bootstrap
        env["TODO_JWT_SECRET"] = self.jwt_secret
        env["TODO_LOG_LEVEL"] = self.log_level
        env.update(extra or {})
        return env


def migrate(env: ServiceEnv) -> None:
    """`todo-api migrate`: bring the database named by `env` to the latest schema."""
    subprocess.run([str(TODO_API), "migrate"], env=env.environ(), check=True, timeout=120)


def wait_until(
    what: str, done: Callable[[], bool], timeout: float = GUARD_S, every: float = 0.02
) -> None:
    """Poll `done` until it is true; raise naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not happen within {timeout}s")
        time.sleep(every)


def stat_fields(pid: int) -> list[str]:
    """The fields of ``/proc/<pid>/stat`` from the state on (field 3 of ``proc(5)`` is index 0).

    The command name before them, in parentheses, may hold spaces and parentheses, so the split
    is after the last one. Raises OSError when the process is gone.
    """
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def alive(pid: int) -> bool:
    """Running, not a zombie: a server orphaned by the script may wait for init to reap it."""
    try:
        return stat_fields(pid)[0] != "Z"
    except FileNotFoundError:
        return False


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class ManagedProcess:
    """One subprocess with its output in a log file, which we can stop politely or kill."""

    def __init__(self, name: str, argv: list[str], env: Mapping[str, str]) -> None:
        self.name = name
        self.argv = argv
        self.env = dict(env)
        self.log_path = Path(tempfile.gettempdir()) / f"todo-{name}-{os.getpid()}.log"
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        if self.running:
            raise RuntimeError(f"{self.name} is already running (pid {self.pid})")
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(
                self.argv, cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )

    @property
    def pid(self) -> int:
        if self._proc is None:
            raise RuntimeError(f"{self.name} was never started")
        return self._proc.pid

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: no shutdown hook runs, as when a node dies."""
        if self._proc is not None and self.running:
            self._proc.send_signal(signal.SIGKILL)
            self._proc.wait(timeout=10)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, then SIGKILL if it has not exited within `timeout` seconds."""
        if self._proc is None or not self.running:
            return
        self._proc.send_signal(signal.SIGTERM)
        try:
            self._proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def wait_ready(self, timeout: float = GUARD_S) -> None:
        """A process with no readiness check of its own is ready once started."""

    def wait_answering(self, url: str, status: int, timeout: float = GUARD_S) -> None:
        """Block until ``url`` answers ``status``; fail with the log if the process exits or
        it never does."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running:
                raise RuntimeError(f"{self.name} exited during start-up:\n{self.log_tail()}")
            try:
                if httpx.get(url, timeout=5.0).status_code == status:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"{self.name} not healthy after {timeout}s:\n{self.log_tail()}")

    def wait_exit(self, timeout: float = GUARD_S) -> int:
        """Wait for the process to end by itself; its exit code."""
        if self._proc is None:
            raise RuntimeError(f"{self.name} was never started")
        try:
            return self._proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise TimeoutError(
                f"{self.name} still runs after {timeout}s:\n{self.log_tail()}"
            ) from None

    def log_tail(self, chars: int = 4000) -> str:
        """The end of the process's output, for failure messages."""
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except FileNotFoundError:
            return ""

    def __enter__(self) -> ManagedProcess:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def relay_process(env: ServiceEnv, name: str = "relay", **settings: str) -> ManagedProcess:
    """`todo-api relay`: publishes the outbox to Kafka."""
    return ManagedProcess(name, [str(TODO_API), "relay"], env.environ(settings))


def consumer_process(env: ServiceEnv, name: str = "consumer", **settings: str) -> ManagedProcess:
    """`todo-api consume`: the native Kafka consumer that runs the idempotent handler."""
    return ManagedProcess(name, [str(TODO_API), "consume"], env.environ(settings))


class ApiServer(ManagedProcess):
    """`todo-api serve` (uvicorn) on a free loopback port."""

    def __init__(self, env: ServiceEnv, name: str = "api", **settings: str) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        argv = [str(TODO_API), "serve", "--host", "127.0.0.1", "--port", str(self.port)]
        super().__init__(name, argv, env.environ(settings))

    def wait_ready(self, timeout: float = GUARD_S) -> None:
        """Block until /healthz answers 200; fail with the server's log if it never does."""
        self.wait_answering(f"{self.base_url}/healthz", 200, timeout)

    def __enter__(self) -> ApiServer:
        self.start()
        self.wait_ready()
        return self
