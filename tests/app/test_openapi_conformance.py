"""The OpenAPI document against what the service does, on SQLite and on PostgreSQL.

``schemathesis run`` with every check and every phase (examples, coverage, fuzzing, and the
stateful phase, which follows the document's links: a created task is read, changed, completed
and deleted), at least 100 examples per operation, against ``todo-api serve`` as the container
runs it. Authenticated operations send a token from a real registration and sign-in
(tests/app/schemathesis_hooks.py). Each backend runs twice: with a fixed seed, which every CI
run repeats, and with a random one, which explores further; the seed is in the test's id, so
``schemathesis run ... --seed N`` (or this test, with that seed) reproduces a failure.
"""

from __future__ import annotations

import os
import random
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.app.conftest import FAST_HASH_KIB, SECRET, cli_env
from tests.app.helpers import PASSWORD, TODO_API, dead_port
from tests.conftest import REPO

EXAMPLES = 100
FIXED_SEED = 1313
# Drawn once per session; shown in the test id and printed with the figures.
RANDOM_SEED = random.SystemRandom().randrange(2**31)
SCHEMATHESIS = str(Path(sys.executable).with_name("schemathesis"))
# Guards only. One run took 333-427 s on this 2-core machine at a load average near 20 (5-6
# times its cores); the guards leave room for worse, under pytest's own timeout for this test.
STARTUP_GUARD_S = 60
RUN_GUARD_S = 1500


def _serve(database_url: str, port: int, folder: Path) -> subprocess.Popen[bytes]:
    # Its log goes to a file: a pipe nobody reads would fill and stall the server.
    with (folder / "serve.log").open("wb") as log:
        return subprocess.Popen(
            [TODO_API, "serve", "--port", str(port)],
            cwd=folder,
            env=cli_env(
                TODO_DATABASE_URL=database_url,
                TODO_JWT_SECRET=SECRET,
                TODO_PASSWORD_HASH_MEMORY_KIB=str(FAST_HASH_KIB),
                TODO_LOG_LEVEL="WARNING",
            ),
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def _wait_ready(process: subprocess.Popen[bytes], api: str, folder: Path) -> None:
    deadline = time.monotonic() + STARTUP_GUARD_S
    while True:
        try:
            if httpx.get(f"{api}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        log = (folder / "serve.log").read_text(errors="replace")
        assert process.poll() is None, f"todo-api serve exited:\n{log}"
        assert time.monotonic() < deadline, f"not ready within {STARTUP_GUARD_S}s:\n{log}"
        time.sleep(0.2)


def _signed_in(api: str) -> str:
    """A token from a real registration, then a real sign-in with the password grant."""
    username = "conformance"
    registered = httpx.post(
        f"{api}/api/v1/auth/register",
        json={"username": username, "password": PASSWORD},
        timeout=30,
    )
    assert registered.status_code == 201, registered.text
    login = httpx.post(
        f"{api}/api/v1/auth/token",
        data={"username": username, "password": PASSWORD},
        timeout=30,
    )
    assert login.status_code == 200, login.text
    token: str = login.json()["access_token"]
    return token


def _figure(pattern: str, output: str) -> int:
    found = re.search(pattern, output)
    assert found is not None, f"no {pattern!r} in schemathesis' summary:\n{output}"
    return int(found.group(1))


@pytest.mark.timeout(RUN_GUARD_S + 2 * STARTUP_GUARD_S)
@pytest.mark.parametrize(
    "seed", [FIXED_SEED, RANDOM_SEED], ids=[f"fixed-seed-{FIXED_SEED}", f"seed-{RANDOM_SEED}"]
)
def test_every_operation_behaves_as_documented(
    db_url: str, backend: str, seed: int, tmp_path: Path
) -> None:
    port = dead_port()
    api = f"http://127.0.0.1:{port}"
    process = _serve(db_url, port, tmp_path)
    try:
        _wait_ready(process, api, tmp_path)
        env = {
            **os.environ,
            "PYTHONPATH": str(REPO),
            "SCHEMATHESIS_HOOKS": "tests.app.schemathesis_hooks",
            "CONFORMANCE_API": api,
            "CONFORMANCE_TOKEN": _signed_in(api),
        }
        started = time.monotonic()
        run = subprocess.run(
            [
                SCHEMATHESIS,
                "run",
                f"{api}/openapi.json",
                "--checks",
                "all",
                "--phases",
                "examples,coverage,fuzzing,stateful",
                "--max-examples",
                str(EXAMPLES),
                "--seed",
                str(seed),
                # Nothing carried over from an earlier run: the seed alone decides the cases.
                "--generation-database",
                "none",
                "--no-color",
            ],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=RUN_GUARD_S,
            check=False,
        )
        seconds = time.monotonic() - started
    finally:
        process.terminate()
        process.wait(timeout=30)
    output = run.stdout + run.stderr
    assert run.returncode == 0, f"schemathesis, seed {seed}, on {backend}:\n{output}"
    selected = _figure(r"Selected: \d+/(\d+)", output)
    tested = _figure(r"Tested: (\d+)", output)
    cases = _figure(r"(\d+) generated", output)
    assert tested == selected, f"every operation is tested:\n{output}"
    print(
        f"schemathesis on {backend}, seed {seed}: {tested} operations, {cases} cases, "
        f"0 failures, {seconds:.0f} s"
    )
