"""An ``up`` killed with SIGKILL mid-way (the CLI, the provider and the program at once, as when
a CI runner dies) is recovered by the next ``up``, or by the one command its error names."""

from __future__ import annotations

import os
import signal
import subprocess

from tests.deploy.harness import OPERATION_TIMEOUT_S, Project

CREATED_BEFORE_KILL = 8
"""Resources the engine reports created before the kill: mid-way in every stack (dev has 58)."""
STACK = "dev"


def _kill_up_midway(project: Project) -> int:
    """Start an ``up``, SIGKILL its whole process group once enough resources were created."""
    process = subprocess.Popen(  # fixed argv, no shell
        project.command("up", STACK),
        cwd=project.root,
        env=project.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    assert process.stdout is not None
    created = 0
    for line in process.stdout:
        created += " created" in line
        if created >= CREATED_BEFORE_KILL:
            break
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=OPERATION_TIMEOUT_S)
    return created


def test_killed_up_is_recovered(project: Project) -> None:
    assert _kill_up_midway(project) >= CREATED_BEFORE_KILL, "the up ended before the kill"
    again = project.todo_infra("up", STACK)
    if again.code != 0:
        assert f"todo-infra up --stack {STACK} --recover" in again.output, again.output[-4000:]
        again = project.todo_infra("up", STACK, "--recover")
    again.require_clean()
    no_op = project.todo_infra("up", STACK).require_clean()
    assert {k: n for k, n in no_op.changes.items() if k != "same" and n} == {}
    project.todo_infra("destroy", STACK).require_clean()
