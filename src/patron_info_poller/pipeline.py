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
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from .avro_codec import PatronInfoEncoder
from .cursor import Cursor, CursorWindow, RunBounds
from .databases.sierra import PatronRow
from .errors import RunInterrupted, SkippedRow
from .geocode_scheduler import Geocoder, GeocodeScheduler
from .geocoding.chain import ChainResult, ProviderTally
from .obfuscation import Obfuscator
from .records import Record, active_record, address_hash_input, deleted_record
from .sinks import EncodedRecord, RecordSink
from .state.store import PollerState, StateStore
from .streams import ALL_STREAMS, DELETED, NEW, UPDATED, StreamSpec

logger = logging.getLogger(__name__)


class PatronSource(Protocol):
    def frozen_now(self) -> Any: ...

    def fetch_batch(
        self, stream: StreamSpec, after: Cursor, bounds: RunBounds, limit: int
    ) -> list[PatronRow]: ...


class WarehouseLookup(Protocol):
    def by_address_hash(self, hashes: Sequence[str]) -> dict[str, Record]: ...

    def by_patron_id(self, patron_ids: Sequence[str]) -> dict[str, Record]: ...


@dataclass
class StreamSummary:
    """Counts of one stream in one run. Each field is written by one stage only."""

    stream: str
    batches: int = 0
    read: int = 0
    sent: int = 0
    already_sent: int = 0
    geocode_requested: int = 0  # non-empty addresses given to the geocoder chain
    geocode_matched: int = 0
    geocoding: dict[str, ProviderTally] = field(default_factory=dict)  # by provider
    reused_from_warehouse: int = 0
    records_retried: int = 0  # resent by the sink after a partial failure
    # Obfuscated patron_ids of the first and last record sent (a backfill chunk's marker).
    first_sent: str | None = None
    last_sent: str | None = None
    skipped: Counter[str] = field(default_factory=Counter)
    started: float | None = None  # time.monotonic() when its first batch was read
    finished: float | None = None  # when its last batch was sent

    @property
    def match_rate(self) -> float | None:
        if not self.geocode_requested:
            return None
        return self.geocode_matched / self.geocode_requested

    @property
    def geocode_reasked(self) -> int:
        """Rows a geocoder had to be asked again (no answer the first time)."""
        return sum(tally.events["reasked"] for tally in self.geocoding.values())

    def count_geocoding(self, result: ChainResult) -> None:
        self.geocode_requested += result.requested
        self.geocode_matched += result.matched
        for name, tally in result.by_provider.items():
            self.geocoding.setdefault(name, ProviderTally()).add(tally)

    @property
    def elapsed_seconds(self) -> float:
        if self.started is None or self.finished is None:
            return 0.0
        return self.finished - self.started


@dataclass
class RunSummary:
    streams: list[StreamSummary]
    elapsed_seconds: float = 0.0
    hashes_computed: int = 0
    # Per stream, the frozen bound up to which this run or an earlier one drained it.
    caught_up_as_of: dict[str, datetime] = field(default_factory=dict)


@dataclass(frozen=True)
class RunOptions:
    active_batch_size: int
    deleted_batch_size: int
    commit_lag: timedelta
    initial_state: PollerState
    max_batches: int | None = None
    streams: tuple[StreamSpec, ...] = ALL_STREAMS  # BACKFILL: the new stream only
    # A replay's end: rows at or after it wait, as rows after the frozen now always do.
    until: datetime | None = None
    send: bool = True
    # False when records are not sent (IGNORE_KINESIS) but the state lives in S3: a dry
    # run must not move the real cursor past changes it never delivered.
    save_state: bool = True
    # Batches between reading and sending at once; 1 runs the stages one after another.
    batches_in_flight: int = 3
    # Geocoder requests in flight: start here, grow up to the max while hashing idles.
    geocoder_concurrency: int = 2
    geocoder_max_concurrency: int = 4


