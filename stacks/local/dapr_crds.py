"""Dapr's CRDs, as its Helm chart ships them (``charts/dapr/crds`` of the Dapr Go module).

One change, for the local target only: a CRD whose versions are converted by Dapr's webhook
(Subscription: v1alpha1 <-> v2alpha1) gets ``conversion: {strategy: None}``. The webhook is a
Service of Dapr's control plane, which a chart install patches in later and which never runs
here; left as shipped, every read of the non-stored version would fail on a Service that does
not exist. The schemas are Dapr's, unchanged.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from stacks.local.errors import LocalClusterError


def dapr_crds(folder: Path) -> list[dict[str, Any]]:
    """The CRDs in ``folder``, conversion webhooks replaced as above."""
    crds: list[dict[str, Any]] = []
    for path in sorted(folder.glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            if isinstance(document, dict) and document.get("kind") == "CustomResourceDefinition":
                if document["spec"].get("conversion", {}).get("strategy") == "Webhook":
                    document["spec"]["conversion"] = {"strategy": "None"}
                crds.append(document)
    if not crds:
        raise LocalClusterError(f"no CustomResourceDefinition found in {folder}")
    return crds
