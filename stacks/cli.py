"""``todo-infra``: the infrastructure's command line.

``todo-infra render --stack <dev|staging|prod> --out DIR`` writes every Kubernetes object the
stack would create, without the Pulumi CLI or a cluster (see :mod:`stacks.render`).
``todo-infra config-reference [--write docs/configuration.md]`` regenerates the settings table.
``todo-infra preview|up|refresh|destroy --stack S [--local]`` runs Pulumi (:mod:`stacks.deploy`).
``todo-infra doctor --stack S [--local]`` checks what the stack needs from its cluster
(:mod:`stacks.doctor`).
``todo-infra local start|stop|status`` runs a local control plane (see :mod:`stacks.local.cli`).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from stacks.config import StackConfigError
from stacks.deploy import OPERATIONS, add_commands, deploy
from stacks.doctor import add_command as add_doctor
from stacks.doctor import doctor
from stacks.local import cli as local_cli
from stacks.profiles import PROFILE_NAMES
from stacks.reference import reference, write
from stacks.render import render_stack, write_manifests
from stacks.summary import summary

EXIT_CONFIG_ERROR = 2


def project_dir(start: Path | None = None) -> Path:
    """The nearest folder holding ``Pulumi.yaml``, from ``start`` (the working directory) up;
    failing that, the checkout this package was installed from."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "Pulumi.yaml").is_file():
            return folder
    return Path(__file__).resolve().parent.parent


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="todo-infra", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    render = commands.add_parser(
        "render", help="write the stack's Kubernetes objects as YAML, offline"
    )
    # Any stack with a Pulumi.<stack>.yaml, e.g. prod-eks from Pulumi.prod-eks.yaml.example.
    render.add_argument(
        "--stack", required=True, help=f"stack to render ({', '.join(PROFILE_NAMES)}, ...)"
    )
    render.add_argument("--out", required=True, type=Path, help="directory to write into")
    render.add_argument(
        "--project-dir",
        type=Path,
        help="directory holding Pulumi.<stack>.yaml (default: the nearest one with Pulumi.yaml)",
    )
    reference = commands.add_parser(
        "config-reference", help="print the configuration reference generated from StackConfig"
    )
    reference.add_argument(
        "--write", type=Path, help="rewrite the generated section of this Markdown file instead"
    )
    add_commands(commands)
    add_doctor(commands)
    local_cli.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "local":
        return local_cli.run(args)
    if args.command == "config-reference":
        if args.write:
            write(args.write)
        else:
            print(reference(), end="")
        return 0
    if args.command in OPERATIONS:
        return deploy(args, project_dir())
    if args.command == "doctor":
        return doctor(args, project_dir())
    project = args.project_dir or project_dir()
    stack_file = project / f"Pulumi.{args.stack}.yaml"
    if not stack_file.is_file():
        print(f"error: stack file {stack_file} not found", file=sys.stderr)
        return EXIT_CONFIG_ERROR
    try:
        rendered = render_stack(args.stack, project)
    except StackConfigError as exc:
        print(f"error: {stack_file}: {exc}", file=sys.stderr)
        return EXIT_CONFIG_ERROR
    manifests = rendered.manifests()
    paths = write_manifests(manifests, args.out)
    # One write, so a reader that stops after the first line (`| head -1`) breaks no pipe.
    print(
        f"rendered {len(manifests)} objects of stack {args.stack!r} into {args.out} "
        f"(kubectl apply -f {paths[-1]})\n{summary(manifests)}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
