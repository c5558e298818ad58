"""docs/configuration.md cannot drift from StackConfig: its table is generated and compared."""

from __future__ import annotations

import pytest

from stacks.config import StackConfig
from stacks.reference import BEGIN, END, reference, replace_generated
from tests.infra.manifests import REPO

DOC = REPO / "docs" / "configuration.md"


def test_the_documented_table_is_the_generated_one() -> None:
    document = DOC.read_text(encoding="utf-8")
    assert replace_generated(document) == document, (
        "docs/configuration.md is out of date: run "
        "`todo-infra config-reference --write docs/configuration.md`"
    )


def test_every_setting_has_a_row() -> None:
    table = reference()
    for name, field in StackConfig.model_fields.items():
        key = field.alias or name
        assert f"| `{key}" in table, key
    assert "| `kafka.storage.sizeGi` | int | `5` | `10` | `50` |" in table


def test_every_setting_is_described() -> None:
    rows = [line for line in reference().splitlines() if line.startswith("| `")]
    for row in rows:
        description = row.rstrip(" |").rsplit(" | ", 1)[-1]
        assert description.strip(), row


def test_a_document_without_markers_is_refused() -> None:
    with pytest.raises(ValueError, match="markers"):
        replace_generated("# no markers here\n")
    assert reference().startswith(BEGIN)
    assert reference().rstrip().endswith(END)
