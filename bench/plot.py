"""`python -m bench.plot RESULT.json FIGURE.png`: the event benchmark's figures as a picture.

One panel per latency (commit to consumer, API write) with each leg's distribution as a
cumulative curve, and one panel of throughput bars. It draws whatever legs the result holds, found
by their ``<leg>_latency_samples_ms`` keys (the unprefixed one is the native consumer's), so a
leg added to `bench.events` appears here without a change. `bench.events --plot` calls `draw`
with the run's result; this command redraws a figure from a JSON written by `--json`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.stats import percentile

if TYPE_CHECKING:
    from matplotlib.axes import Axes

SAMPLES = "latency_samples_ms"
NATIVE_LEG = "native"
# The latencies each leg keeps, in panel order, with their titles.
LATENCIES = {
    "commit_to_consumer": "commit to consumer's handler",
    "api_write": "API write (from the write's due time)",
}
MARKED_PERCENTILES = (50, 95, 99)


def legs(result: dict[str, Any]) -> dict[str, dict[str, list[float]]]:
    """Each leg's latency samples in ms, by leg name, in the order the run measured them."""
    found: dict[str, dict[str, list[float]]] = {}
    for key, value in result.items():
        if key == SAMPLES:
            found[NATIVE_LEG] = value
        elif key.endswith(f"_{SAMPLES}"):
            found[key.removesuffix(f"_{SAMPLES}")] = value
    if not found:
        raise ValueError(f"the result holds no {SAMPLES!r}: was it written by bench.events?")
    return found


def throughputs(result: dict[str, Any]) -> dict[str, float]:
    """Every events/s figure (keys ending in ``_eps``; one bar per entry of a dict)."""
    bars: dict[str, float] = {}
    for key, value in result.items():
        if not key.endswith("_eps"):
            continue
        name = key.removesuffix("_eps")
        if isinstance(value, dict):
            bars.update({f"{name} ({n})": float(eps) for n, eps in value.items()})
        else:
            bars[name] = float(value)
    return bars


def caption(result: dict[str, Any]) -> str:
    machine = result.get("machine_at_start", {})
    end = result.get("machine_at_end", {})
    return (
        f"{result.get('finished_at', '?')}, commit {result.get('commit', '?')}: "
        f"{machine.get('cores', '?')} cores ({machine.get('cpu', '?')}), "
        f"load {machine.get('loadavg_1m', '?')} at start, {end.get('loadavg_1m', '?')} at end"
    )


def draw(result: dict[str, Any], path: Path) -> None:
    """Write the figure of one run to ``path`` (PNG)."""
    # Imported here: only a plot needs matplotlib, and its backend is chosen before pyplot loads.
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    samples = legs(result)
    figure, axes = pyplot.subplots(1, len(LATENCIES) + 1, figsize=(16, 5.5))
    for ax, (latency, title) in zip(axes, LATENCIES.items(), strict=False):
        for leg, values in samples.items():
            _cumulative(ax, leg, values.get(latency, []))
        ax.set_xscale("log")
        ax.set_xlabel("ms (log scale)")
        ax.set_ylabel("share of events at or below")
        ax.set_title(title)
        ax.grid(visible=True, which="both", alpha=0.3)
        ax.legend(loc="lower right", fontsize="small")
    bars = throughputs(result)
    ax = axes[-1]
    ax.barh(list(bars), list(bars.values()), color="tab:gray")
    for y, eps in enumerate(bars.values()):
        ax.annotate(f"{eps:,.0f}", (eps, y), xytext=(3, 0), textcoords="offset points", va="center")
    ax.invert_yaxis()
    ax.set_xlabel("events/s")
    ax.set_title("throughput")
    figure.suptitle(caption(result), fontsize="medium")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    pyplot.close(figure)


def _cumulative(ax: Axes, leg: str, values: list[float]) -> None:
    """One leg's empirical distribution, its p50/p95/p99 in the legend."""
    if not values:
        ax.plot([], [], label=f"{leg}: nothing measured")
        return
    ordered = sorted(values)
    shares = [(i + 1) / len(ordered) for i in range(len(ordered))]
    marks = ", ".join(f"p{pct} {percentile(ordered, pct):,.1f}" for pct in MARKED_PERCENTILES)
    ax.step(ordered, shares, where="post", label=f"{leg}: {marks} ms (n={len(ordered):,})")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.plot", description=__doc__)
    parser.add_argument("result", type=Path, help="a JSON written by bench.events --json")
    parser.add_argument("figure", type=Path, help="the PNG to write")
    args = parser.parse_args(argv)
    try:
        draw(json.loads(args.result.read_text()), args.figure)
    except ValueError as exc:
        parser.error(f"{args.result}: {exc}")
    print(f"figure written to {args.figure}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
