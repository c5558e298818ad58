"""``daprd`` (built by scripts/daprd-toolchain) run self-hosted beside the service."""

from __future__ import annotations

import os
import shutil
import subprocess

from bench.dapr_self_hosted import SelfHostedApp
from bench.processes import GUARD_S, ManagedProcess, free_port


def daprd_binary() -> str:
    """daprd on PATH; its absence is a failure (scripts/test puts it there), never a skip."""
    found = shutil.which("daprd")
    if found is None:
        raise RuntimeError(
            "daprd is not on PATH: run the tests through scripts/test, or first "
            'export PATH="$(scripts/daprd-toolchain | tail -n 1):$PATH"'
        )
    return found


class Daprd(ManagedProcess):
    """One sidecar for ``app`` whose app listens on ``app_port``, all ports free loopback ones.

    It sends ``app_token`` with every call to the app, as the injector sets it from the stack's
    Secret (``dapr.io/app-token-secret``).
    """

    def __init__(
        self, app: SelfHostedApp, app_port: int, app_token: str, name: str = "daprd"
    ) -> None:
        self.http_port = free_port()
        self.base_url = f"http://127.0.0.1:{self.http_port}"
        argv = [
            daprd_binary(),
            "--mode",
            "standalone",
            "--app-id",
            app.app_id,
            "--app-port",
            str(app_port),
            "--app-protocol",
            app.app_protocol,
            "--resources-path",
            str(app.resources_path),
            "--config",
            str(app.config_path),
            "--dapr-http-port",
            str(self.http_port),
            "--dapr-grpc-port",
            str(free_port()),
            "--dapr-internal-grpc-port",
            str(free_port()),
            "--metrics-port",
            str(free_port()),
            "--dapr-listen-addresses",
            "127.0.0.1",
            "--log-level",
            "info",
        ]
        env = {k: v for k, v in os.environ.items() if not k.startswith("TODO_")}
        super().__init__(name, argv, {**env, "APP_API_TOKEN": app_token})

    def wait_ready(self, timeout: float = GUARD_S) -> None:
        """Until ``/v1.0/healthz`` answers 204: components loaded and the app reached."""
        self.wait_answering(f"{self.base_url}/v1.0/healthz", 204, timeout)

    def __enter__(self) -> Daprd:
        self.start()
        self.wait_ready()
        return self


def daprd_version(binary: str) -> str:
    """What ``daprd --version`` prints: the Dapr release the figures were taken with."""
    return subprocess.run(
        [binary, "--version"], capture_output=True, text=True, check=True, timeout=60
    ).stdout.strip()
