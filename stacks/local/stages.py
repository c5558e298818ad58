"""KWOK's configuration: the stages that play the lifecycle a kubelet would report.

Written for this project from KWOK's Stage documentation (kwok.x-k8s.io/v1alpha1 ``Stage``:
a selector over the object, an optional delay, and a Go template rendered into its status). The
stages are:

* ``node-ready``: a node KWOK manages and that is not Ready becomes Ready, with the other
  conditions healthy and its capacity kept as created;
* ``node-heartbeat``: a Ready node re-reports its conditions every few minutes. The node lifecycle
  controller watches KWOK's Lease renewals (every 40 s), so this only keeps the status fresh;
* ``pod-running``: a scheduled pod becomes Running and Ready, its init containers completed
  (sidecars, restartPolicy Always, running), with a host IP and a pod IP;
* ``job-pod-succeeded``: a running pod owned by a Job ends, every container terminated with exit
  code 0, so Jobs complete;
* ``pod-delete``: a pod being deleted is removed at once, as a kubelet does once its containers
  stop.

Nothing here runs a container: readiness is reported, never probed.
"""

from __future__ import annotations

from typing import Any

import yaml

STAGE_API = "kwok.x-k8s.io/v1alpha1"
NODE_HEARTBEAT_MS = 300_000

# type, status, reason: what a healthy kubelet reports.
_NODE_CONDITION_STATES = (
    ("Ready", "True", "KubeletReady"),
    ("MemoryPressure", "False", "KubeletHasSufficientMemory"),
    ("DiskPressure", "False", "KubeletHasNoDiskPressure"),
    ("PIDPressure", "False", "KubeletHasSufficientPID"),
)


def _node_conditions() -> str:
    """The conditions, heartbeat now; they have held since the node was created."""
    lines = [
        "{{ $now := Now }}",
        "{{ $since := or .metadata.creationTimestamp $now }}",
        "conditions:",
    ]
    for type_, status, reason in _NODE_CONDITION_STATES:
        lines += [
            f"- type: {type_}",
            f'  status: "{status}"',
            f"  reason: {reason}",
            "  message: simulated by kwok",
            "  lastHeartbeatTime: {{ $now | Quote }}",
            "  lastTransitionTime: {{ $since | Quote }}",
        ]
    return "\n".join(lines) + "\n"


_NODE_INFO = """\
nodeInfo:
  architecture: amd64
  operatingSystem: linux
  kubeletVersion: {{ printf "kwok-%s" Version | Quote }}
  containerRuntimeVersion: {{ printf "kwok-%s" Version | Quote }}
  kernelVersion: simulated
  osImage: simulated
  bootID: ""
  machineID: ""
  systemUUID: ""
phase: Running
"""

# A container that ran to completion, exit code 0 (init containers, and a Job's containers).
_EXITED_OK = """\
  state:
    terminated:
      exitCode: 0
      reason: Completed
      startedAt: {{ $now | Quote }}
      finishedAt: {{ $now | Quote }}
"""


def _container_status(*, ready: bool) -> str:
    """The start of one container's status entry, inside a range over the pod's containers."""
    return (
        "- name: {{ .name | Quote }}\n"
        "  image: {{ .image | Quote }}\n"
        '  imageID: ""\n'
        f"  ready: {'true' if ready else 'false'}\n"
        "  restartCount: 0\n"
    )


