"""Entry point of ``pulumi up``/``preview`` (``main: stacks/`` in Pulumi.yaml)."""

from stacks.program import run

run()
