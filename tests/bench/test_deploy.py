"""The parts of ``bench.deploy`` that need no cluster: its arguments, the kubectl waits that
stand for the provider's awaits, and the report's shape and ratios."""

from __future__ import annotations

import pytest

from bench.deploy import parse_args, report, stack_figures, waits

KUBECTL = ["kubectl", "--kubeconfig", "/k"]


def test_every_stack_is_measured_by_default_and_no_cold_build() -> None:
    args = parse_args([])
    assert args.stacks == ["dev", "staging", "prod"]
    assert args.cold_build is False
    assert args.json is None


def test_stacks_given_are_measured_in_the_order_given() -> None:
    args = parse_args(["--stack", "prod", "--stack", "dev", "--cold-build"])
    assert args.stacks == ["prod", "dev"]
    assert args.cold_build is True


def test_an_unknown_stack_is_refused_naming_it(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        parse_args(["--stack", "qa"])
    assert exit_.value.code == 2
    assert "invalid choice: 'qa'" in capsys.readouterr().err


def test_a_stack_given_twice_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        parse_args(["--stack", "dev", "--stack", "prod", "--stack", "dev"])
    assert exit_.value.code == 2
    assert "--stack dev given more than once" in capsys.readouterr().err


def _object(kind: str, name: str, namespace: str | None = "ns") -> dict[str, object]:
    metadata = {"name": name} | ({"namespace": namespace} if namespace else {})
    return {"kind": kind, "metadata": metadata}


def test_waits_cover_each_rollout_and_the_job_and_nothing_else() -> None:
    manifests = [
        _object("Namespace", "ns", namespace=None),
        _object("Service", "api"),
        _object("Deployment", "api"),
        _object("StatefulSet", "kafka"),
        _object("Job", "topics"),
        _object("ConfigMap", "settings"),
    ]
    assert waits(KUBECTL, manifests) == [
        [*KUBECTL, "-n", "ns", "rollout", "status", "deployment/api", "--timeout=600s"],
        [*KUBECTL, "-n", "ns", "rollout", "status", "statefulset/kafka", "--timeout=600s"],
        [
            *KUBECTL,
            "-n",
            "ns",
            "wait",
            "--for=condition=complete",
            "job/topics",
            "--timeout=600s",
        ],
    ]


def test_report_nests_each_stack_with_its_ratios_beside_the_control_plane() -> None:
    kubectl = {"objects": 42, "up_s": 2.0, "noop_up_s": 4.0, "down_s": 16.0}
    ours = {"up_s": 30.0, "noop_up_s": 7.0, "down_s": 20.0, "up_changes": {"create": 60}}
    control_plane: dict[str, float | None] = {
        "warm_build_s": 0.2,
        "start_s": 9.5,
        "cold_build_s": None,
    }
    document = report("v1.36.3", control_plane, {"dev": stack_figures(3.1, kubectl, ours)})
    assert document["kubernetes"] == "v1.36.3"
    assert document["control_plane"] == control_plane
    assert document["stacks"] == {
        "dev": {
            "render_s": 3.1,
            "kubectl": kubectl,
            "todo_infra": ours,
            "ratio": {"up_s": 15.0, "noop_up_s": 1.75, "down_s": 1.25},
        }
    }
    assert {"when", "machine"} <= document.keys()
