"""One run of the poller: the three streams, batch by batch, wired from explicit parts.

Per batch: read from Sierra, obfuscate, reuse what the warehouse knows, geocode the
rest, build and encode records, send them, and only then advance the state.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol

from .address import Address
from .avro_codec import PatronInfoEncoder
from .cursor import Cursor, CursorWindow, RunBounds
from .errors import SkippedRow
from .kinesis import KinesisEntry
from .obfuscation import Obfuscator
from .records import Record, active_record, address_hash_input, deleted_record
from .sierra import PatronRow
from .state import PollerState, StateStore
from .streams import DELETED, NEW, UPDATED, StreamSpec

logger = logging.getLogger(__name__)


class PatronSource(Protocol):
    def frozen_now(self) -> Any: ...

    def fetch_batch(
        self, stream: StreamSpec, after: Cursor, bounds: RunBounds, limit: int
    ) -> list[PatronRow]: ...


class WarehouseLookup(Protocol):
    def by_address_hash(self, hashes: Sequence[str]) -> dict[str, Record]: ...

    def by_patron_id(self, patron_ids: Sequence[str]) -> dict[str, Record]: ...


class Geocoder(Protocol):
    def geocode(self, addresses: Sequence[Address]) -> tuple[list[str | None], Any]: ...


class RecordSink(Protocol):
    def send(self, entries: Sequence[KinesisEntry]) -> int: ...


@dataclass
class StreamSummary:
    stream: str
    batches: int = 0
    read: int = 0
    sent: int = 0
    already_sent: int = 0
    geocode_requested: int = 0
    geocode_matched: int = 0
    reused_from_warehouse: int = 0
    skipped: Counter[str] = field(default_factory=Counter)

    @property
    def match_rate(self) -> float | None:
        if not self.geocode_requested:
            return None
        return self.geocode_matched / self.geocode_requested


@dataclass
class RunSummary:
    streams: list[StreamSummary]
    final_state: PollerState | None = None

    @property
    def sent(self) -> int:
        return sum(s.sent for s in self.streams)


@dataclass(frozen=True)
class RunOptions:
    active_batch_size: int
    deleted_batch_size: int
    commit_lag: timedelta
    initial_state: PollerState
    max_batches: int | None = None
    backfill: bool = False
    send: bool = True


ProgressCallback = Callable[[StreamSummary], None]


class Pipeline:
    def __init__(
        self,
        *,
        source: PatronSource,
        warehouse: WarehouseLookup,
        geocoder: Geocoder,
        obfuscator: Obfuscator,
        encoder: PatronInfoEncoder,
        sink: RecordSink,
        state_store: StateStore,
        options: RunOptions,
        on_batch: ProgressCallback | None = None,
    ):
        self._source = source
        self._warehouse = warehouse
        self._geocoder = geocoder
        self._obfuscator = obfuscator
        self._encoder = encoder
        self._sink = sink
        self._state_store = state_store
        self._options = options
        self._on_batch = on_batch or (lambda summary: None)

    def run(self) -> RunSummary:
        state = self._state_store.load()
        if state is None:
            logger.warning(
                "No saved state; starting from the configured start",
                extra={"state": self._state_store.location},
            )
            state = self._options.initial_state
        bounds = RunBounds.from_sierra_clock(self._source.frozen_now(), self._options.commit_lag)
        streams = (NEW,) if self._options.backfill else (NEW, UPDATED, DELETED)
        summary = RunSummary([])
        new_window: CursorWindow | None = None
        for stream in streams:
            start = state.cursor(stream)
            stream_summary = StreamSummary(stream.name)
            summary.streams.append(stream_summary)
            state = self._run_stream(stream, state, bounds, new_window, stream_summary)
            if stream is NEW:
                new_window = CursorWindow(start, state.cursor(NEW))
            logger.info(
                "Stream done",
                extra={
                    "stream": stream.name,
                    "batches": stream_summary.batches,
                    "read": stream_summary.read,
                    "sent": stream_summary.sent,
                },
            )
        summary.final_state = state
        return summary

    def _run_stream(
        self,
        stream: StreamSpec,
        state: PollerState,
        bounds: RunBounds,
        new_window: CursorWindow | None,
        summary: StreamSummary,
    ) -> PollerState:
        limit = (
            self._options.deleted_batch_size
            if stream is DELETED
            else self._options.active_batch_size
        )
        while self._options.max_batches is None or summary.batches < self._options.max_batches:
            rows = self._source.fetch_batch(stream, state.cursor(stream), bounds, limit)
            if not rows:
                break
            summary.batches += 1
            summary.read += len(rows)
            if stream is UPDATED and new_window is not None:
                fresh = [
                    r for r in rows if not new_window.contains(r.creation_date_gmt, r.record_id)
                ]
                summary.already_sent += len(rows) - len(fresh)
            else:
                fresh = rows
            records = (
                self._deleted_records(fresh, summary)
                if stream is DELETED
                else self._active_records(fresh, stream, summary)
            )
            entries = [
                KinesisEntry(record["patron_id"], self._encoder.encode(record))
                for record in records
            ]
            if self._options.send and entries:
                self._sink.send(entries)
            summary.sent += len(entries)
            last = rows[-1]
            # Rows skipped as already sent, or as unusable, move the cursor too.
            state = state.with_cursor(stream, Cursor(last.cursor_value, last.record_id))
            self._state_store.save(state)
            self._on_batch(summary)
            if len(rows) < limit:
                break
        return state

    def _active_records(
        self, rows: Sequence[PatronRow], stream: StreamSpec, summary: StreamSummary
    ) -> list[Record]:
        hashed = self._obfuscator.obfuscate_many(
            [str(r.record_id) for r in rows] + [address_hash_input(r) for r in rows]
        )
        patron_ids, address_hashes = hashed[: len(rows)], hashed[len(rows) :]
        known_by_hash: dict[str, Record] = {}
        known_by_id: dict[str, Record] = {}
        if stream is UPDATED and rows:
            known_by_hash = self._warehouse.by_address_hash(address_hashes)
            known_by_id = self._warehouse.by_patron_id(patron_ids)
        to_geocode = [i for i, h in enumerate(address_hashes) if h not in known_by_hash]
        summary.reused_from_warehouse += len(rows) - len(to_geocode)
        geoids: dict[int, str | None] = {}
        if to_geocode:
            addresses = [rows[i].address for i in to_geocode]
            found, _stats = self._geocoder.geocode(addresses)
            geoids = dict(zip(to_geocode, found, strict=True))
            summary.geocode_requested += sum(not a.is_empty for a in addresses)
            summary.geocode_matched += sum(g is not None for g in found)
        records = []
        for i, row in enumerate(rows):
            try:
                records.append(
                    active_record(
                        row,
                        patron_ids[i],
                        address_hashes[i],
                        geoids.get(i),
                        known_by_hash.get(address_hashes[i]),
                        known_by_id.get(patron_ids[i]),
                    )
                )
            except SkippedRow as skip:
                self._count_skip(summary, skip, patron_ids[i])
        return records

    def _deleted_records(self, rows: Sequence[PatronRow], summary: StreamSummary) -> list[Record]:
        patron_ids = self._obfuscator.obfuscate_many([str(r.record_id) for r in rows])
        known = self._warehouse.by_patron_id(patron_ids) if rows else {}
        summary.reused_from_warehouse += sum(pid in known for pid in patron_ids)
        records = []
        for row, patron_id in zip(rows, patron_ids, strict=True):
            try:
                records.append(deleted_record(row, patron_id, known.get(patron_id)))
            except SkippedRow as skip:
                self._count_skip(summary, skip, patron_id)
        return records

    @staticmethod
    def _count_skip(summary: StreamSummary, skip: SkippedRow, patron_id: str) -> None:
        summary.skipped[skip.reason] += 1
        logger.warning(
            "Row skipped",
            extra={"stream": summary.stream, "reason": skip.reason, "patron_id": patron_id},
        )
