"""How the stack reaches a cluster it made: a kubeconfig and the Kubernetes provider built on it.

The kubeconfig holds no long-lived token: it runs the cloud's CLI auth plugin (``aws eks
get-token``, ``gke-gcloud-auth-plugin``) on each use, so it is safe to keep in state and
still marked secret, as it names the endpoint and CA of a private control plane.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import pulumi
import pulumi_kubernetes as k8s


def exec_kubeconfig(
    *, cluster: str, server: str, ca_data: str, command: str, args: Sequence[str]
) -> str:
    """A single-context kubeconfig whose user authenticates through an exec plugin."""
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": cluster,
                    "cluster": {"server": server, "certificate-authority-data": ca_data},
                }
            ],
            "contexts": [{"name": cluster, "context": {"cluster": cluster, "user": cluster}}],
            "current-context": cluster,
            "users": [
                {
                    "name": cluster,
                    "user": {
                        "exec": {
                            "apiVersion": "client.authentication.k8s.io/v1beta1",
                            "command": command,
                            "args": list(args),
                            "interactiveMode": "Never",
                        }
                    },
                }
            ],
        },
        indent=2,
    )


def cluster_provider(
    name: str,
    *,
    kubeconfig: pulumi.Output[str],
    identifier: pulumi.Input[str],
    parent: pulumi.Resource,
    depends_on: list[pulumi.Resource] | None = None,
) -> k8s.Provider:
    """The Kubernetes provider every object of the stack is created with.

    ``cluster_identifier`` is the cluster's immutable cloud id: without it any kubeconfig change
    (a rotated CA, a new endpoint, another auth plugin) replaces the provider and with it every
    Kubernetes object of the stack (pulumi-kubernetes issue 4019). ``depends_on`` names the
    node pools (and the nodes' right to pull from the stack's registry): every object made with
    this provider then waits for nodes to run on, able to pull the app image.
    """
    return k8s.Provider(
        name,
        kubeconfig=kubeconfig,
        cluster_identifier=identifier,
        enable_server_side_apply=True,
        opts=pulumi.ResourceOptions(parent=parent, depends_on=depends_on),
    )
