"""The backfill's progress while it runs (from finished chunks and the counts chunks in
flight publish after each batch) and its summary at the end."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .plan import BackfillPlan

logger = logging.getLogger("patron_info_poller.backfill.driver")


@dataclass(frozen=True)
class BackfillProgress:
    plan_id: str
    chunks_total: int
    chunks_done: int
    rows_total: int  # patrons planned
    rows_done: int  # of finished chunks, and read so far by chunks in flight
    records_sent: int  # by this run (chunks in flight included)
    rows_this_run: int
    elapsed_seconds: float

    @property
    def records_per_second(self) -> float:
        return self.records_sent / self.elapsed_seconds if self.elapsed_seconds > 0 else 0.0

    @property
    def eta_seconds(self) -> float | None:
        if self.rows_this_run <= 0 or self.elapsed_seconds <= 0:
            return None
        rate = self.rows_this_run / self.elapsed_seconds
        return max(0.0, self.rows_total - self.rows_done) / rate


ProgressCallback = Callable[[BackfillProgress], None]


@dataclass
class BackfillSummary:
    plan_id: str
    window: str
    dry_run: bool
    resumed: bool
    chunks_total: int
    chunks_done_before: int
    chunks_run: int = 0
    read: int = 0
    sent: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    duplicates: int = 0  # records sent more than once, by attempts of chunks run again
    retried_chunks: int = 0
    kinesis_records_retried: int = 0
    geocode_requested: int = 0
    geocode_matched: int = 0
    sent_this_run: int = 0
    wall_seconds: float = 0.0
    driver_cpu_seconds: float = 0.0
    worker_cpu_seconds: float = 0.0  # of the chunks run by this run
    state_change: str | None = None
    output: str | None = None

    @property
    def cpu_seconds(self) -> float:
        return self.driver_cpu_seconds + self.worker_cpu_seconds

    def count(self, marker: dict[str, Any]) -> None:
        self.read += int(marker.get("read", 0))
        self.sent += int(marker.get("sent", 0))
        self.skipped.update({str(k): int(v) for k, v in (marker.get("skipped") or {}).items()})
        self.duplicates += int(marker.get("duplicates", 0))
        self.retried_chunks += int(marker.get("attempts", 1)) > 1
        self.kinesis_records_retried += int(marker.get("kinesis_records_retried", 0))
        self.geocode_requested += int(marker.get("geocode_requested", 0))
        self.geocode_matched += int(marker.get("geocode_matched", 0))

    def as_dict(self) -> dict[str, Any]:
        return {
            "plan_id": self.plan_id,
            "window": self.window,
            "dry_run": self.dry_run,
            "resumed": self.resumed,
            "chunks_total": self.chunks_total,
            "chunks_done_before": self.chunks_done_before,
            "chunks_run": self.chunks_run,
            "records_read": self.read,
            "records_sent": self.sent,
            "records_skipped": sum(self.skipped.values()),
            "skipped": dict(self.skipped),
            "duplicates": self.duplicates,
            "retried_chunks": self.retried_chunks,
            "kinesis_records_retried": self.kinesis_records_retried,
            "geocode_requested": self.geocode_requested,
            "geocode_matched": self.geocode_matched,
            "records_sent_this_run": self.sent_this_run,
            "wall_seconds": round(self.wall_seconds, 3),
            "driver_cpu_seconds": round(self.driver_cpu_seconds, 3),
            "worker_cpu_seconds": round(self.worker_cpu_seconds, 3),
            "cpu_seconds": round(self.cpu_seconds, 3),
            "state_change": self.state_change,
            "output": self.output,
        }


class ProgressTracker:
    """Progress from finished chunks and from the events chunks in flight send after each
    batch (counts only)."""

    def __init__(
        self,
        plan: BackfillPlan,
        done_before: dict[int, dict[str, Any]],
        on_progress: ProgressCallback | None,
        started: float,
    ):
        self._plan = plan
        self._planned = {chunk.number: chunk.rows for chunk in plan.chunks}
        self._done_before = set(done_before)
        self._finished: dict[int, dict[str, Any]] = {}
        self._in_flight: dict[int, tuple[int, int]] = {}  # chunk -> (read, sent)
        self._on_progress = on_progress
        self._started = started
        self._lock = threading.Lock()

    def on_event(self, event: tuple[float, Any]) -> None:
        _, message = event
        if not isinstance(message, dict) or message.get("plan_id") != self._plan.plan_id:
            return
        with self._lock:
            chunk = message.get("chunk")
            if not isinstance(chunk, int) or chunk in self._finished:
                return
            self._in_flight[chunk] = (int(message.get("read", 0)), int(message.get("sent", 0)))
            progress = self._progress()
        if self._on_progress is not None:
            self._on_progress(progress)

    def chunk_done(self, chunk: int, marker: dict[str, Any]) -> None:
        with self._lock:
            self._finished[chunk] = marker
            self._in_flight.pop(chunk, None)
            progress = self._progress()
        eta = progress.eta_seconds
        logger.info(
            "Backfill chunk finished",
            extra={
                "plan_id": self._plan.plan_id,
                "chunk": chunk,
                "chunks_done": progress.chunks_done,
                "chunks_total": progress.chunks_total,
                "records_sent": progress.records_sent,
                "records_per_second": round(progress.records_per_second, 1),
                "eta_seconds": None if eta is None else round(eta),
            },
        )
        if self._on_progress is not None:
            self._on_progress(progress)

    def start(self) -> BackfillProgress:
        with self._lock:
            return self._progress()

    def _progress(self) -> BackfillProgress:
        planned = self._planned
        rows_before = sum(planned[n] for n in self._done_before)
        rows_finished = sum(planned[n] for n in self._finished)
        rows_in_flight = sum(min(read, planned[n]) for n, (read, _) in self._in_flight.items())
        sent = sum(int(m.get("sent", 0)) for m in self._finished.values()) + sum(
            sent for _, sent in self._in_flight.values()
        )
        return BackfillProgress(
            plan_id=self._plan.plan_id,
            chunks_total=self._plan.chunk_count,
            chunks_done=len(self._done_before) + len(self._finished),
            rows_total=self._plan.rows,
            rows_done=rows_before + rows_finished + rows_in_flight,
            records_sent=sent,
            rows_this_run=rows_finished + rows_in_flight,
            elapsed_seconds=time.monotonic() - self._started,
        )
