"""Prometheus: the Pushgateway conventions for batch jobs (grouping key job and
environment; the last success pushed only on success), or /metrics in loop mode. Names
carry the prefix patron_info_poller_, `_total` on counters, and base units (seconds)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, pushadd_to_gateway
from prometheus_client import start_http_server as _start_http_server

from .figures import COUNTERS, RunFigures

PREFIX = "patron_info_poller"
JOB = "patron_info_poller"


class PrometheusMetrics:
    """One registry: cumulative across runs in loop mode, one run's worth when pushed."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._counters = {
            name: Counter(
                f"{PREFIX}_{name}", _help(name), ["environment", "stream"], registry=self.registry
            )
            for name in COUNTERS
        }
        self._provider_matched = Counter(
            f"{PREFIX}_geocode_provider_matched",
            "Addresses a geocoding provider matched",
            ["environment", "stream", "provider"],
            registry=self.registry,
        )
        self._provider_requested = Counter(
            f"{PREFIX}_geocode_provider_requested",
            "Addresses given to a geocoding provider",
            ["environment", "stream", "provider"],
            registry=self.registry,
        )
        self._runs = Counter(
            f"{PREFIX}_runs",
            "Runs finished, by outcome (success or failure)",
            ["environment", "outcome"],
            registry=self.registry,
        )
        self._duration = Gauge(
            f"{PREFIX}_run_duration_seconds",
            "How long the last run took",
            ["environment"],
            registry=self.registry,
        )
        self._last_success = Gauge(
            f"{PREFIX}_last_success_timestamp_seconds",
            "When a run last finished successfully (Unix time)",
            ["environment"],
            registry=self.registry,
        )
        self._caught_up = Gauge(
            f"{PREFIX}_caught_up_as_of_timestamp_seconds",
            "The instant up to which the stream was drained (Unix time)",
            ["environment", "stream"],
            registry=self.registry,
        )
        self._freshness = Gauge(
            f"{PREFIX}_freshness_seconds",
            "Now minus caught_up_as_of, at the end of the last run",
            ["environment", "stream"],
            registry=self.registry,
        )

    def record(self, figures: RunFigures) -> None:
        environment = figures.environment
        self._runs.labels(environment, "success" if figures.succeeded else "failure").inc()
        self._duration.labels(environment).set(figures.run_duration_seconds)
        if figures.last_success_timestamp_seconds is not None:
            self._last_success.labels(environment).set(figures.last_success_timestamp_seconds)
        for stream in figures.streams:
            for name, value in stream.counts.items():
                self._counters[name].labels(environment, stream.stream).inc(value)
            for provider, (requested, matched) in stream.matched_by_provider.items():
                self._provider_requested.labels(environment, stream.stream, provider).inc(requested)
                self._provider_matched.labels(environment, stream.stream, provider).inc(matched)
            if stream.caught_up_as_of is not None and stream.freshness_seconds is not None:
                self._caught_up.labels(environment, stream.stream).set(
                    stream.caught_up_as_of.timestamp()
                )
                self._freshness.labels(environment, stream.stream).set(stream.freshness_seconds)


def push(figures: RunFigures, gateway_url: str) -> None:
    """One run's figures to the Pushgateway. POST (pushadd) replaces only the metrics
    pushed, so a failed run leaves the last success of an earlier push in place."""
    metrics = PrometheusMetrics()
    metrics.record(figures)
    pushadd_to_gateway(
        gateway_url,
        job=JOB,
        grouping_key={"environment": figures.environment},
        registry=metrics.registry,
        timeout=10,
    )


def serve(metrics: PrometheusMetrics, port: int) -> None:
    """/metrics on `port`, for loop mode (a thread of prometheus_client's own)."""
    _start_http_server(port, registry=metrics.registry)


def _help(name: str) -> str:
    return name.replace("_", " ").capitalize()
