"""The control plane's binaries and the Dapr CRDs, from ``scripts/k8s-toolchain``, and Dapr's
control plane, from ``scripts/dapr-control-plane-toolchain``.

The scripts build them from their Go modules on first use (tens of minutes on 2 cores) and print
the cached folder in well under a second after that, so they are simply run every time.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from stacks.local.errors import LocalClusterError

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "k8s-toolchain"
DAPR_SCRIPT = REPO / "scripts" / "dapr-control-plane-toolchain"
DAPR_BINARIES = ("sentry", "operator", "injector")
BINARIES = (
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubectl",
    "kwok",
)


@dataclass(frozen=True)
class Toolchain:
    bin_dir: Path
    dapr_bin_dir: Path

    def binary(self, name: str) -> str:
        return str(self.bin_dir / name)

    def dapr_binary(self, name: str) -> str:
        return str(self.dapr_bin_dir / name)

    @property
    def dapr_crds(self) -> Path:
        """The Dapr chart's CRD folder inside the Go module cache, linked beside bin/."""
        return self.bin_dir.parent / "dapr-crds"


def _built(script: Path, binaries: tuple[str, ...]) -> Path:
    """Run a toolchain script (its progress goes to this process's stderr); its bin folder."""
    if not script.is_file():
        raise LocalClusterError(f"{script} not found: run from a checkout of this repository")
    result = subprocess.run(  # noqa: S603 - the repository's own script
        [str(script)], stdout=subprocess.PIPE, text=True, check=False
    )
    lines = result.stdout.strip().splitlines()
    if result.returncode != 0 or not lines:
        raise LocalClusterError(
            f"building the control plane failed: {script.name} exited {result.returncode}"
            " (its error is printed above)"
        )
    folder = Path(lines[-1])
    missing = [name for name in binaries if not (folder / name).is_file()]
    if missing:
        raise LocalClusterError(f"{folder} lacks {', '.join(missing)}; rebuild the toolchain")
    return folder


def toolchain() -> Toolchain:
    """Build or find the binaries."""
    found = Toolchain(_built(SCRIPT, BINARIES), _built(DAPR_SCRIPT, DAPR_BINARIES))
    if not found.dapr_crds.is_dir():
        raise LocalClusterError(f"{found.dapr_crds} is missing; rebuild the toolchain")
    return found
