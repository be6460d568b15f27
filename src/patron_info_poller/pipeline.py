"""One run of the poller: the three streams, batch by batch, wired from explicit parts.

A batch goes through four stages: read (Sierra), prepare (obfuscate, warehouse lookups),
geocode, and finish (build and encode records, send them, then advance the state).
With `batches_in_flight` > 1 the stages overlap: while one batch waits on the geocoder the
next is read and hashed and an earlier one is sent. Queues between stages are bounded and
batches finish strictly in order, so the state only ever moves past fully sent batches.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
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
    """Counts of one stream in one run. Each field is written by one stage only."""

    stream: str
    batches: int = 0
    read: int = 0
    sent: int = 0
    already_sent: int = 0
    geocode_requested: int = 0
    geocode_matched: int = 0
    reused_from_warehouse: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    started: float | None = None  # time.monotonic() when its first batch was read
    finished: float | None = None  # when its last batch was sent

    @property
    def match_rate(self) -> float | None:
        if not self.geocode_requested:
            return None
        return self.geocode_matched / self.geocode_requested

    @property
    def elapsed_seconds(self) -> float:
        if self.started is None or self.finished is None:
            return 0.0
        return self.finished - self.started


@dataclass
class RunSummary:
    streams: list[StreamSummary]
    final_state: PollerState | None = None
    elapsed_seconds: float = 0.0

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
    # Batches between reading and sending at once; 1 runs the stages one after another.
    batches_in_flight: int = 3
    geocoder_concurrency: int = 2


ProgressCallback = Callable[[StreamSummary], None]


@dataclass
class _Batch:
    stream: StreamSpec
    summary: StreamSummary
    rows: list[PatronRow]  # the patrons to send: not already sent by this run
    cursor: Cursor  # where the stream's cursor stands once this batch is sent


@dataclass
class _Prepared:
    batch: _Batch
    patron_ids: list[str]
    address_hashes: list[str]
    known_by_hash: dict[str, Record]
    known_by_id: dict[str, Record]
    to_geocode: list[int]  # indexes into batch.rows


_DONE = object()


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
        started = time.monotonic()
        state = self._state_store.load()
        if state is None:
            logger.warning(
                "No saved state; starting from the configured start",
                extra={"state": self._state_store.location},
            )
            state = self._options.initial_state
        bounds = RunBounds.from_sierra_clock(self._source.frozen_now(), self._options.commit_lag)
        streams = (NEW,) if self._options.backfill else (NEW, UPDATED, DELETED)
        summary = RunSummary([StreamSummary(stream.name) for stream in streams])
        batches = self._read(state, bounds, dict(zip(streams, summary.streams, strict=True)))
        if self._options.batches_in_flight <= 1:
            for batch in batches:
                prepared = self._prepare(batch)
                state = self._finish(prepared, self._geocode(prepared), state)
        else:
            state = self._run_overlapped(batches, state)
        summary.final_state = state
        summary.elapsed_seconds = time.monotonic() - started
        for stream_summary in summary.streams:
            logger.info(
                "Stream done",
                extra={
                    "stream": stream_summary.stream,
                    "batches": stream_summary.batches,
                    "read": stream_summary.read,
                    "sent": stream_summary.sent,
                    "seconds": round(stream_summary.elapsed_seconds, 3),
                },
            )
        return summary

    def _read(
        self, state: PollerState, bounds: RunBounds, summaries: dict[StreamSpec, StreamSummary]
    ) -> Iterator[_Batch]:
        """Stage 1: keyset pages of each stream in turn, up to the frozen bounds."""
        new_window: CursorWindow | None = None
        for stream, summary in summaries.items():
            cursor = state.cursor(stream)
            start = cursor
            limit = (
                self._options.deleted_batch_size
                if stream is DELETED
                else self._options.active_batch_size
            )
            summary.started = time.monotonic()
            rows: list[PatronRow] = []
            while self._options.max_batches is None or summary.batches < self._options.max_batches:
                rows = self._source.fetch_batch(stream, cursor, bounds, limit)
                if not rows:
                    break
                summary.batches += 1
                summary.read += len(rows)
                # Rows skipped as already sent move the cursor too.
                cursor = Cursor(rows[-1].cursor_value, rows[-1].record_id)
                if stream is UPDATED and new_window is not None:
                    fresh = [
                        r for r in rows if not new_window.contains(r.creation_date_gmt, r.record_id)
                    ]
                    summary.already_sent += len(rows) - len(fresh)
                    rows_to_send = fresh
                else:
                    rows_to_send = rows
                yield _Batch(stream, summary, rows_to_send, cursor)
                if len(rows) < limit:
                    break
            if summary.batches == 0:
                summary.finished = time.monotonic()
            if stream is NEW:
                # Read ahead of sending is fine: these rows are sent before any updated
                # batch can move the state.
                new_window = CursorWindow(start, cursor)

    def _prepare(self, batch: _Batch) -> _Prepared:
        """Stage 2: obfuscate on every core, then ask the warehouse what it knows."""
        rows = batch.rows
        if batch.stream is DELETED:
            patron_ids = self._obfuscator.obfuscate_many([str(r.record_id) for r in rows])
            known = self._warehouse.by_patron_id(patron_ids) if rows else {}
            batch.summary.reused_from_warehouse += sum(pid in known for pid in patron_ids)
            return _Prepared(batch, patron_ids, [], {}, known, [])
        hashed = self._obfuscator.obfuscate_many(
            [str(r.record_id) for r in rows] + [address_hash_input(r) for r in rows]
        )
        patron_ids, address_hashes = hashed[: len(rows)], hashed[len(rows) :]
        known_by_hash: dict[str, Record] = {}
        known_by_id: dict[str, Record] = {}
        if batch.stream is UPDATED and rows:
            known_by_hash = self._warehouse.by_address_hash(address_hashes)
            known_by_id = self._warehouse.by_patron_id(patron_ids)
        to_geocode = [i for i, h in enumerate(address_hashes) if h not in known_by_hash]
        batch.summary.reused_from_warehouse += len(rows) - len(to_geocode)
        return _Prepared(batch, patron_ids, address_hashes, known_by_hash, known_by_id, to_geocode)

    def _geocode(self, prepared: _Prepared) -> dict[int, str | None]:
        """Stage 3: census tracts of the addresses the warehouse did not know."""
        if not prepared.to_geocode:
            return {}
        addresses = [prepared.batch.rows[i].address for i in prepared.to_geocode]
        found, _stats = self._geocoder.geocode(addresses)
        summary = prepared.batch.summary
        summary.geocode_requested += sum(not a.is_empty for a in addresses)
        summary.geocode_matched += sum(g is not None for g in found)
        return dict(zip(prepared.to_geocode, found, strict=True))

    def _finish(
        self, prepared: _Prepared, geoids: dict[int, str | None], state: PollerState
    ) -> PollerState:
        """Stage 4: records out, then (and only then) the state moves past the batch."""
        batch = prepared.batch
        summary = batch.summary
        records = []
        for i, row in enumerate(batch.rows):
            patron_id = prepared.patron_ids[i]
            try:
                if batch.stream is DELETED:
                    record = deleted_record(row, patron_id, prepared.known_by_id.get(patron_id))
                else:
                    address_hash = prepared.address_hashes[i]
                    record = active_record(
                        row,
                        patron_id,
                        address_hash,
                        geoids.get(i),
                        prepared.known_by_hash.get(address_hash),
                        prepared.known_by_id.get(patron_id),
                    )
            except SkippedRow as skip:
                self._count_skip(summary, skip, patron_id)
                continue
            records.append(record)
        entries = [KinesisEntry(r["patron_id"], self._encoder.encode(r)) for r in records]
        if self._options.send and entries:
            self._sink.send(entries)
        summary.sent += len(entries)
        state = state.with_cursor(batch.stream, batch.cursor)
        self._state_store.save(state)
        summary.finished = time.monotonic()
        self._on_batch(summary)
        return state

    def _run_overlapped(self, batches: Iterator[_Batch], state: PollerState) -> PollerState:
        """Reader and preparer threads feed this thread, which finishes batches in order.

        Geocoding runs in a pool; its futures wait in a bounded queue, so up to
        `batches_in_flight` batches are between hashing and sending at any time.
        """
        stop = threading.Event()
        failures: list[BaseException] = []
        read_queue: queue.Queue[Any] = queue.Queue(maxsize=1)
        ready_queue: queue.Queue[Any] = queue.Queue(maxsize=self._options.batches_in_flight)
        geocoding = ThreadPoolExecutor(
            self._options.geocoder_concurrency, thread_name_prefix="geocode-batch"
        )

        def guarded(work: Callable[[], None], output: queue.Queue[Any]) -> Callable[[], None]:
            def run() -> None:
                try:
                    work()
                except BaseException as exc:
                    failures.append(exc)
                    stop.set()
                finally:
                    _put(output, _DONE, stop, force=True)

            return run

        def read() -> None:
            for batch in batches:
                if not _put(read_queue, batch, stop):
                    return

        def prepare() -> None:
            while (batch := _get(read_queue, stop)) is not _DONE and batch is not None:
                prepared = self._prepare(batch)
                future: Future[dict[int, str | None]] = geocoding.submit(self._geocode, prepared)
                if not _put(ready_queue, (prepared, future), stop):
                    return

        workers = [
            threading.Thread(target=guarded(read, read_queue), name="sierra-reader"),
            threading.Thread(target=guarded(prepare, ready_queue), name="preparer"),
        ]
        for worker in workers:
            worker.start()
        try:
            while (item := _get(ready_queue, stop)) is not _DONE and item is not None:
                prepared, future = item
                state = self._finish(prepared, future.result(), state)
        except BaseException as exc:
            failures.insert(0, exc)
            raise
        finally:
            stop.set()
            for worker in workers:
                worker.join()
            geocoding.shutdown(wait=True, cancel_futures=True)
        if failures:
            raise failures[0]
        return state

    @staticmethod
    def _count_skip(summary: StreamSummary, skip: SkippedRow, patron_id: str) -> None:
        summary.skipped[skip.reason] += 1
        logger.warning(
            "Row skipped",
            extra={"stream": summary.stream, "reason": skip.reason, "patron_id": patron_id},
        )


def _put(target: queue.Queue[Any], item: Any, stop: threading.Event, force: bool = False) -> bool:
    """Blocks while the queue is full, unless the run is stopping."""
    while force or not stop.is_set():
        try:
            target.put(item, timeout=0.05)
            return True
        except queue.Full:
            if force and stop.is_set():
                return False
    return False


def _get(source: queue.Queue[Any], stop: threading.Event) -> Any:
    """The next item; None once the run is stopping."""
    while True:
        try:
            return source.get(timeout=0.05)
        except queue.Empty:
            if stop.is_set():
                return None
