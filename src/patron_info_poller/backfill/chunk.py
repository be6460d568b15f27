"""One chunk of a backfill, as a Dask task: a pipeline run of the new stream over the
chunk's id range, from the window's start to the plan's frozen bound.

A chunk IS a run: the same Pipeline, built from the same parts (parts.py) as `run`, with
a Sierra source limited to [lo, hi), the plan's frozen bound as its clock, a state kept in
memory, and the Kinesis sink (within the worker's share of the stream, see limits.py) or,
in a dry run, a sink that hands the encoded records back to the driver for its file.
Only after the pipeline returned, so every record was accepted, is the chunk's marker
written.

The task's argument (`ChunkJob`) carries no secret and no record id: the plan's
location, the chunk's number and where the configuration comes from. The worker loads
the configuration itself (its environment and image are the driver's), keeps its parts
between chunks, opens the chunk's sealed bounds in memory and logs as the poller does.
An error leaves the worker as a `ChunkFailed` carrying the error's type, its message
(messages never hold patron data) and its exit code, and no chained cause.
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from .. import parts
from ..avro_codec import PatronInfoEncoder
from ..aws_clients import aws_client
from ..config import PollerConfig, load_config
from ..cursor import Cursor
from ..databases.sierra import SierraSource
from ..databases.warehouse import Warehouse
from ..errors import PollerError, unexpected
from ..logs import configure_logging
from ..obfuscation import Obfuscator
from ..pipeline import Pipeline, RunOptions, StreamSummary
from ..runner import run_options
from ..sinks import EncodedRecord
from ..state.store import MemoryStateStore
from ..streams import NEW
from .limits import ChunkSource, KinesisBudget, KinesisShare, Lease, leased_chain
from .plan import BackfillPlan
from .store import BackfillStore

logger = logging.getLogger(__name__)

# Dask event topic of a plan's per-batch progress (counts only), for the driver's display.
PROGRESS_TOPIC = "patron-info-poller-backfill-progress"


@dataclass(frozen=True)
class ConfigSource:
    """Where a worker finds the configuration: ENVIRONMENT's file in `config_dir`, then
    its own environment (which, on a LocalCluster, is the driver's)."""

    environment: str | None
    config_dir: str

    def load(self) -> PollerConfig:
        return load_config(self.environment, os.environ, Path(self.config_dir))


@dataclass(frozen=True)
class ChunkLimits:
    """The cluster-wide caps, as the driver's configuration sets them."""

    geocoder_leases: int
    sierra_leases: int
    kinesis: KinesisShare | None  # this worker's share of the stream; None in a dry run


@dataclass(frozen=True)
class ChunkJob:
    """A chunk task's argument: no secret and no record id."""

    plan_id: str
    chunk: int
    config: ConfigSource
    limits: ChunkLimits
    # (bucket, state key) of the plan's objects; None in a dry run, which stores nothing
    # and hands the plan (its boundaries sealed) to the workers instead.
    store_at: tuple[str, str] | None
    dry_run_plan: dict[str, Any] | None = field(default=None, repr=False)

    @property
    def dry_run(self) -> bool:
        return self.store_at is None


@dataclass(frozen=True)
class ChunkResult:
    chunk: int
    marker: dict[str, Any]  # what chunks/<n>.json holds (a dry run's is not stored)
    records: tuple[EncodedRecord, ...] = ()  # a dry run's records, for the driver's file
    already_done: bool = False  # another attempt's marker was there first
    standing: dict[str, Any] | None = None  # that attempt's marker, when already_done


class ChunkFailed(Exception):
    """A chunk's error as it leaves the worker: type, message, exit code, no cause."""

    def __init__(self, chunk: int, error_type: str, message: str, exit_code: int):
        super().__init__(chunk, error_type, message, exit_code)
        self.chunk = chunk
        self.error_type = error_type
        self.message = message
        self.exit_code = exit_code

    def __str__(self) -> str:
        return f"chunk {self.chunk}: {self.error_type}: {self.message}"


def chunk_key(plan_id: str, chunk: int) -> str:
    """The chunk's Dask task key: the plan id and the chunk number, nothing else."""
    return f"backfill-{plan_id}-chunk-{chunk}"


def lease_name(plan_id: str, what: str) -> str:
    return f"patron-info-poller-backfill-{plan_id}-{what}"


def chunk_marker(
    *,
    plan_id: str,
    chunk: int,
    attempt: str,
    stream: StreamSummary,
    earlier_attempts: Sequence[dict[str, Any]],
    hashes_computed: int,
    seconds: float,
    cpu_seconds: float,
    finished_at: datetime,
) -> dict[str, Any]:
    """A finished chunk's marker: counts and the obfuscated patron_ids of the first and
    last records sent. Earlier attempts (that died) sent records this one sent again."""
    return {
        "plan_id": plan_id,
        "chunk": chunk,
        "attempt": attempt,
        "attempts": len(earlier_attempts) + 1,
        "read": stream.read,
        "sent": stream.sent,
        "skipped": dict(sorted(stream.skipped.items())),
        "first_sent": stream.first_sent,
        "last_sent": stream.last_sent,
        "duplicates": sum(int(a.get("sent", 0)) for a in earlier_attempts),
        "kinesis_records_retried": stream.records_retried,
        "geocode_requested": stream.geocode_requested,
        "geocode_matched": stream.geocode_matched,
        "hashes_computed": hashes_computed,
        "seconds": round(seconds, 3),
        "cpu_seconds": round(cpu_seconds, 3),
        "finished_at": finished_at.isoformat(),
    }


def run_chunk(job: ChunkJob) -> ChunkResult:
    """The Dask task. Raises only ChunkFailed."""
    failure: ChunkFailed | None = None
    try:
        return _run_chunk(job)
    except PollerError as exc:
        failure = ChunkFailed(job.chunk, type(exc).__name__, str(exc), exc.exit_code)
    except Exception as exc:
        # An unexpected error's message may quote a value: only its type and place.
        failure = ChunkFailed(job.chunk, "unexpected", unexpected(exc), 1)
    logger.error(
        "Backfill chunk failed",
        extra={"chunk": job.chunk, "error_type": failure.error_type, "error": failure.message},
    )
    raise failure  # outside the except blocks: nothing of the original is chained


class CollectingSink:
    """A dry run's sink in a chunk: keeps the encoded records for the driver's file."""

    def __init__(self) -> None:
        self.records: list[EncodedRecord] = []
        self.records_retried = 0

    def send(self, records: Sequence[EncodedRecord]) -> int:
        self.records.extend(records)
        return len(records)

    def close(self) -> None:
        """The records go back to the driver with the chunk's result."""

    def abort(self) -> None:
        self.records.clear()


class _Progress:
    """After each sent batch: the attempt's progress object, and a progress event."""

    def __init__(self, job: ChunkJob, store: BackfillStore | None, attempt: str):
        self._job = job
        self._store = store
        self._attempt = attempt
        self._started_at = datetime.now(UTC).isoformat()

    def on_batch(self, stream: StreamSummary) -> None:
        job = self._job
        counts = {"batches": stream.batches, "read": stream.read, "sent": stream.sent}
        if self._store is not None:
            document = {
                "plan_id": job.plan_id,
                "chunk": job.chunk,
                "attempt": self._attempt,
                "started_at": self._started_at,
                "updated_at": datetime.now(UTC).isoformat(),
                **counts,
            }
            try:
                self._store.write_progress(job.plan_id, job.chunk, self._attempt, document)
            except PollerError as exc:
                # Progress only counts duplicates; it must not stop a chunk that delivers.
                logger.warning(
                    "Could not record a chunk's progress; its duplicates may be undercounted",
                    extra={"chunk": job.chunk, "error": str(exc)},
                )
        _log_event({"plan_id": job.plan_id, "chunk": job.chunk, "attempt": self._attempt, **counts})


def _run_chunk(job: ChunkJob) -> ChunkResult:
    started, cpu_started = time.monotonic(), time.process_time()
    worker = _worker_for(job.config)
    config = worker.config
    plan = worker.plan(job)
    store = worker.store(job)
    attempt = secrets.token_hex(6)
    standing = store.marker(job.plan_id, job.chunk) if store is not None else None
    if standing is not None:
        # Done by an attempt whose worker died before Dask heard of it: nothing to resend.
        logger.info("Backfill chunk already done", extra={"chunk": job.chunk})
        return ChunkResult(job.chunk, {"chunk": job.chunk}, (), True, standing)
    logger.info(
        "Backfill chunk starting",
        extra={"plan_id": job.plan_id, "chunk": job.chunk, "attempt": attempt},
    )
    source = ChunkSource(
        SierraSource(
            parts.sierra_settings(config), id_range=plan.chunk_range(job.chunk, worker.sealer)
        ),
        plan.frozen_bound,
        worker.lease(job, "sierra", job.limits.sierra_leases),
    )
    sink: Any
    if job.dry_run:
        sink = CollectingSink()
    else:
        sink = parts.kinesis_sink(
            config, worker.kinesis(), rate_limiter=worker.kinesis_budget(job.limits.kinesis)
        )
    obfuscator = Obfuscator(config.bcrypt_salt.get_secret_value(), workers=_hashing_threads())
    options = _chunk_options(config, plan)
    pipeline = Pipeline(
        source=source,
        warehouse=worker.warehouse,
        geocoder=leased_chain(
            worker.geocoder, worker.lease(job, "geocoder", job.limits.geocoder_leases)
        ),
        obfuscator=obfuscator,
        encoder=worker.encoder,
        sink=sink,
        state_store=MemoryStateStore(options.initial_state),
        options=options,
        on_batch=_Progress(job, store, attempt).on_batch,
    )
    try:
        summary = pipeline.run()
    except BaseException:
        sink.abort()
        raise
    finally:
        source.close()
        obfuscator.close()
    sink.close()
    stream = summary.streams[0]
    earlier = (
        [a for a in store.attempts(job.plan_id, job.chunk) if a.get("attempt") != attempt]
        if store is not None
        else []
    )
    marker = chunk_marker(
        plan_id=job.plan_id,
        chunk=job.chunk,
        attempt=attempt,
        stream=stream,
        earlier_attempts=earlier,
        hashes_computed=summary.hashes_computed,
        seconds=time.monotonic() - started,
        cpu_seconds=time.process_time() - cpu_started,
        finished_at=datetime.now(UTC),
    )
    already_done = False
    if store is not None and not store.write_marker(job.plan_id, job.chunk, marker):
        already_done = True
        standing = store.marker(job.plan_id, job.chunk)
        logger.warning(
            "Another attempt finished this chunk first; this one's records were duplicates",
            extra={"chunk": job.chunk, "sent": stream.sent},
        )
    logger.info(
        "Backfill chunk done",
        extra={
            "plan_id": job.plan_id,
            "chunk": job.chunk,
            "attempt": attempt,
            "read": marker["read"],
            "sent": marker["sent"],
            "duplicates": marker["duplicates"],
            "seconds": marker["seconds"],
            "worker_pid": os.getpid(),
        },
    )
    records = tuple(sink.records) if isinstance(sink, CollectingSink) else ()
    return ChunkResult(job.chunk, marker, records, already_done, standing)


def _chunk_options(config: PollerConfig, plan: BackfillPlan) -> RunOptions:
    """A run's options, for the new stream of the chunk's window only: from `since`
    (inclusive) to the plan's end, with the state in memory."""
    options = run_options(config)
    return replace(
        options,
        initial_state=options.initial_state.with_cursor(NEW, Cursor(plan.since)),
        streams=(NEW,),
        until=plan.until,
        commit_lag=timedelta(0),  # the plan's frozen bound has it already
        max_batches=None,
        send=True,
        save_state=True,  # into the memory store only
    )


class _WorkerParts:
    """What a worker process keeps between chunks for one configuration source."""

    def __init__(self, source: ConfigSource):
        self.config = source.load()
        _configure_logging_once(self.config.log_level)
        self.resources = ExitStack()
        try:
            self.sealer = parts.id_sealer(self.config)
            self.encoder = PatronInfoEncoder(parts.schema(self.config))
            self.geocoder = parts.geocoder_chain(self.config, self.resources)
            self.warehouse = Warehouse(
                parts.warehouse_settings(self.config), self.config.redshift_table
            )
            self.resources.callback(self.warehouse.close)
            self.s3 = aws_client(self.config, "s3")
            self.resources.callback(self.s3.close)
        except BaseException:
            self.resources.close()
            raise
        self._kinesis: Any = None
        self._plans: dict[str, BackfillPlan] = {}
        self._leases: dict[str, Lease] = {}
        self._budgets: dict[KinesisShare, KinesisBudget] = {}
        self._lock = threading.Lock()

    def store(self, job: ChunkJob) -> BackfillStore | None:
        if job.store_at is None:
            return None
        bucket, state_key = job.store_at
        return BackfillStore(self.s3, bucket, state_key)

    def plan(self, job: ChunkJob) -> BackfillPlan:
        with self._lock:
            if job.plan_id not in self._plans:
                store = self.store(job)
                if store is None:
                    self._plans[job.plan_id] = BackfillPlan.from_json(
                        job.dry_run_plan, f"the dry run's plan {job.plan_id}"
                    )
                else:
                    self._plans[job.plan_id] = store.load_plan(job.plan_id)
            return self._plans[job.plan_id]

    def lease(self, job: ChunkJob, what: str, leases: int) -> Lease | None:
        """The plan's cluster-wide semaphore (None outside a Dask worker)."""
        if not _in_worker():
            return None
        from distributed import Semaphore

        name = lease_name(job.plan_id, what)
        with self._lock:
            if name not in self._leases:
                self._leases[name] = Semaphore(max_leases=leases, name=name)
            return self._leases[name]

    def kinesis(self) -> Any:
        """One Kinesis client for every chunk this worker runs (a client per chunk would
        leave its connections open until the garbage collector found it)."""
        with self._lock:
            if self._kinesis is None:
                self._kinesis = aws_client(self.config, "kinesis")
                self.resources.callback(self._kinesis.close)
            return self._kinesis

    def kinesis_budget(self, share: KinesisShare | None) -> KinesisBudget | None:
        if share is None:
            return None
        with self._lock:
            return self._budgets.setdefault(share, KinesisBudget(share))

    def close(self) -> None:
        # A semaphore renews its leases on the worker's event loop until stopped; closing
        # it would delete it on the scheduler, under other workers' feet.
        for lease in self._leases.values():
            renewal = getattr(lease, "refresh_callback", None)
            if renewal is not None:
                renewal.stop()
        self._leases.clear()
        self.resources.close()


_workers: dict[ConfigSource, _WorkerParts] = {}
_workers_lock = threading.Lock()
_logging_configured = False


def _worker_for(source: ConfigSource) -> _WorkerParts:
    with _workers_lock:
        if source not in _workers:
            _workers[source] = _WorkerParts(source)
        return _workers[source]


def close_worker_parts() -> int:
    """Closes what this process kept between chunks (run on every worker at the end of a
    backfill on a cluster that outlives it). Returns how many were closed."""
    with _workers_lock:
        kept = list(_workers.values())
        _workers.clear()
    for worker in kept:
        worker.close()
    return len(kept)


def _configure_logging_once(level: str) -> None:
    global _logging_configured
    if not _logging_configured:
        from .cluster import quiet_dask_logs

        configure_logging(level)
        quiet_dask_logs()
        _logging_configured = True


def _in_worker() -> bool:
    try:
        from distributed import get_worker

        get_worker()
    except (ImportError, ValueError):
        return False
    return True


def _hashing_threads() -> int:
    """A chunk's bcrypt threads. On a worker, one: a worker runs as many chunks at once as
    it has threads (`get_worker().state.nthreads`), so N one-thread workers hash on N
    cores, and a worker of k threads on k, not k * k (k chunks of k threads each)."""
    return 1 if _in_worker() else (os.cpu_count() or 1)


def _log_event(message: dict[str, Any]) -> None:
    try:
        from distributed import get_worker

        get_worker().log_event(PROGRESS_TOPIC, message)
    except (ImportError, ValueError):
        pass
