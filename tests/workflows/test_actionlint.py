"""The GitHub workflows users get (``.github/workflows``) pass actionlint, and do what they say.

actionlint is built from its Go module by ``scripts/actionlint-toolchain`` (cached after the
first build); without Go or the module proxy the build fails and so do these tests.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
WORKFLOWS = REPO / ".github" / "workflows"
STACKS = sorted(p.name.split(".")[1] for p in REPO.glob("Pulumi.*.yaml"))


@pytest.fixture(scope="module")
def actionlint() -> str:
    built = subprocess.run(
        [str(REPO / "scripts" / "actionlint-toolchain")],
        stdout=subprocess.PIPE,
        text=True,
        check=True,
    )
    return str(Path(built.stdout.strip().splitlines()[-1]) / "actionlint")


def _lint(actionlint: str, *files: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [actionlint, "-no-color", *map(str, files)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _workflow(name: str) -> dict[Any, Any]:
    """A workflow as YAML 1.1 reads it (so its ``on`` key is ``True``)."""
    document: dict[Any, Any] = yaml.safe_load((WORKFLOWS / name).read_text(encoding="utf-8"))
    return document


def test_every_workflow_passes_actionlint(actionlint: str) -> None:
    files = sorted(WORKFLOWS.glob("*.yml"))
    assert [f.name for f in files] == ["preview.yml", "test.yml"]
    result = _lint(actionlint, *files)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_finds_a_broken_workflow(actionlint: str, tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-24.04\n"
        "    steps:\n      - run: echo ${{ matrix.stack }}\n",
        encoding="utf-8",
    )
    result = _lint(actionlint, broken)
    assert result.returncode == 1
    assert "matrix" in result.stdout


def test_the_test_workflow_runs_the_ci_script_and_keeps_the_screenshots() -> None:
    (job,) = _workflow("test.yml")["jobs"].values()
    *_, ci, keep = job["steps"]
    assert ci["run"] == "bash .ci/run"
    # The browser test's screenshots (docs/web-ui.md), from failed runs too.
    assert keep["uses"].startswith("actions/upload-artifact@")
    assert keep["if"] == "always()"
    assert keep["with"]["path"] == "test-artifacts/"


def test_the_preview_workflow_previews_every_stack_on_pull_requests() -> None:
    workflow = _workflow("preview.yml")
    assert "pull_request" in workflow[True]
    (job,) = workflow["jobs"].values()
    assert sorted(job["strategy"]["matrix"]["stack"]) == STACKS
    commands = [step.get("run", "") for step in job["steps"]]
    assert any(c.startswith('.venv/bin/todo-infra preview --stack "$STACK"') for c in commands)
