"""Starting and stopping a second control plane of its own, and the starts that must fail:
one line naming the cause, a non-zero exit, and no process left behind."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.local.conftest import cluster_env, processes_of


def test_stop_leaves_no_process(tmp_path: Path) -> None:
    own = cluster_env(tmp_path / "cluster")
    started = own.todo_infra("local", "start")
    assert started.returncode == 0, started.stderr
    assert "started in" in started.stdout
    assert len(processes_of(own.state_dir)) == 9
    stopped = own.todo_infra("local", "stop")
    assert stopped.returncode == 0, stopped.stderr
    assert stopped.stdout.strip() == (
        "stopped injector, operator, sentry, kwok, kube-scheduler, kube-controller-manager,"
        " kube-apiserver, egress-proxy, etcd"
    )
    assert processes_of(own.state_dir) == []
    assert list((own.state_dir / "run").glob("*.pid")) == []
    status = own.todo_infra("local", "status", "--json")
    assert status.returncode == 3
    assert status.stdout == ""
    assert "not running" in status.stderr


def test_a_taken_port_fails_in_one_line(tmp_path: Path) -> None:
    own = cluster_env(tmp_path / "cluster")
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", own.api_port))
        squatter.listen()
        result = own.todo_infra("local", "start")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert f"port {own.api_port} on 127.0.0.1, needed by kube-apiserver" in lines[0]
    assert "is taken" in lines[0]
    assert processes_of(own.state_dir) == []


@pytest.fixture
def bystander() -> Iterator[subprocess.Popen[bytes]]:
    """An unrelated live process, whose pid a stale pid file will name."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
    yield process
    process.kill()
    process.wait()


def test_a_stale_pid_file_fails_in_one_line_and_stop_clears_it(
    tmp_path: Path, bystander: subprocess.Popen[bytes]
) -> None:
    own = cluster_env(tmp_path / "cluster")
    pid_file = own.state_dir / "run" / "kube-apiserver.pid"
    pid_file.parent.mkdir(parents=True)
    pid_file.write_text(f"{bystander.pid}\n")
    result = own.todo_infra("local", "start")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert f"stale pid file {pid_file}: pid {bystander.pid} is not this cluster's" in lines[0]
    assert processes_of(own.state_dir) == []
    stopped = own.todo_infra("local", "stop")
    assert stopped.returncode == 0, stopped.stderr
    assert not pid_file.exists()
    # stop trusted the cmdline, not the pid file: the unrelated process lives on.
    assert bystander.poll() is None
    os.kill(bystander.pid, 0)
