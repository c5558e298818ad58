"""KRaft storage formatting by `scripts/services` takes any cluster id Kafka can generate.

A base64url id starts with "-" once in 64 starts; the CI saw one taken for an option by the
storage tool's parser, and `scripts/services start kafka` failed. The tool runs for real here,
from the jars `scripts/services` fetched (the `kafka_bootstrap` fixture makes sure they are).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "dev_services.py"


def _dev_services() -> ModuleType:
    spec = importlib.util.spec_from_file_location("dev_services", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their module by name
    spec.loader.exec_module(module)
    return module


def test_a_cluster_id_starting_with_a_dash_formats(kafka_bootstrap: str, tmp_path: Path) -> None:
    services = _dev_services()
    places = services.Places.from_environment()
    kafka = services.Kafka(
        services.Places(state=tmp_path, cache=places.cache, env_file=tmp_path / "env"), 1, 2
    )
    kafka.home.mkdir(parents=True)
    kafka._write_config()
    cluster_id = "-jbJEgrYRF6ZsJ2jHp7uCg"  # the one the CI drew

    kafka.format_storage(cluster_id)

    meta = (kafka.data / "meta.properties").read_text()
    assert f"cluster.id={cluster_id}" in meta, meta
