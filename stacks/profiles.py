"""The environment profiles, as data: what dev, staging and prod set before a stack's overrides.

Keys are the stack-file keys (camelCase), so a profile reads like a ``Pulumi.<stack>.yaml``
and a stack file overrides any part of it. The components never see a profile name.

Sizes (requests / limits, see ``infra.sizes``): nano 25m/32Mi, micro 50m/96Mi, small
100m/192Mi, medium 250m/512Mi, large 500m/1Gi, xlarge 1000m/2Gi.
"""

from __future__ import annotations

from typing import Any, Literal, get_args

Profile = Literal["dev", "staging", "prod"]
PROFILE_NAMES: tuple[str, ...] = get_args(Profile)

LOCAL_APP_IMAGE = "todo-evolution/todo-api:0.1.0"
"""The dev profile's app image: what ``docker build -f app/Dockerfile -t ...`` names locally."""

PROFILES: dict[str, dict[str, Any]] = {
    # One of everything, minimal sizes: total requests stay within 1.5 CPU / 3 GiB.
    "dev": {
        "namespace": "todo-app-dev",
        # A local name nobody publishes: built and loaded into a laptop cluster (kind, minikube,
        # k3d), and never pulled on the local control plane, whose KWOK nodes run no container.
        # The other profiles have no default: their stacks must name an image the user pushed.
        "appImage": LOCAL_APP_IMAGE,
        "app": {"logLevel": "debug"},
        "backend": {"replicas": 1, "size": "small"},
        "relay": {"replicas": 1, "size": "micro"},
        "frontend": {"replicas": 1, "size": "nano"},
        "postgres": {"size": "micro", "storage": {"sizeGi": 2}},
        "redis": {"size": "nano", "storage": {"sizeGi": 1}},
        "kafka": {"nodes": 1, "size": "medium", "storage": {"sizeGi": 5}},
        "topics": {
            "partitions": 1,
            "replicationFactor": 1,
            "minInsyncReplicas": 1,
            "retentionHours": 24,
        },
        "dapr": {"sidecarSize": "nano", "logLevel": "debug"},
        # Plain HTTP on a local name: a laptop cluster has no certificate issuer.
        "ingress": {"host": "todo.localhost", "tls": False},
        "autoscaling": {"enabled": False},
        "networkPolicies": {"enabled": False},
    },
    # Production's shape at smaller scale: two web pods, medium sizes, one Kafka node.
    "staging": {
        "namespace": "todo-app-staging",
        "app": {"logLevel": "info"},
        "backend": {"replicas": 1, "size": "medium"},
        "relay": {"replicas": 1, "size": "small"},
        "frontend": {"replicas": 2, "size": "micro"},
        "postgres": {"size": "medium", "storage": {"sizeGi": 10}},
        "redis": {"size": "small", "storage": {"sizeGi": 2}},
        "kafka": {"nodes": 1, "size": "medium", "storage": {"sizeGi": 10}},
        "topics": {
            "partitions": 3,
            "replicationFactor": 1,
            "minInsyncReplicas": 1,
            "retentionHours": 72,
        },
        "dapr": {"sidecarSize": "micro", "logLevel": "info"},
        "ingress": {
            "host": "todo.staging.example.com",
            "tls": True,
            "issuer": "letsencrypt-staging",
        },
        "autoscaling": {"enabled": False},
        "networkPolicies": {"enabled": True},
    },
    # Full HA: replicated web tier with budgets and spreading, three Kafka nodes on three
    # machines, replicated topics that survive the loss of a node without refusing writes.
    "prod": {
        "namespace": "todo-app",
        "app": {"logLevel": "warning"},
        "backend": {
            "replicas": 2,
            "size": "large",
            "spread": "preferred",
            "zones": "preferred",
            "minAvailable": 1,
        },
        "relay": {"replicas": 2, "size": "small", "spread": "preferred", "minAvailable": 1},
        "frontend": {
            "replicas": 3,
            "size": "small",
            "spread": "preferred",
            "zones": "preferred",
            "minAvailable": 2,
        },
        "postgres": {"size": "large", "exporterSize": "micro", "storage": {"sizeGi": 50}},
        # A dump a day at 02:30 UTC, a week of them kept.
        "backup": {"enabled": True, "storage": {"sizeGi": 50}},
        "redis": {"size": "medium", "exporterSize": "micro", "storage": {"sizeGi": 10}},
        "kafka": {
            "nodes": 3,
            "size": "large",
            "spread": "required",
            "zones": "preferred",
            "minAvailable": 2,
            "storage": {"sizeGi": 50},
        },
        "topics": {
            "partitions": 3,
            "replicationFactor": 3,
            "minInsyncReplicas": 2,
            "retentionHours": 168,
        },
        "dapr": {"sidecarSize": "small", "logLevel": "warn"},
        "ingress": {"host": "todo.example.com", "tls": True, "issuer": "letsencrypt-prod"},
        # The HPAs own the web tier's counts; their minimums equal the replicas above.
        "autoscaling": {
            "enabled": True,
            "frontend": {"minReplicas": 3, "maxReplicas": 15},
            "backend": {"minReplicas": 2, "maxReplicas": 10},
        },
        "networkPolicies": {"enabled": True},
    },
}
