"""A private control plane's settings (the tests' and the deploy benchmark's): ports free now,
never one that is taken, and an environment that leads ``todo-infra`` to it."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from stacks.local.settings import ClusterSettings


def test_a_private_cluster_skips_a_taken_port(tmp_path: Path) -> None:
    first = ClusterSettings.private(tmp_path)
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", first.etcd_peer_port))
        squatter.listen()
        second = ClusterSettings.private(tmp_path)
    assert first.etcd_peer_port not in second.ports
    assert len(second.ports) == 10


def test_its_environment_leads_to_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    private = ClusterSettings.private(tmp_path)
    for name, value in private.environ().items():
        monkeypatch.setenv(name, value)
    assert ClusterSettings.from_env() == private
