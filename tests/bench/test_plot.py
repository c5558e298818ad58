"""``bench.plot``: the legs and bars it finds in a result, and the PNG it draws from them."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import pytest

from bench.plot import draw, legs, main, throughputs


def _leg(base_ms: float) -> dict[str, list[float]]:
    return {
        "commit_to_consumer": [base_ms + i for i in range(100)],
        "api_write": [base_ms / 10 + i / 10 for i in range(100)],
    }


def _result() -> dict[str, Any]:
    # A leg bench.events does not have yet (debezium) must be drawn like the others.
    return {
        "raw_producer_eps": 30_000,
        "relay_eps": {"1": 9_000, "2": 11_000},
        "debezium_eps": 7_000,
        "latency_samples_ms": _leg(100.0),
        "dapr_latency_samples_ms": _leg(200.0),
        "debezium_latency_samples_ms": {"commit_to_consumer": [], "api_write": [1.0]},
        "machine_at_start": {"cores": 2, "cpu": "test cpu", "loadavg_1m": 1.5},
        "machine_at_end": {"loadavg_1m": 2.5},
        "commit": "abc1234",
        "finished_at": "2026-11-29T18:00:00+00:00",
    }


def test_every_leg_with_samples_is_found_in_run_order_the_unprefixed_one_as_native() -> None:
    found = legs(_result())
    assert list(found) == ["native", "dapr", "debezium"]
    assert found["dapr"]["commit_to_consumer"][0] == 200.0


def test_a_result_without_samples_is_refused_naming_the_key() -> None:
    with pytest.raises(ValueError, match="no 'latency_samples_ms'"):
        legs({"raw_producer_eps": 1})


def test_every_events_per_second_figure_is_a_bar_one_per_relay_count() -> None:
    assert throughputs(_result()) == {
        "raw_producer": 30_000.0,
        "relay (1)": 9_000.0,
        "relay (2)": 11_000.0,
        "debezium": 7_000.0,
    }


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_draw_writes_a_png_of_three_panels(tmp_path: Path) -> None:
    figure = tmp_path / "sub" / "events.png"
    draw(_result(), figure)
    assert _png_size(figure) == (1600, 550)


def test_the_command_redraws_a_json_and_refuses_one_without_samples(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = tmp_path / "events.json"
    result.write_text(json.dumps(_result()))
    assert main([str(result), str(tmp_path / "events.png")]) == 0
    assert _png_size(tmp_path / "events.png") == (1600, 550)
    result.write_text(json.dumps({"raw_producer_eps": 1}))
    with pytest.raises(SystemExit) as exit_:
        main([str(result), str(tmp_path / "other.png")])
    assert exit_.value.code == 2
    assert "no 'latency_samples_ms'" in capsys.readouterr().err
    assert not (tmp_path / "other.png").exists()
