"""Sends a run's figures where METRICS says, and keeps the counts a run reports as it goes
(so a run that fails mid-way still publishes what it did)."""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TextIO

from ..pipeline import ProgressCallback, StreamSummary
from .emf import write_emf
from .figures import RunFigures, run_figures
from .prometheus import PrometheusMetrics, push, serve

logger = logging.getLogger(__name__)


class ReportedCounts:
    """The latest counts of each stream, from the pipeline's per-batch report."""

    def __init__(self, then: ProgressCallback | None = None):
        self.streams: dict[str, StreamSummary] = {}
        self._then = then

    def on_batch(self, stream: StreamSummary) -> None:
        self.streams[stream.stream] = stream
        if self._then is not None:
            self._then(stream)


class MetricsPublisher:
    def __init__(
        self,
        kind: str,
        environment: str,
        *,
        pushgateway_url: str | None = None,
        stdout: TextIO | None = None,
    ):
        self._kind = kind
        self._environment = environment
        self._pushgateway_url = pushgateway_url
        self._stdout = stdout or sys.stdout
        self._served: PrometheusMetrics | None = None

    def serve_on(self, port: int) -> None:
        """Loop mode: /metrics, cumulative across runs."""
        self._served = PrometheusMetrics()
        serve(self._served, port)

    def publish(
        self,
        streams: list[StreamSummary],
        *,
        caught_up_as_of: Mapping[str, datetime],
        duration_seconds: float,
        succeeded: bool,
    ) -> RunFigures:
        figures = run_figures(
            environment=self._environment,
            streams=streams,
            caught_up_as_of=caught_up_as_of,
            duration_seconds=duration_seconds,
            succeeded=succeeded,
            now=datetime.now(UTC),
        )
        if self._served is not None:
            self._served.record(figures)
        if self._kind == "emf":
            write_emf(figures, self._stdout)
        elif self._kind == "pushgateway" and self._pushgateway_url:
            try:
                push(figures, self._pushgateway_url)
            except OSError as exc:
                # Metrics must not fail a run that delivered its records.
                logger.warning(
                    "Could not push metrics to the Pushgateway",
                    extra={"error_type": type(exc).__name__},
                )
        return figures
