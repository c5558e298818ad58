"""The local target's stack file: tracked settings + local-only settings + kept secrets."""

from __future__ import annotations

from pathlib import Path

import yaml

from stacks.local_target import LocalTarget

TRACKED = """
config:
  todo-evolution:profile: prod
  todo-evolution:ingress:
    host: todo.example.com
  todo-evolution:jwtSecret:
    secure: v1:encrypted-with-the-tracked-stacks-key
"""


def _stack_file(target: LocalTarget) -> dict:
    return yaml.safe_load((target.work_dir / "Pulumi.prod.yaml").read_text())


def test_tracked_settings_plus_local_ones(tmp_path: Path) -> None:
    tracked = tmp_path / "Pulumi.prod.yaml"
    tracked.write_text(TRACKED)
    target = LocalTarget(tmp_path / "state")
    target.write_stack_file("prod", tracked, Path("/k/kubeconfig"))
    config = _stack_file(target)["config"]
    assert config["todo-evolution:profile"] == "prod"
    assert config["todo-evolution:ingress"] == {
        "host": "todo.example.com",
        "awaitLoadBalancer": False,
    }
    assert config["todo-evolution:cluster"] == {"provider": "none", "kubeconfig": "/k/kubeconfig"}
    assert "todo-evolution:jwtSecret" not in config  # another stack's key cannot decrypt it
    assert (target.passphrase_file.stat().st_mode & 0o777) == 0o600


def test_rewriting_keeps_the_salt_and_the_generated_secrets(tmp_path: Path) -> None:
    tracked = tmp_path / "Pulumi.prod.yaml"
    tracked.write_text(TRACKED)
    target = LocalTarget(tmp_path / "state")
    target.write_stack_file("prod", tracked, Path("/k/kubeconfig"))
    path = target.work_dir / "Pulumi.prod.yaml"
    document = _stack_file(target)
    document["encryptionsalt"] = "v1:salt"
    document["config"]["todo-evolution:jwtSecret"] = {"secure": "v1:ours"}
    path.write_text(yaml.safe_dump(document))
    passphrase = target.passphrase_file.read_text()
    tracked.write_text(TRACKED.replace("todo.example.com", "todo.example.org"))
    target.write_stack_file("prod", tracked, Path("/k/kubeconfig"))
    again = _stack_file(target)
    assert again["encryptionsalt"] == "v1:salt"
    assert again["config"]["todo-evolution:jwtSecret"] == {"secure": "v1:ours"}
    assert again["config"]["todo-evolution:ingress"]["host"] == "todo.example.org"
    assert target.passphrase_file.read_text() == passphrase
