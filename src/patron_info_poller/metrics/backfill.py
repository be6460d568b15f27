"""A backfill's figures where METRICS says: the summary's counts and timings, as one EMF
line (namespace PatronInfoPoller, dimension Environment) or pushed to the Pushgateway
(job `patron_info_poller_backfill`, grouping key environment). Counts only."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, TextIO

from prometheus_client import CollectorRegistry, Gauge, pushadd_to_gateway

from .emf import NAMESPACE
from .prometheus import PREFIX

logger = logging.getLogger(__name__)

JOB = "patron_info_poller_backfill"
# Name -> the summary's field (BackfillSummary.as_dict()).
FIGURES = {
    "backfill_chunks_total": "chunks_total",
    "backfill_chunks_done_before": "chunks_done_before",
    "backfill_chunks_run": "chunks_run",
    "backfill_records_read": "records_read",
    "backfill_records_sent": "records_sent",
    "backfill_records_skipped": "records_skipped",
    "backfill_records_sent_this_run": "records_sent_this_run",
    "backfill_duplicates": "duplicates",
    "backfill_retried_chunks": "retried_chunks",
    "kinesis_records_retried": "kinesis_records_retried",
    "geocode_requested": "geocode_requested",
    "geocode_matched": "geocode_matched",
    "backfill_wall_seconds": "wall_seconds",
    "backfill_driver_cpu_seconds": "driver_cpu_seconds",
    "backfill_worker_cpu_seconds": "worker_cpu_seconds",
    "backfill_cpu_seconds": "cpu_seconds",
}


def backfill_figures(summary: Mapping[str, Any] | None, *, succeeded: bool) -> dict[str, float]:
    """The figures of a summary (None: the backfill failed before it had one)."""
    figures = {"backfill_succeeded": 1.0 if succeeded else 0.0}
    for name, key in FIGURES.items():
        if summary is not None and isinstance(summary.get(key), int | float):
            figures[name] = float(summary[key])
    return figures


def emf_line(environment: str, figures: Mapping[str, float], now: datetime) -> str:
    document = {
        "_aws": {
            "Timestamp": int(now.timestamp() * 1000),
            "CloudWatchMetrics": [
                {
                    "Namespace": NAMESPACE,
                    "Dimensions": [["Environment"]],
                    "Metrics": [
                        {"Name": name, "Unit": "Seconds" if name.endswith("seconds") else "Count"}
                        for name in figures
                    ],
                }
            ],
        },
        "Environment": environment,
        **figures,
    }
    return json.dumps(document, separators=(",", ":"))


def push_backfill(figures: Mapping[str, float], environment: str, gateway_url: str) -> None:
    registry = CollectorRegistry()
    for name, value in figures.items():
        gauge = Gauge(
            f"{PREFIX}_{name}",
            name.replace("_", " ").capitalize() + " (the last backfill)",
            ["environment"],
            registry=registry,
        )
        gauge.labels(environment).set(value)
    pushadd_to_gateway(
        gateway_url,
        job=JOB,
        grouping_key={"environment": environment},
        registry=registry,
        timeout=10,
    )


def publish_backfill(
    kind: str,
    environment: str,
    summary: Mapping[str, Any] | None,
    *,
    succeeded: bool,
    pushgateway_url: str | None = None,
    stdout: TextIO | None = None,
) -> dict[str, float]:
    figures = backfill_figures(summary, succeeded=succeeded)
    if kind == "emf":
        stream = stdout or sys.stdout
        stream.write(emf_line(environment, figures, datetime.now(UTC)) + "\n")
        stream.flush()
    elif kind == "pushgateway" and pushgateway_url:
        try:
            push_backfill(figures, environment, pushgateway_url)
        except OSError as exc:
            # Metrics must not fail a backfill that delivered its records.
            logger.warning(
                "Could not push metrics to the Pushgateway",
                extra={"error_type": type(exc).__name__},
            )
    return figures
