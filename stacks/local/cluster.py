"""Start, query and stop the local control plane: the API other code imports.

``ensure_started()`` returns a running cluster, starting it when needed; ``stop()`` ends every
process it started. A start that fails part-way stops what it had started before it raises, so
nothing half-started is left behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import http.client
import json
import shutil
import ssl
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from stacks.local import dapr_control_plane
from stacks.local.components import (
    KUBERNETES,
    ORDER,
    commands,
    egress_config,
    egress_config_path,
    kwok_config_path,
)
from stacks.local.dapr_crds import dapr_crds
from stacks.local.errors import LocalClusterError
from stacks.local.nodes import cluster_objects
from stacks.local.pki import ADMIN, ETCD_CLIENT, Pki, ensure_pki
from stacks.local.processes import (
    Command,
    alive,
    log_file,
    read_pid,
    running_pid,
    spawn,
    stop_process,
)
from stacks.local.settings import ClusterSettings, port_taken
from stacks.local.stages import kwok_config
from stacks.local.toolchain import Toolchain, toolchain

# Deadlines are guards against a hang, not expectations: on an idle machine etcd answers in
# about a second, the API server in about 5 s, the nodes turn Ready within seconds of KWOK.
PROCESS_READY_S = 180.0
OBJECTS_READY_S = 180.0
POLL_S = 0.25


@dataclass(frozen=True)
class LocalCluster:
    """A running local control plane."""

    kubeconfig: Path
    version: str
    nodes: int
    settings: ClusterSettings
    #: True when ``ensure_started`` found it running and started nothing.
    reused: bool = False

    def stop(self) -> list[str]:
        return stop(self.settings)

    def as_json(self) -> dict[str, Any]:
        return {
            "kubeconfig": str(self.kubeconfig),
            "nodes": self.nodes,
            "version": self.version,
            "api": self.settings.api_url,
            "state_dir": str(self.settings.state_dir),
        }


def _ssl_context(pki: Pki, client: str) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(pki.ca_cert))
    context.load_cert_chain(str(pki.cert(client)), str(pki.key(client)))
    return context


def _get(port: int, path: str, context: ssl.SSLContext | None) -> tuple[int, bytes]:
    """GET over HTTPS with ``context``, or plain HTTP without (Dapr's health endpoints)."""
    connection = (
        http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=10)
        if context
        else http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    )
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def _last_log_line(settings: ClusterSettings, name: str) -> str:
    try:
        lines = log_file(settings, name).read_text(errors="replace").strip().splitlines()
    except FileNotFoundError:
        return "(no log)"
    return lines[-1][:300] if lines else "(empty log)"


def _check_alive(settings: ClusterSettings, names: tuple[str, ...]) -> None:
    """Fail at once, with the log's last line, when a component started here has exited."""
    for name in names:
        pid = read_pid(settings, name)
        if pid is None or not alive(settings, name, pid):
            raise LocalClusterError(
                f"{name} exited during start; see {log_file(settings, name)}:"
                f" {_last_log_line(settings, name)}"
            )


def _wait_http(
    settings: ClusterSettings, name: str, port: int, path: str, context: ssl.SSLContext | None
) -> None:
    """Until ``https://127.0.0.1:port/path`` (``http://`` without a context) answers 200, while
    the process lives."""
    deadline = time.monotonic() + PROCESS_READY_S
    while True:
        _check_alive(settings, (name,))
        try:
            status, _ = _get(port, path, context)
            if status == 200:
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise LocalClusterError(
                f"{name} did not answer {path} within {PROCESS_READY_S:.0f} s;"
                f" see {log_file(settings, name)}"
            )
        time.sleep(POLL_S)


