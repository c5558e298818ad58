"""Run the Pulumi program for a stack under mocks, once per session, for the stack tests.

``render(stack, **overrides)`` runs the program exactly as ``pulumi up`` would for
``Pulumi.<stack>.yaml`` (plus overrides, camelCase keys) and returns what it registered; the
``stacks`` fixture holds the three shipped stacks, rendered once; ``promtool`` is the path of
the promtool the alert and dashboard checks run.
"""

from __future__ import annotations

import pytest

from stacks.render import Rendered
from tests.infra.manifests import STACKS, render
from tests.infra.promtool import find_promtool


@pytest.fixture(scope="session")
def stacks() -> dict[str, Rendered]:
    return {stack: render(stack) for stack in STACKS}


@pytest.fixture(scope="session")
def promtool() -> str:
    return find_promtool()
