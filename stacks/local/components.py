"""The command line of each control-plane process: the one place its flags are chosen (Dapr's,
in ``stacks.local.dapr_control_plane``).

Everything listens on 127.0.0.1 only, but for the Dapr listeners that version binds on every
interface (see ``stacks.local.dapr_control_plane``). kube-controller-manager and kube-scheduler
serve no port (--secure-port=0): nothing here reads their health endpoints, and fewer ports mean
fewer collisions with other programs.
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

from stacks.local import dapr_control_plane
from stacks.local.nodes import KWOK_SELECTOR
from stacks.local.pki import (
    CONTROLLER_MANAGER,
    ETCD_CLIENT,
    KWOK,
    SCHEDULER,
    SERVICE_CIDR,
    Pki,
)
from stacks.local.processes import Command
from stacks.local.settings import ClusterSettings
from stacks.local.toolchain import Toolchain

# Start order; stop runs it backwards. Dapr's control plane starts once the cluster's objects are
# in (stacks.local.cluster).
KUBERNETES = (
    "etcd",
    "egress-proxy",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kwok",
)
ORDER = (*KUBERNETES, *dapr_control_plane.PROCESSES)
POD_CIDR = "10.244.0.0/16"
ISSUER = "https://kubernetes.default.svc.cluster.local"


def kwok_config_path(settings: ClusterSettings) -> Path:
    return settings.state_dir / "kwok.yaml"


def egress_config_path(settings: ClusterSettings) -> Path:
    return settings.state_dir / "egress-selector.yaml"


def egress_config(settings: ClusterSettings) -> str:
    """The API server's EgressSelectorConfiguration: calls to webhooks named by URL (its
    ``controlplane`` egress) go through the egress proxy; everything else dials directly."""
    return yaml.safe_dump(
        {
            "apiVersion": "apiserver.k8s.io/v1beta1",
            "kind": "EgressSelectorConfiguration",
            "egressSelections": [
                {
                    "name": "controlplane",
                    "connection": {
                        "proxyProtocol": "HTTPConnect",
                        "transport": {"uds": {"udsName": str(settings.egress_socket)}},
                    },
                }
            ],
        },
        sort_keys=False,
    )


def etcd(settings: ClusterSettings, tools: Toolchain, pki: Pki) -> Command:
    client = f"https://127.0.0.1:{settings.etcd_port}"
    peer = f"https://127.0.0.1:{settings.etcd_peer_port}"
    return Command(
        "etcd",
        (
            tools.binary("etcd"),
            "--name=todo-local",
            f"--data-dir={settings.etcd_data_dir}",
            f"--listen-client-urls={client}",
            f"--advertise-client-urls={client}",
            f"--listen-peer-urls={peer}",
            f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=todo-local={peer}",
            f"--cert-file={pki.cert('etcd')}",
            f"--key-file={pki.key('etcd')}",
            f"--trusted-ca-file={pki.ca_cert}",
            "--client-cert-auth",
            f"--peer-cert-file={pki.cert('etcd')}",
            f"--peer-key-file={pki.key('etcd')}",
            f"--peer-trusted-ca-file={pki.ca_cert}",
            "--peer-client-cert-auth",
            # A disposable development store on a shared, busy disk: an fsync per write would
            # make every API call wait on other people's I/O. A crash may lose the last writes.
            "--unsafe-no-fsync",
            "--log-level=warn",
        ),
    )


def egress_proxy(settings: ClusterSettings, tools: Toolchain, pki: Pki) -> Command:
    del tools, pki  # Python, from this checkout
    return Command(
        "egress-proxy",
        (
            sys.executable,
            "-m",
            "stacks.local.egress_proxy",
            f"--socket={settings.egress_socket}",
            f"--route={dapr_control_plane.injector_route(settings)}",
        ),
    )


def kube_apiserver(settings: ClusterSettings, tools: Toolchain, pki: Pki) -> Command:
    return Command(
        "kube-apiserver",
        (
            tools.binary("kube-apiserver"),
            f"--etcd-servers=https://127.0.0.1:{settings.etcd_port}",
            f"--etcd-cafile={pki.ca_cert}",
            f"--etcd-certfile={pki.cert(ETCD_CLIENT.file)}",
            f"--etcd-keyfile={pki.key(ETCD_CLIENT.file)}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={settings.api_port}",
            f"--cert-dir={pki.dir}",
            f"--tls-cert-file={pki.cert('kube-apiserver')}",
            f"--tls-private-key-file={pki.key('kube-apiserver')}",
            f"--client-ca-file={pki.ca_cert}",
            f"--service-account-issuer={ISSUER}",
            f"--service-account-key-file={pki.service_account_pub}",
            f"--service-account-signing-key-file={pki.service_account_key}",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--authorization-mode=Node,RBAC",
            # On top of the default plugins (PodSecurity, LimitRanger, ServiceAccount,
            # DefaultStorageClass, ResourceQuota, the webhooks, ...), as kubeadm does.
            "--enable-admission-plugins=NodeRestriction",
            # As kubeadm and the managed clouds set it: Pod Security admission, not this global
            # switch, is what keeps privileged pods out of the stacks' namespaces.
            "--allow-privileged=true",
            "--profiling=false",
            f"--egress-selector-config-file={egress_config_path(settings)}",
        ),
    )


def kube_controller_manager(settings: ClusterSettings, tools: Toolchain, pki: Pki) -> Command:
    return Command(
        "kube-controller-manager",
        (
            tools.binary("kube-controller-manager"),
            f"--kubeconfig={pki.kubeconfig(CONTROLLER_MANAGER)}",
            "--bind-address=127.0.0.1",
            "--secure-port=0",
            "--leader-elect=false",
            "--cluster-name=todo-local",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            # Service-account tokens and the root CA ConfigMap in every namespace.
            f"--service-account-private-key-file={pki.service_account_key}",
            f"--root-ca-file={pki.ca_cert}",
            "--use-service-account-credentials=true",
            f"--cluster-signing-cert-file={pki.ca_cert}",
            f"--cluster-signing-key-file={pki.ca_key}",
            # Serves the default StorageClass (see stacks.local.nodes.storage_class).
            "--enable-hostpath-provisioner=true",
        ),
    )


def kube_scheduler(settings: ClusterSettings, tools: Toolchain, pki: Pki) -> Command:
    del settings  # every setting it needs is in its kubeconfig
    return Command(
        "kube-scheduler",
        (
            tools.binary("kube-scheduler"),
            f"--kubeconfig={pki.kubeconfig(SCHEDULER)}",
            "--bind-address=127.0.0.1",
            "--secure-port=0",
            "--leader-elect=false",
        ),
    )


def kwok(settings: ClusterSettings, tools: Toolchain, pki: Pki) -> Command:
    return Command(
        "kwok",
        (
            tools.binary("kwok"),
            f"--kubeconfig={pki.kubeconfig(KWOK)}",
            f"--config={kwok_config_path(settings)}",
            "--manage-all-nodes=false",
            f"--manage-nodes-with-annotation-selector={KWOK_SELECTOR}",
            f"--cidr={POD_CIDR}",
            "--node-lease-duration-seconds=40",
        ),
    )


def commands(settings: ClusterSettings, tools: Toolchain, pki: Pki) -> dict[str, Command]:
    builders = (
        etcd,
        egress_proxy,
        kube_apiserver,
        kube_controller_manager,
        kube_scheduler,
        kwok,
        dapr_control_plane.sentry,
        dapr_control_plane.operator,
        dapr_control_plane.injector,
    )
    built = {command.name: command for command in (b(settings, tools, pki) for b in builders)}
    assert tuple(built) == ORDER
    return built
