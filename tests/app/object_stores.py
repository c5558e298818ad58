"""Local object-store emulators for the backup tests, each started by the test session on a free
loopback port: moto's S3 server (PyPI ``moto[server]``) and Azurite's blob service (npm,
``tests/emulators``). They speak each cloud's HTTP API, so ``todo-api backup`` reaches them
through the same obstore code paths as the clouds; what they cannot show is the cloud's side of
identity (IAM policies, IRSA or workload identity token exchange), which the stack's own tests
check as configuration (``tests/clouds``).

A server that does not come up fails the test that needs it, with its log; nothing skips.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from email.utils import formatdate
from pathlib import Path

import pytest

from bench.processes import GUARD_S

ROOT = Path(__file__).resolve().parents[2]
AZURITE = ROOT / "tests" / "emulators" / "node_modules" / ".bin" / "azurite-blob"
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
"""Azurite's documented development account and key, the same on every installation."""
AZURE_VERSION = "2021-08-06"


@dataclass(frozen=True)
class Emulator:
    """A running emulator: the environment that points obstore at it."""

    env: dict[str, str]
    endpoint: str


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _serve(argv: list[str], port: int, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Runs ``argv`` until the test session ends, once ``port`` accepts connections."""
    with log.open("wb") as out:
        server = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + GUARD_S
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"{argv[0]} did not listen on {port}: {log.read_text()[-2000:]}")
                time.sleep(0.2)
        yield server
    finally:
        # Azurite waits for idle keep-alive connections before it exits on SIGTERM; its data
        # is the test's to throw away, so it is killed when it lingers.
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    """moto's S3 server; credentials are static test keys, as an emulator takes any."""
    port = free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    argv = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    for _ in _serve(argv, port, log):
        endpoint = f"http://127.0.0.1:{port}"
        yield Emulator(
            env={
                "AWS_ENDPOINT_URL": endpoint,
                "AWS_ALLOW_HTTP": "true",
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_REGION": "us-east-1",
            },
            endpoint=endpoint,
        )


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    """Azurite's blob service, reached as obstore's emulator account."""
    if not AZURITE.exists():
        pytest.fail(f"{AZURITE} is missing: run scripts/bootstrap (npm ci in tests/emulators)")
    port = free_port()
    data = tmp_path_factory.mktemp("azurite")
    argv = [
        str(AZURITE),
        "--blobHost",
        "127.0.0.1",
        "--blobPort",
        str(port),
        "--location",
        str(data),
        "--skipApiVersionCheck",
        "--silent",
    ]
    for _ in _serve(argv, port, data / "azurite.log"):
        endpoint = f"http://127.0.0.1:{port}"
        yield Emulator(
            env={"AZURE_STORAGE_USE_EMULATOR": "true", "AZURITE_BLOB_STORAGE_URL": endpoint},
            endpoint=endpoint,
        )


def create_s3_bucket(emulator: Emulator, bucket: str) -> None:
    request = urllib.request.Request(f"{emulator.endpoint}/{bucket}", method="PUT")
    with urllib.request.urlopen(request, timeout=GUARD_S) as response:
        assert response.status == 200


def create_azure_container(emulator: Emulator, container: str) -> None:
    """Creates ``container`` with a Shared Key request: object stores' clients (obstore too)
    do not make containers, which the stack's Pulumi program creates in a real account."""
    date = formatdate(usegmt=True)
    headers = {"x-ms-date": date, "x-ms-version": AZURE_VERSION}
    canonical_headers = "".join(f"{name}:{headers[name]}\n" for name in sorted(headers))
    resource = f"/{AZURITE_ACCOUNT}/{AZURITE_ACCOUNT}/{container}\nrestype:container"
    to_sign = "PUT\n" + "\n" * 11 + canonical_headers + resource
    key = base64.b64decode(AZURITE_KEY)
    signature = base64.b64encode(hmac.new(key, to_sign.encode(), hashlib.sha256).digest())
    request = urllib.request.Request(
        f"{emulator.endpoint}/{AZURITE_ACCOUNT}/{container}?restype=container",
        method="PUT",
        headers={**headers, "Authorization": f"SharedKey {AZURITE_ACCOUNT}:{signature.decode()}"},
    )
    with urllib.request.urlopen(request, timeout=GUARD_S) as response:
        assert response.status == 201
