"""``bench.api_cost`` against the real servers: each layer measured, the baseline too."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.api_cost import cpu_seconds, main, raw_commit_cpu_ms
from bench.processes import REPO, ServiceEnv


def test_cpu_seconds_counts_the_processes_own_cpu() -> None:
    before, started = cpu_seconds(os.getpid()), time.process_time()
    for _ in range(10**9):  # a bound, never reached: 0.2 s of CPU comes long before
        if time.process_time() - started >= 0.2:
            break
    # The kernel counts in clock ticks (10 ms), so allow one tick each side.
    assert cpu_seconds(os.getpid()) - before >= 0.2 - 0.02


def test_a_write_costs_more_than_the_framework_floor(tmp_path: Path) -> None:
    """Run as a user runs it, in a process of its own: its event loops (``asyncio.run``) must
    not leave this one without a current loop, which Pulumi's mocks in later tests need."""
    figures = tmp_path / "api_cost.json"
    small = ["--requests", "100", "--load-rate", "50", "--runs", "1"]
    subprocess.run(  # fixed argv, no shell
        [sys.executable, "-m", "bench.api_cost", *small, "--json", str(figures)],
        cwd=REPO,
        check=True,
        timeout=600,
    )
    costs = json.loads(figures.read_text())["api_cpu_ms"]
    assert set(costs) == {"healthz", "read", "write"}
    # A write adds the token check, the caller's lookup and a transaction to all healthz does.
    assert costs["write"] > costs["healthz"] > 0


def test_the_raw_commit_baseline_is_measured(service_env: ServiceEnv) -> None:
    assert raw_commit_cpu_ms(service_env.database_url, 200) > 0


@pytest.mark.parametrize("bad", [["--runs", "0"], ["--requests", "0"], ["--load-rate", "0"]])
def test_bad_arguments_are_refused_before_any_server_starts(bad: list[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(bad)
    assert exit_info.value.code == 2
