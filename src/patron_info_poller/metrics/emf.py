"""CloudWatch Embedded Metric Format: JSON lines that the `awslogs` driver of an ECS task
turns into metrics, with no agent and no API call. Namespace PatronInfoPoller; dimensions
Environment and Stream (and Provider for per-provider geocoding)."""

from __future__ import annotations

import json
from typing import Any, TextIO

from .figures import COUNTERS, RunFigures

NAMESPACE = "PatronInfoPoller"


def emf_lines(figures: RunFigures) -> list[str]:
    lines = []
    timestamp = int(figures.finished_at.timestamp() * 1000)
    overall: dict[str, float] = {"run_duration_seconds": figures.run_duration_seconds}
    if figures.last_success_timestamp_seconds is not None:
        overall["last_success_timestamp_seconds"] = figures.last_success_timestamp_seconds
    lines.append(_line(timestamp, {"Environment": figures.environment}, overall))
    for stream in figures.streams:
        values: dict[str, float] = {name: stream.counts[name] for name in COUNTERS}
        if stream.caught_up_as_of is not None and stream.freshness_seconds is not None:
            values["caught_up_as_of_timestamp_seconds"] = stream.caught_up_as_of.timestamp()
            values["freshness_seconds"] = stream.freshness_seconds
        dimensions = {"Environment": figures.environment, "Stream": stream.stream}
        lines.append(_line(timestamp, dimensions, values))
        for provider, (requested, matched) in stream.matched_by_provider.items():
            lines.append(
                _line(
                    timestamp,
                    {**dimensions, "Provider": provider},
                    {"geocode_requested": requested, "geocode_matched": matched},
                )
            )
    return lines


def write_emf(figures: RunFigures, stream: TextIO) -> None:
    for line in emf_lines(figures):
        stream.write(line + "\n")
    stream.flush()


def _line(timestamp: int, dimensions: dict[str, str], values: dict[str, float]) -> str:
    document: dict[str, Any] = {
        "_aws": {
            "Timestamp": timestamp,
            "CloudWatchMetrics": [
                {
                    "Namespace": NAMESPACE,
                    "Dimensions": [list(dimensions)],
                    "Metrics": [{"Name": name, "Unit": _unit(name)} for name in values],
                }
            ],
        },
        **dimensions,
        **values,
    }
    return json.dumps(document, separators=(",", ":"))


def _unit(name: str) -> str:
    return "Seconds" if name.endswith("seconds") else "Count"