ProgressCallback = Callable[[StreamSummary], None]


class ShutdownRequest(threading.Event):
    """Set from a signal handler; remembers which signal asked."""

    signal_number: int = signal.SIGTERM

    def request(self, signal_number: int) -> None:
        self.signal_number = signal_number
        self.set()


@dataclass
class _Batch:
    stream: StreamSpec
    summary: StreamSummary
    rows: list[PatronRow]  # the patrons to send: not already sent by this run
    cursor: Cursor = field(repr=False)  # where the stream's cursor stands once sent
    # Set on a stream's last batch when the stream was drained up to the frozen bound.
    caught_up_as_of: datetime | None = None


@dataclass
class _Prepared:
    batch: _Batch
    patron_ids: list[str]
    address_hashes: list[str]
    known_by_hash: dict[str, Record]
    known_by_id: dict[str, Record]
    geocoded: Future[ChainResult] | None  # None: nothing in this batch to geocode
    geocode_indexes: Sequence[int]  # rows (indexes into batch.rows) sent to the geocoder


_DONE = object()
_MAX_FOLDED_PAGES = 10


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
        shutdown: ShutdownRequest | None = None,
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
        # Set from a signal handler: stop between batches, never inside one.
        self._shutdown = shutdown or ShutdownRequest()
        self._hashing_idle: Callable[[], bool] = lambda: True

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
        if self._options.until is not None:
            bounds = bounds.capped_at(self._options.until)
        streams = self._options.streams
        summary = RunSummary([StreamSummary(stream.name) for stream in streams])
        batches = self._read(state, bounds, dict(zip(streams, summary.streams, strict=True)))
        if self._options.batches_in_flight <= 1:
            state = self._run_in_order(batches, state)
        else:
            state = self._run_overlapped(batches, state)
        summary.caught_up_as_of = dict(state.caught_up_as_of)
        summary.elapsed_seconds = time.monotonic() - started
        summary.hashes_computed = self._obfuscator.hashes_computed
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
        """Stage 1: keyset pages of each stream in turn, up to the frozen bounds.

        Pages whose patrons were all sent already (the updated stream re-reads this run's
        new patrons) are folded into the next batch, so they take no place in flight.
        """
        new_window: CursorWindow | None = None
        for stream, summary in summaries.items():
            cursor = start = state.cursor(stream)
            limit = (
                self._options.deleted_batch_size
                if stream is DELETED
                else self._options.active_batch_size
            )
            summary.started = time.monotonic()
            pending: list[PatronRow] = []
            sent_up_to = start  # the cursor of the last batch handed on
            folded_pages = 0
            drained = False  # read up to the frozen bound, not stopped by MAX_BATCHES
            while self._options.max_batches is None or summary.batches < self._options.max_batches:
                if self._shutdown.is_set():
                    return
                rows = self._source.fetch_batch(stream, cursor, bounds, limit)
                if not rows:
                    drained = True
                    break
                summary.batches += 1
                summary.read += len(rows)
                # Rows skipped as already sent move the cursor too.
                cursor = Cursor(rows[-1].cursor_value, rows[-1].record_id)
                fresh = rows
                if stream is UPDATED and new_window is not None:
                    fresh = [
                        r for r in rows if not new_window.contains(r.creation_date_gmt, r.record_id)
                    ]
                    summary.already_sent += len(rows) - len(fresh)
                pending += fresh
                folded_pages += 1
                # A long run of already-sent pages still checkpoints the cursor now and then.
                if len(pending) >= limit or folded_pages >= _MAX_FOLDED_PAGES:
                    yield _Batch(stream, summary, pending, cursor)
                    pending, sent_up_to, folded_pages = [], cursor, 0
                if len(rows) < limit:
                    drained = True
                    break
            if pending or cursor != sent_up_to or drained:
                # A drained stream's last batch (empty if need be) records how fresh it is.
                caught_up = bounds.upper_instant(stream.cursor_is_date) if drained else None
                yield _Batch(stream, summary, pending, cursor, caught_up)
            if summary.batches == 0:
                summary.finished = time.monotonic()
            if stream is NEW:
                # Read ahead of sending is fine: these rows are sent before any updated
                # batch can move the state.
                new_window = CursorWindow(start, cursor)

    def _prepare(self, batch: _Batch, geocoding: GeocodeScheduler) -> _Prepared:
        """Stage 2: obfuscate on every core and ask the warehouse what it knows; start
        geocoding (stage 3, on the scheduler's threads) as soon as it is known which
        addresses need it."""
        with _timed("Batch prepared", batch):
            rows = batch.rows
            if batch.stream is DELETED:
                patron_ids = self._obfuscator.obfuscate_many([str(r.record_id) for r in rows])
                known = self._warehouse.by_patron_id(patron_ids) if rows else {}
                batch.summary.reused_from_warehouse += sum(pid in known for pid in patron_ids)
                return _Prepared(batch, patron_ids, [], {}, known, None, ())
            if batch.stream is NEW:
                # A new patron's address is never in the warehouse: geocode while hashing.
                everyone = range(len(rows))
                geocoded = self._geocode(batch, everyone, geocoding)
                hashed = self._obfuscator.obfuscate_many(
                    [str(r.record_id) for r in rows] + [address_hash_input(r) for r in rows]
                )
                return _Prepared(
                    batch, hashed[: len(rows)], hashed[len(rows) :], {}, {}, geocoded, everyone
                )
            address_hashes = self._obfuscator.obfuscate_many([address_hash_input(r) for r in rows])
            known_by_hash = self._warehouse.by_address_hash(address_hashes) if rows else {}
            to_geocode = [i for i, h in enumerate(address_hashes) if h not in known_by_hash]
            batch.summary.reused_from_warehouse += len(rows) - len(to_geocode)
            geocoded = self._geocode(batch, to_geocode, geocoding)
            patron_ids = self._obfuscator.obfuscate_many([str(r.record_id) for r in rows])
            known_by_id = self._warehouse.by_patron_id(patron_ids) if rows else {}
            return _Prepared(
                batch, patron_ids, address_hashes, known_by_hash, known_by_id, geocoded, to_geocode
            )

    @staticmethod
    def _geocode(
        batch: _Batch, indexes: Sequence[int], geocoding: GeocodeScheduler
    ) -> Future[ChainResult] | None:
        """Stage 3: census tracts of the addresses the warehouse did not know."""
        if not indexes:
            return None
        return geocoding.submit([batch.rows[i].address for i in indexes])

    def _finish(
        self, prepared: _Prepared, state: PollerState, geocoding: GeocodeScheduler
    ) -> PollerState:
        """Stage 4: records out, then (and only then) the state moves past the batch."""
        batch = prepared.batch
        summary = batch.summary
        geoids: dict[int, str | None] = {}
        if prepared.geocoded is not None:
            result = self._await(prepared.geocoded, geocoding)
            geoids = dict(zip(prepared.geocode_indexes, result.geoids, strict=True))
            # Counted here, in the one finishing thread, not in the geocoding threads.
            summary.count_geocoding(result)
        with _timed("Batch sent", batch):
            records = []
            for i, row in enumerate(batch.rows):
                patron_id = prepared.patron_ids[i]
                try:
                    if batch.stream is DELETED:
                        known = prepared.known_by_id.get(patron_id)
                        record = deleted_record(row, patron_id, known)
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
            entries = [EncodedRecord(r["patron_id"], self._encoder.encode(r)) for r in records]
            if self._options.send and entries:
                retried_before = self._sink.records_retried
                self._sink.send(entries)
                summary.records_retried += self._sink.records_retried - retried_before
            summary.sent += len(entries)
            if records:
                summary.first_sent = summary.first_sent or records[0]["patron_id"]
                summary.last_sent = records[-1]["patron_id"]
            state = state.with_cursor(batch.stream, batch.cursor)
            if batch.caught_up_as_of is not None:
                state = state.with_caught_up(batch.stream, batch.caught_up_as_of)
            if self._options.save_state:
                self._state_store.save(state)
        summary.finished = time.monotonic()
        self._on_batch(summary)
        return state

    def _await(self, geocoded: Future[ChainResult], geocoding: GeocodeScheduler) -> ChainResult:
        while True:
            self._raise_if_shutting_down()
            try:
                return geocoded.result(timeout=0.2)
            except FutureTimeout:
                if self._hashing_idle():
                    geocoding.waiting_on_geocoder()

    def _raise_if_shutting_down(self) -> None:
        if self._shutdown.is_set():
            raise RunInterrupted(
                "stopped by a signal between batches; the state stands after the last sent batch",
                self._shutdown.signal_number,
            )

    def _run_in_order(self, batches: Iterator[_Batch], state: PollerState) -> PollerState:
        """One batch at a time: read, prepare, geocode, finish."""
        geocoding = self._geocode_scheduler()
        self._hashing_idle = lambda: True  # nothing else is hashed while a batch waits
        try:
            for batch in batches:
                state = self._finish(self._prepare(batch, geocoding), state, geocoding)
        finally:
            geocoding.shutdown(wait=False)
        self._raise_if_shutting_down()
        return state

    def _run_overlapped(self, batches: Iterator[_Batch], state: PollerState) -> PollerState:
        """Reader and preparer threads feed this thread, which finishes batches in order.

        Prepared batches wait for their geocoding in a bounded queue, so at most
        `batches_in_flight` are between hashing and sending.
        """
        stop = threading.Event()
        failures: list[BaseException] = []
        read_queue: queue.Queue[Any] = queue.Queue(maxsize=1)
        ready_queue: queue.Queue[Any] = queue.Queue(maxsize=self._options.batches_in_flight)
        geocoding = self._geocode_scheduler()

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
            while (batch := _get(read_queue, stop)) not in (_DONE, None):
                if not _put(ready_queue, self._prepare(batch, geocoding), stop):
                    return

        reader = threading.Thread(target=guarded(read, read_queue), name="sierra-reader")
        preparer = threading.Thread(target=guarded(prepare, ready_queue), name="preparer")
        # The hashing threads idle when every prepared slot is taken, or nothing is left.
        self._hashing_idle = lambda: ready_queue.full() or not preparer.is_alive()
        for worker in (reader, preparer):
            worker.start()
        try:
            while (prepared := _get(ready_queue, stop)) not in (_DONE, None):
                state = self._finish(prepared, state, geocoding)
        except BaseException as exc:
            failures.insert(0, exc)
            raise
        finally:
            stop.set()
            for worker in (reader, preparer):
                worker.join()
            # On success nothing is left running; after a failure or a signal, geocoder
            # requests still in flight are left to finish alone rather than waited for.
            geocoding.shutdown(wait=False)
        if failures:
            raise failures[0]
        self._raise_if_shutting_down()
        return state

    def _geocode_scheduler(self) -> GeocodeScheduler:
        return GeocodeScheduler(
            self._geocoder,
            self._options.geocoder_concurrency,
            self._options.geocoder_max_concurrency,
        )

    @staticmethod
    def _count_skip(summary: StreamSummary, skip: SkippedRow, patron_id: str) -> None:
        summary.skipped[skip.reason] += 1
        logger.warning(
            "Row skipped",
            extra={"stream": summary.stream, "reason": skip.reason, "patron_id": patron_id},
        )


@contextmanager
def _timed(message: str, batch: _Batch) -> Iterator[None]:
    started = time.monotonic()
    yield
    logger.debug(
        message,
        extra={
            "stream": batch.stream.name,
            "rows": len(batch.rows),
            "seconds": round(time.monotonic() - started, 3),
        },
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
