"""``todo-infra doctor --stack S [--local]``: every prerequisite of the stack on its cluster.

It reads the stack file as ``preview`` would, asks the cluster the stack's provider uses (with
``--local``, the local control plane) and prints one line per prerequisite with its status and,
when one is missing, the remedy. No Pulumi CLI and no stack state are needed.
Exit codes: 0 nothing missing, 1 something missing or not checkable, 2 bad input (one line).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from stacks.config import StackConfigError
from stacks.deploy import EXIT_BAD_INPUT, EXIT_FAILED, DeployError, local_workspace
from stacks.local.errors import LocalClusterError
from stacks.preflight import KubectlCluster, validated_config
from stacks.prerequisites import check_all

STATUS_WIDTH = 11
"""Room for the longest status (``not needed``) and a space."""


def add_command(commands: Any) -> None:  # noqa: ANN401 - argparse's private subparsers type
    parser = commands.add_parser(
        "doctor", help="check what the stack needs from its cluster: CRDs, controller settings"
    )
    parser.add_argument("--stack", required=True, help="dev, staging, prod, ...")
    parser.add_argument(
        "--local",
        action="store_true",
        help="check the local control plane (started when needed), as `up --local` would use it",
    )


def doctor(args: argparse.Namespace, project: Path) -> int:
    """Print every prerequisite of ``args.stack``; the exit code."""
    tracked = project / f"Pulumi.{args.stack}.yaml"
    try:
        if not tracked.is_file():
            raise DeployError(f"unknown stack {args.stack!r}: {tracked} not found")
        stack_file = local_workspace(args.stack, project).stack_file if args.local else tracked
        config = validated_config(stack_file)
    except StackConfigError as error:
        print(f"error: {args.stack}: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (DeployError, LocalClusterError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    found = check_all(config, KubectlCluster(config))
    print(f"prerequisites of stack {args.stack} on its cluster:")
    for prerequisite in found:
        print(f"  {prerequisite.status:<{STATUS_WIDTH}} {prerequisite.name}: {prerequisite.detail}")
        if prerequisite.status.blocking and prerequisite.remedy:
            print(f"  {'':<{STATUS_WIDTH}} remedy: {prerequisite.remedy}")
    blocking = [prerequisite for prerequisite in found if prerequisite.status.blocking]
    if blocking:
        print(
            f"{len(blocking)} of {len(found)} prerequisites missing or not checked", file=sys.stderr
        )
        return EXIT_FAILED
    return 0
