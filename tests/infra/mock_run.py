"""Build one component under Pulumi mocks (the shared ``stacks.render.record``) and find what it
registered."""

from __future__ import annotations

from collections.abc import Callable

from stacks.render import Registration, record

Registered = Registration


def run(build: Callable[[], object]) -> list[Registration]:
    """Call ``build`` under fresh mocks; every resource it registered, in order."""
    return record(build)[1]


def one(resources: list[Registration], type_: str, name_suffix: str = "") -> Registration:
    """The single resource of ``type_`` (whose name ends with ``name_suffix``)."""
    matches = [r for r in resources if r.type == type_ and r.name.endswith(name_suffix)]
    assert len(matches) == 1, (
        f"expected one {type_} *{name_suffix}, got {[m.name for m in matches]}"
    )
    return matches[0]


def of_type(resources: list[Registration], type_: str) -> list[Registration]:
    return [r for r in resources if r.type == type_]
