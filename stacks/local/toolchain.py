"""The control plane's binaries and the Dapr CRDs, from ``scripts/k8s-toolchain``.

The script builds them from their Go modules on first use (tens of minutes on 2 cores) and prints
the cached folder in well under a second after that, so it is simply run every time.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from stacks.local.errors import LocalClusterError

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "k8s-toolchain"
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

    def binary(self, name: str) -> str:
        return str(self.bin_dir / name)

    @property
    def dapr_crds(self) -> Path:
        """The Dapr chart's CRD folder inside the Go module cache, linked beside bin/."""
        return self.bin_dir.parent / "dapr-crds"


def toolchain() -> Toolchain:
    """Build or find the binaries; the script's progress goes to this process's stderr."""
    if not SCRIPT.is_file():
        raise LocalClusterError(f"{SCRIPT} not found: run from a checkout of this repository")
    result = subprocess.run(  # noqa: S603 - the repository's own script
        [str(SCRIPT)], stdout=subprocess.PIPE, text=True, check=False
    )
    lines = result.stdout.strip().splitlines()
    if result.returncode != 0 or not lines:
        raise LocalClusterError(
            f"building the control plane failed: {SCRIPT.name} exited {result.returncode}"
            " (its error is printed above)"
        )
    found = Toolchain(Path(lines[-1]))
    missing = [name for name in BINARIES if not (found.bin_dir / name).is_file()]
    if missing:
        raise LocalClusterError(
            f"{found.bin_dir} lacks {', '.join(missing)}; rebuild the toolchain"
        )
    if not found.dapr_crds.is_dir():
        raise LocalClusterError(f"{found.dapr_crds} is missing; rebuild the toolchain")
    return found