def _kubectl(tools: Toolchain, kubeconfig: Path, *args: str, stdin: str | None = None) -> str:
    result = subprocess.run(  # noqa: S603 - the toolchain's kubectl
        [tools.binary("kubectl"), f"--kubeconfig={kubeconfig}", *args],
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        detail = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise LocalClusterError(f"kubectl {' '.join(args[:2])} failed: {detail}")
    return result.stdout


def _until(
    settings: ClusterSettings,
    what: str,
    check: Callable[[], bool],
    started: tuple[str, ...] = KUBERNETES,
) -> None:
    """Until ``check()``, while the ``started`` processes live."""
    deadline = time.monotonic() + OBJECTS_READY_S
    while not check():
        _check_alive(settings, started)
        if time.monotonic() > deadline:
            raise LocalClusterError(f"timed out after {OBJECTS_READY_S:.0f} s waiting for {what}")
        time.sleep(POLL_S)


def _ready_nodes(tools: Toolchain, kubeconfig: Path) -> int:
    listing = json.loads(_kubectl(tools, kubeconfig, "get", "nodes", "-o", "json"))
    return sum(
        1
        for item in listing["items"]
        for condition in item.get("status", {}).get("conditions", [])
        if condition["type"] == "Ready" and condition["status"] == "True"
    )


def _install_objects(settings: ClusterSettings, tools: Toolchain) -> None:
    """Nodes, the default StorageClass and Dapr's CRDs; then wait until they are usable."""
    kubeconfig = settings.kubeconfig
    objects = cluster_objects()
    # Client-side apply: a Node keeps the status it is created with (capacity, addresses), which
    # server-side apply would reset.
    _kubectl(tools, kubeconfig, "apply", "-f", "-", stdin=yaml.safe_dump_all(objects))
    # Server-side: the CRDs are too large for client-side apply's last-applied annotation.
    crds = dapr_crds(tools.dapr_crds)
    _kubectl(
        tools,
        kubeconfig,
        "apply",
        "--server-side",
        "--field-manager=todo-local",
        "-f",
        "-",
        stdin=yaml.safe_dump_all(crds),
    )
    names = [f"crd/{crd['metadata']['name']}" for crd in crds]
    _kubectl(
        tools,
        kubeconfig,
        "wait",
        "--for=condition=Established",
        f"--timeout={OBJECTS_READY_S:.0f}s",
        *names,
    )
    expected = sum(1 for item in objects if item["kind"] == "Node")
    _until(settings, f"{expected} Ready nodes", lambda: _ready_nodes(tools, kubeconfig) >= expected)

    def default_account() -> bool:
        try:
            _kubectl(tools, kubeconfig, "get", "serviceaccount", "default", "-n", "default")
        except LocalClusterError:
            return False
        return True

    _until(settings, "the default ServiceAccount of namespace default", default_account)


def _check_ports(settings: ClusterSettings) -> None:
    for port, user in settings.ports.items():
        reason = port_taken(port)
        if reason is not None:
            raise LocalClusterError(
                f"port {port} on 127.0.0.1, needed by {user}, is taken ({reason})"
            )


def _running(settings: ClusterSettings) -> dict[str, int]:
    """The components that run, by name; raises on a stale pid file."""
    pids = {name: running_pid(settings, name) for name in ORDER}
    return {name: pid for name, pid in pids.items() if pid is not None}


def _describe(settings: ClusterSettings, tools: Toolchain, *, reused: bool) -> LocalCluster:
    status, body = _get(
        settings.api_port, "/version", _ssl_context(Pki(settings.pki_dir), ADMIN.file)
    )
    if status != 200:
        raise LocalClusterError(f"kube-apiserver answered /version with HTTP {status}")
    return LocalCluster(
        kubeconfig=settings.kubeconfig,
        version=str(json.loads(body)["gitVersion"]),
        nodes=_ready_nodes(tools, settings.kubeconfig),
        settings=settings,
        reused=reused,
    )


def _start(settings: ClusterSettings, tools: Toolchain) -> None:
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    pki = ensure_pki(settings)
    shutil.copyfile(pki.kubeconfig(ADMIN), settings.kubeconfig)
    settings.kubeconfig.chmod(0o600)
    kwok_config_path(settings).write_text(kwok_config())
    egress_config_path(settings).write_text(egress_config(settings))
    plan = commands(settings, tools, pki)
    spawn(settings, plan["etcd"])
    _wait_http(settings, "etcd", settings.etcd_port, "/health", _ssl_context(pki, ETCD_CLIENT.file))
    spawn(settings, plan["egress-proxy"])
    spawn(settings, plan["kube-apiserver"])
    _wait_http(
        settings, "kube-apiserver", settings.api_port, "/readyz", _ssl_context(pki, ADMIN.file)
    )
    for name in KUBERNETES[3:]:
        spawn(settings, plan[name])
    _install_objects(settings, tools)
    _start_dapr(settings, tools, plan)
    _check_alive(settings, ORDER)


def _start_dapr(settings: ClusterSettings, tools: Toolchain, plan: dict[str, Command]) -> None:
    """Sentry, then, with the root it generated, the webhook, the operator and the injector
    (the order and the objects are explained in stacks.local.dapr_control_plane)."""

    def kubectl(*args: str, stdin: str | None = None) -> str:
        return _kubectl(tools, settings.kubeconfig, *args, stdin=stdin)

    dapr_control_plane.bootstrap(settings, kubectl, dapr_control_plane.registry(tools))
    spawn(settings, plan["sentry"])
    _wait_http(settings, "sentry", settings.dapr_port("sentry-healthz"), "/healthz", None)
    anchors: list[bytes] = []

    def written() -> bool:
        found = dapr_control_plane.read_trust_anchors(settings, kubectl)
        anchors.extend([found] if found else [])
        return bool(anchors)

    started = (*KUBERNETES, "sentry")
    _until(settings, "Sentry's trust anchors in its ConfigMap", written, started)
    dapr_control_plane.register_injector(settings, kubectl, anchors[0])
    for name in dapr_control_plane.SENTRY_CLIENTS:
        spawn(settings, plan[name])
    for name in dapr_control_plane.SENTRY_CLIENTS:
        _wait_http(settings, name, settings.dapr_port(f"{name}-healthz"), "/healthz", None)


@contextlib.contextmanager
def _locked(settings: ClusterSettings) -> Iterator[None]:
    """One start or stop at a time per state folder, across processes."""
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    with (settings.state_dir / "lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def ensure_started(settings: ClusterSettings | None = None) -> LocalCluster:
    """The running local control plane, started (and its binaries built) when needed.

    Raises :class:`LocalClusterError` with one line naming the cause: a port taken, a failed
    build, a stale pid file, a component that exited.
    """
    settings = settings or ClusterSettings.from_env()
    with _locked(settings):
        return _ensure_started(settings)


def _ensure_started(settings: ClusterSettings) -> LocalCluster:
    running = _running(settings)
    if running and len(running) < len(ORDER):
        missing = ", ".join(name for name in ORDER if name not in running)
        raise LocalClusterError(
            f"the local control plane in {settings.state_dir} is partly running ({missing}"
            " not); run `todo-infra local stop` first"
        )
    if running:
        return _describe(settings, toolchain(), reused=True)
    # Before the toolchain, which may take many minutes to build the first time.
    _check_ports(settings)
    tools = toolchain()
    try:
        _start(settings, tools)
        return _describe(settings, tools, reused=False)
    except BaseException:
        _stop_all(settings)
        raise


def status(settings: ClusterSettings | None = None) -> LocalCluster | None:
    """The running cluster, or None when none of its processes runs."""
    settings = settings or ClusterSettings.from_env()
    running = _running(settings)
    if not running:
        return None
    if len(running) < len(ORDER):
        missing = ", ".join(name for name in ORDER if name not in running)
        raise LocalClusterError(f"the local control plane is partly running ({missing} not)")
    return _describe(settings, toolchain(), reused=True)


def stop(settings: ClusterSettings | None = None) -> list[str]:
    """Stop every process this cluster started (newest first) and clear stale pid files.
    Returns the names of the processes that were stopped."""
    settings = settings or ClusterSettings.from_env()
    with _locked(settings):
        return _stop_all(settings)


def _stop_all(settings: ClusterSettings) -> list[str]:
    return [name for name in reversed(ORDER) if stop_process(settings, name)]
