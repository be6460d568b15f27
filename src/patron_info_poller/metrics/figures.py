"""A run's figures, named as operators alarm on them. Pure: counts in, figures out.

Per stream: records_read, records_sent, records_skipped, geocode_requested,
geocode_matched (and per provider), kinesis_records_retried; freshness:
caught_up_as_of_timestamp_seconds (the frozen bound a run drained the stream up to, kept
in the state so it means something across runs) and freshness_seconds (now minus that).
Unlike the cursor's age, freshness does not grow while Sierra is quiet. Overall:
run_duration_seconds, and last_success_timestamp_seconds when the run succeeded.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from ..pipeline import StreamSummary

COUNTERS = (
    "records_read",
    "records_sent",
    "records_skipped",
    "geocode_requested",
    "geocode_matched",
    "kinesis_records_retried",
)


@dataclass(frozen=True)
class StreamFigures:
    stream: str
    counts: dict[str, int]  # by name in COUNTERS
    matched_by_provider: dict[str, tuple[int, int]]  # provider -> (requested, matched)
    caught_up_as_of: datetime | None
    freshness_seconds: float | None


@dataclass(frozen=True)
class RunFigures:
    environment: str
    succeeded: bool
    run_duration_seconds: float
    finished_at: datetime
    streams: list[StreamFigures] = field(default_factory=list)

    @property
    def last_success_timestamp_seconds(self) -> float | None:
        return self.finished_at.timestamp() if self.succeeded else None


def run_figures(
    *,
    environment: str,
    streams: Iterable[StreamSummary],
    caught_up_as_of: Mapping[str, datetime],
    duration_seconds: float,
    succeeded: bool,
    now: datetime,
) -> RunFigures:
    return RunFigures(
        environment=environment,
        succeeded=succeeded,
        run_duration_seconds=duration_seconds,
        finished_at=now,
        streams=[_stream_figures(s, caught_up_as_of.get(s.stream), now) for s in streams],
    )


def _stream_figures(
    stream: StreamSummary, caught_up: datetime | None, now: datetime
) -> StreamFigures:
    return StreamFigures(
        stream=stream.stream,
        counts={
            "records_read": stream.read,
            "records_sent": stream.sent,
            "records_skipped": sum(stream.skipped.values()),
            "geocode_requested": stream.geocode_requested,
            "geocode_matched": stream.geocode_matched,
            "kinesis_records_retried": stream.records_retried,
        },
        matched_by_provider={
            name: (tally.requested, tally.matched) for name, tally in stream.geocoding.items()
        },
        caught_up_as_of=caught_up,
        freshness_seconds=(now - caught_up).total_seconds() if caught_up else None,
    )
