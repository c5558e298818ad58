"""Stand-in answers for the cloud look-ups the cluster components make, for runs with no cloud.

The offline render and the unit tests run the program under Pulumi mocks; the components still
ask the cloud questions (which availability zones exist, the cluster's credentials) and read
what only the cloud computes (a cluster's endpoint, a role's ARN). These are fixed, clearly
fake answers with the shape the real API returns, so a cloud stack renders anywhere. A look-up
missing here fails loudly rather than answering with nothing.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping
from typing import Any

OFFLINE_KUBECONFIG = json.dumps(
    {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "offline", "cluster": {"server": "https://offline.invalid"}}],
        "contexts": [{"name": "offline", "context": {"cluster": "offline", "user": "offline"}}],
        "current-context": "offline",
        "users": [{"name": "offline", "user": {}}],
    }
)


def _zones(args: Mapping[str, Any]) -> dict[str, Any]:
    region = str(args.get("region") or "offline-1")
    names = [f"{region}{suffix}" for suffix in "abc"]
    return {"id": region, "names": names, "zoneIds": [f"zone-{name}" for name in names]}


def _aks_credentials(args: Mapping[str, Any]) -> dict[str, Any]:
    encoded = base64.b64encode(OFFLINE_KUBECONFIG.encode()).decode()
    return {"kubeconfigs": [{"name": "clusterUser", "value": encoded}]}


OFFLINE_SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"


def _azure_client(_args: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "clientId": "00000000-0000-0000-0000-000000000001",
        "objectId": "00000000-0000-0000-0000-000000000002",
        "subscriptionId": OFFLINE_SUBSCRIPTION,
        "tenantId": "00000000-0000-0000-0000-000000000003",
    }


OFFLINE_INVOKES: dict[str, Callable[[Mapping[str, Any]], dict[str, Any]]] = {
    "aws:index/getAvailabilityZones:getAvailabilityZones": _zones,
    "azure-native:authorization:getClientConfig": _azure_client,
    "azure-native:containerservice:listManagedClusterUserCredentials": _aks_credentials,
}


_FAKE_CA = base64.b64encode(b"offline certificate authority").decode()


def _arn(kind: str) -> Callable[[str, Mapping[str, Any]], dict[str, Any]]:
    return lambda name, _inputs: {"arn": f"arn:aws:{kind}::000000000000:{name}", "name": name}


def _eks_cluster(name: str, _inputs: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "arn": f"arn:aws:eks:offline-1:000000000000:cluster/{name}",
        "name": name,
        "endpoint": f"https://{name}.eks.offline.invalid",
        "certificateAuthority": {"data": _FAKE_CA},
        "identities": [{"oidcs": [{"issuer": f"https://oidc.eks.offline.invalid/id/{name}"}]}],
    }


def _gke_cluster(name: str, _inputs: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "endpoint": "192.0.2.10",
        "masterAuth": {"clusterCaCertificate": _FAKE_CA},
    }


def _named(name: str, _inputs: Mapping[str, Any]) -> dict[str, Any]:
    return {"name": name}


def _ecr_repository(name: str, inputs: Mapping[str, Any]) -> dict[str, Any]:
    repository = inputs.get("name", name)
    return {
        "arn": f"arn:aws:ecr:offline-1:000000000000:repository/{repository}",
        "repositoryUrl": f"000000000000.dkr.ecr.offline-1.amazonaws.com/{repository}",
    }


OFFLINE_OUTPUTS: dict[str, Callable[[str, Mapping[str, Any]], dict[str, Any]]] = {
    "aws:ecr/repository:Repository": _ecr_repository,
    "aws:eks/cluster:Cluster": _eks_cluster,
    "aws:iam/role:Role": _arn("iam"),
    "aws:iam/openIdConnectProvider:OpenIdConnectProvider": _arn("iam"),
    "gcp:container/cluster:Cluster": _gke_cluster,
    "gcp:compute/router:Router": _named,
    "gcp:serviceaccount/account:Account": lambda name, _inputs: {
        "email": f"{name}@offline.iam.gserviceaccount.com",
        "name": f"projects/offline/serviceAccounts/{name}@offline.iam.gserviceaccount.com",
    },
    "aws:s3/bucket:Bucket": lambda name, inputs: {
        "arn": f"arn:aws:s3:::{inputs.get('bucket', name)}",
        "id": inputs.get("bucket", name),
    },
    "azure-native:managedidentity:UserAssignedIdentity": lambda name, _inputs: {
        "name": name,
        "clientId": f"{name}-client",
        "principalId": f"{name}-principal",
    },
    "azure-native:storage:StorageAccount": lambda name, inputs: {
        "name": inputs.get("accountName", name)
    },
    "gcp:artifactregistry/repository:Repository": lambda name, inputs: {
        "name": f"projects/offline/locations/{inputs.get('location')}/repositories/"
        f"{inputs.get('repositoryId', name)}"
    },
    "azure-native:resources:ResourceGroup": _named,
    "azure-native:containerservice:ManagedCluster": lambda name, _inputs: {
        "name": name,
        "oidcIssuerProfile": {"enabled": True, "issuerURL": f"https://oidc.aks.invalid/{name}/"},
        "identityProfile": {
            "kubeletidentity": {
                "clientId": f"{name}-kubelet-client",
                "objectId": f"{name}-kubelet-object",
                "resourceId": f"/offline/userAssignedIdentities/{name}-agentpool",
            }
        },
    },
    "azure-native:containerregistry:Registry": lambda name, inputs: {
        "loginServer": f"{inputs.get('registryName', name)}.azurecr.io"
    },
}


def offline_outputs(type_: str, name: str, inputs: Mapping[str, Any]) -> dict[str, Any]:
    """A resource's state as the cloud would report it: its inputs plus what the cloud adds."""
    computed = OFFLINE_OUTPUTS.get(type_)
    return {**inputs, **(computed(name, inputs) if computed else {})}


def is_cloud_invoke(token: str) -> bool:
    """Whether ``token`` is a look-up of one of the clouds this package provisions on."""
    return token.split(":", 1)[0] in {"aws", "gcp", "azure-native"}


def offline_invoke(token: str, args: Mapping[str, Any]) -> dict[str, Any]:
    """The canned answer to a cloud look-up; an unknown one raises, naming its token."""
    try:
        answer = OFFLINE_INVOKES[token]
    except KeyError:
        raise LookupError(
            f"no offline answer for the cloud look-up {token!r}: add one to {__name__}"
        ) from None
    return answer(args)