_POD_RUNNING = (
    """\
{{ $now := Now }}
phase: Running
startTime: {{ $now | Quote }}
conditions:
{{ range $type := list "PodReadyToStartContainers" "Initialized" "ContainersReady" "Ready" }}
- type: {{ $type }}
  status: "True"
  lastTransitionTime: {{ $now | Quote }}
{{ end }}
{{ range .spec.readinessGates }}
- type: {{ .conditionType | Quote }}
  status: "True"
  lastTransitionTime: {{ $now | Quote }}
{{ end }}
containerStatuses:
{{ range .spec.containers }}
"""
    + _container_status(ready=True)
    + """  started: true
  state:
    running:
      startedAt: {{ $now | Quote }}
{{ end }}
initContainerStatuses:
{{ range .spec.initContainers }}
"""
    + _container_status(ready=True)
    + """{{ if eq .restartPolicy "Always" }}
  started: true
  state:
    running:
      startedAt: {{ $now | Quote }}
{{ else }}
  started: false
"""
    + _EXITED_OK
    + """\
{{ end }}
{{ end }}
{{ with NodeIPsWith .spec.nodeName }}
hostIP: {{ index . 0 | Quote }}
hostIPs:
{{ range . }}
- ip: {{ . | Quote }}
{{ end }}
{{ end }}
{{ $host := or .spec.hostNetwork false }}
{{ $uid := or .metadata.uid "" }}
{{ $name := or .metadata.name "" }}
{{ $namespace := or .metadata.namespace "" }}
{{ with PodIPsWith .spec.nodeName $host $uid $name $namespace }}
podIP: {{ index . 0 | Quote }}
podIPs:
{{ range . }}
- ip: {{ . | Quote }}
{{ end }}
{{ end }}
"""
)

_JOB_POD_SUCCEEDED = (
    """\
{{ $now := Now }}
phase: Succeeded
conditions:
{{ range $type := list "Ready" "ContainersReady" }}
- type: {{ $type }}
  status: "False"
  reason: PodCompleted
  lastTransitionTime: {{ $now | Quote }}
{{ end }}
containerStatuses:
{{ range .spec.containers }}
"""
    + _container_status(ready=False)
    + """  started: false
"""
    + _EXITED_OK
    + """\
{{ end }}
"""
)


def _expression(key: str, operator: str, *values: str) -> dict[str, Any]:
    expression: dict[str, Any] = {"key": key, "operator": operator}
    if values:
        expression["values"] = list(values)
    return expression


def _stage(
    name: str,
    kind: str,
    expressions: list[dict[str, Any]],
    next_: dict[str, Any],
    delay_ms: int = 0,
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "resourceRef": {"apiGroup": "v1", "kind": kind},
        "selector": {"matchExpressions": expressions},
        "next": next_,
    }
    if delay_ms:
        spec["delay"] = {"durationMilliseconds": delay_ms, "jitterDurationMilliseconds": delay_ms}
    return {"apiVersion": STAGE_API, "kind": "Stage", "metadata": {"name": name}, "spec": spec}


READY = '.status.conditions.[] | select( .type == "Ready" ) | .status'
NOT_DELETED = _expression(".metadata.deletionTimestamp", "DoesNotExist")


def stages() -> list[dict[str, Any]]:
    """The Stage objects, in the order KWOK is given them."""
    return [
        _stage(
            "node-ready",
            "Node",
            [_expression(READY, "NotIn", "True")],
            {"statusTemplate": _node_conditions() + _NODE_INFO},
        ),
        _stage(
            "node-heartbeat",
            "Node",
            [_expression(".status.phase", "In", "Running"), _expression(READY, "In", "True")],
            {"statusTemplate": _node_conditions()},
            delay_ms=NODE_HEARTBEAT_MS,
        ),
        _stage(
            "pod-running",
            "Pod",
            [
                NOT_DELETED,
                _expression(".status.phase", "In", "Pending"),
                _expression(READY, "NotIn", "True"),
            ],
            {"statusTemplate": _POD_RUNNING},
        ),
        _stage(
            "job-pod-succeeded",
            "Pod",
            [
                NOT_DELETED,
                _expression(".status.phase", "In", "Running"),
                _expression(".metadata.ownerReferences.[].kind", "In", "Job"),
            ],
            {"statusTemplate": _JOB_POD_SUCCEEDED},
        ),
        _stage(
            "pod-delete",
            "Pod",
            [_expression(".metadata.deletionTimestamp", "Exists")],
            {"delete": True},
        ),
    ]


def kwok_config() -> str:
    """KWOK's ``--config`` file: the stages, as a multi-document YAML."""
    return yaml.safe_dump_all(stages(), sort_keys=False)
