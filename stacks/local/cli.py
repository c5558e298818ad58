"""``todo-infra local start|stop|status [--json]``: the local control plane's commands."""

from __future__ import annotations

import argparse
import json
import sys
import time

from stacks.local.cluster import ensure_started, status, stop
from stacks.local.errors import LocalClusterError
from stacks.local.settings import ClusterSettings

EXIT_FAILED = 1
EXIT_NOT_RUNNING = 3


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``local`` on the ``todo-infra`` parser."""
    local = commands.add_parser(
        "local",
        help="a local Kubernetes control plane with simulated nodes (docs/local-cluster.md)",
    )
    actions = local.add_subparsers(dest="local_command", required=True)
    actions.add_parser("start", help="start it (building its binaries on first use)")
    actions.add_parser("stop", help="stop every process it started")
    state = actions.add_parser("status", help="exit 0 and describe it when it runs, else exit 3")
    state.add_argument("--json", action="store_true", help="print the description as JSON")


def run(args: argparse.Namespace) -> int:
    """Run the ``local`` command ``args`` selects; errors are one line on stderr."""
    try:
        settings = ClusterSettings.from_env()
        if args.local_command == "start":
            started = time.monotonic()
            cluster = ensure_started(settings)
            verb = "already running" if cluster.reused else "started"
            took = "" if cluster.reused else f" in {time.monotonic() - started:.1f} s"
            print(
                f"local control plane {verb}{took}: Kubernetes {cluster.version},"
                f" {cluster.nodes} nodes, {settings.api_url}\n"
                f"export KUBECONFIG={cluster.kubeconfig}"
            )
            return 0
        if args.local_command == "stop":
            stopped = stop(settings)
            print(f"stopped {', '.join(stopped)}" if stopped else "local control plane not running")
            return 0
        cluster = status(settings)
    except LocalClusterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    if cluster is None:
        print(
            f"error: the local control plane in {settings.state_dir} is not running",
            file=sys.stderr,
        )
        return EXIT_NOT_RUNNING
    if args.json:
        print(json.dumps(cluster.as_json()))
    else:
        print(
            f"running: Kubernetes {cluster.version}, {cluster.nodes} Ready nodes,"
            f" {settings.api_url}, kubeconfig {cluster.kubeconfig}"
        )
    return 0
