"""promtool, for the checks of the alerts and the dashboards' queries.

It comes from the Debian package ``prometheus`` (``scripts/bootstrap`` installs it); the tests
fail, never skip, without it.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml


def find_promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        pytest.fail(
            "promtool is missing: install the Debian package `prometheus` "
            "(`apt-get install --no-install-recommends prometheus`; scripts/bootstrap does)"
        )
    return found


def write_yaml(path: Path, document: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


def run_promtool(promtool: str, *args: str, cwd: Path) -> tuple[int, str]:
    """promtool's exit code and its output (stdout and stderr)."""
    done = subprocess.run(
        [promtool, *args], cwd=cwd, capture_output=True, text=True, timeout=300, check=False
    )
    return done.returncode, done.stdout + done.stderr
