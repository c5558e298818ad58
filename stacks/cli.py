"""``todo-infra``: the infrastructure's command line.

``todo-infra render --stack <dev|staging|prod> --out DIR`` writes every Kubernetes object the
stack would create, without the Pulumi CLI or a cluster (see :mod:`stacks.render`).
``todo-infra config-reference [--write docs/configuration.md]`` regenerates the settings table.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from stacks.config import StackConfigError
from stacks.profiles import PROFILE_NAMES
from stacks.reference import reference, write
from stacks.render import render_stack, write_manifests

EXIT_CONFIG_ERROR = 2
PROJECT_DIR = Path(__file__).resolve().parent.parent
"""Where Pulumi.yaml and the stack files live (the checkout this package was installed from)."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="todo-infra", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    render = commands.add_parser(
        "render", help="write the stack's Kubernetes objects as YAML, offline"
    )
    render.add_argument("--stack", required=True, choices=PROFILE_NAMES, help="stack to render")
    render.add_argument("--out", required=True, type=Path, help="directory to write into")
    render.add_argument(
        "--project-dir",
        type=Path,
        default=PROJECT_DIR,
        help="directory holding Pulumi.<stack>.yaml (default: this checkout)",
    )
    reference = commands.add_parser(
        "config-reference", help="print the configuration reference generated from StackConfig"
    )
    reference.add_argument(
        "--write", type=Path, help="rewrite the generated section of this Markdown file instead"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "config-reference":
        if args.write:
            write(args.write)
        else:
            print(reference(), end="")
        return 0
    stack_file = args.project_dir / f"Pulumi.{args.stack}.yaml"
    if not stack_file.is_file():
        print(f"error: stack file {stack_file} not found", file=sys.stderr)
        return EXIT_CONFIG_ERROR
    try:
        rendered = render_stack(args.stack, args.project_dir)
    except StackConfigError as exc:
        print(f"error: {stack_file}: {exc}", file=sys.stderr)
        return EXIT_CONFIG_ERROR
    manifests = rendered.manifests()
    paths = write_manifests(manifests, args.out)
    print(
        f"rendered {len(manifests)} objects of stack {args.stack!r} into {args.out} "
        f"(kubectl apply -f {paths[-1]})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
