"""The backfill's driver: make a plan or resume one, run its chunks on Dask, follow them,
sum up, and with `--advance-state` move the new stream's cursor to the plan's end.

Resume: an unfinished plan (not every chunk has its marker, and not abandoned) with the
same window is resumed: its finished chunks are skipped. Another window while one is
unfinished is an error, unless `--restart` abandons it. Without `--until`, a later run
resumes whatever window the unfinished plan has (its end was the frozen now).

The backfill never reads or writes the incremental cursors, and takes no run lock, unless
`--advance-state`: then, once every chunk is done, the `new` cursor moves forward to the
plan's end if it is behind it (and not before the window: patrons created in between
were not sent), with a conditional write.

A dry run (`--sink avro-file:PATH` or `jsonl:PATH`) stores nothing: no plan, no marker, no
progress, no state; the chunks hand their encoded records back and the driver writes the
one file, whole at the end or not at all.
"""

from __future__ import annotations

import logging
import secrets
import statistics
import time
from collections.abc import Sequence
from contextlib import ExitStack, suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from .. import __version__, parts
from ..aws_clients import aws_client
from ..config import PollerConfig
from ..databases.connection import ReconnectingDatabase
from ..databases.sierra import SierraSource
from ..errors import ConfigurationError, PollerError, RunInterrupted
from ..pipeline import ShutdownRequest
from ..sinks.files import FileSink
from ..sinks.spec import KINESIS, SinkSpec, open_file_sink
from .advance_state import advance_new_cursor
from .chunk import (
    PROGRESS_TOPIC,
    ChunkFailed,
    ChunkJob,
    ChunkLimits,
    ChunkResult,
    ConfigSource,
    chunk_key,
    close_worker_parts,
    lease_name,
    run_chunk,
)
from .cluster import ClusterSpec, connect, workers_and_threads
from .limits import KinesisShare, open_shard_count
from .plan import (
    BackfillPlan,
    bcrypt_cost,
    chunk_rows_for,
    make_plan,
    measure_hash_rate,
    plan_tiles,
)
from .progress import BackfillSummary, ProgressCallback, ProgressTracker
from .store import BackfillStore

logger = logging.getLogger(__name__)

HASH_RATE_SECONDS = 0.5
FOLLOW_INTERVAL_SECONDS = 0.2


class BackfillError(PollerError):
    """A chunk failed; the chunks that finished keep their markers."""

    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code


@dataclass(frozen=True)
class BackfillOptions:
    config_source: ConfigSource
    since: datetime | None = None  # default STARTING_CREATION_DT
    until: datetime | None = None  # default the frozen now
    chunk_rows: int | None = None  # --chunk-size; default from the measured hash rate
    sink: SinkSpec = KINESIS
    advance_state: bool = False
    restart: bool = False


@dataclass(frozen=True)
class Decision:
    action: Literal["new", "resume"]
    plan: BackfillPlan | None = None  # the plan to resume
    abandon: tuple[BackfillPlan, ...] = ()  # unfinished plans --restart gives up


def decide(
    unfinished: Sequence[BackfillPlan],
    since: datetime,
    until: datetime | None,
    restart: bool,
    finished: BackfillPlan | None = None,
) -> Decision:
    """Plan anew, or resume the unfinished plan (newest first in `unfinished`). With no
    unfinished plan, `finished` (the newest done plan, given only with --advance-state)
    of the same window is resumed: nothing is left to send, only the cursor to move, as
    when a backfill died between its last chunk and its state write."""
    if not unfinished:
        if finished is not None and not restart and _same_window(finished, since, until):
            return Decision("resume", plan=finished)
        return Decision("new")
    if restart:
        return Decision("new", abandon=tuple(unfinished))
    latest = unfinished[0]
    if _same_window(latest, since, until):
        return Decision("resume", plan=latest)
    raise ConfigurationError(
        f"an unfinished backfill (plan {latest.plan_id}, window {latest.window_text()}) "
        "exists: run backfill with the same --since and --until to resume it, or add "
        "--restart to abandon it"
    )


def _same_window(plan: BackfillPlan, since: datetime, until: datetime | None) -> bool:
    return since == plan.since and (until is None or until == plan.until)


def run_backfill(
    config: PollerConfig,
    options: BackfillOptions,
    *,
    cluster: ClusterSpec | None = None,
    client: Any = None,
    on_progress: ProgressCallback | None = None,
    shutdown: ShutdownRequest | None = None,
) -> BackfillSummary:
    """Plans or resumes, runs every chunk not done, returns the summary. `client`: an
    existing Dask client to use (else one from `cluster`)."""
    started, cpu_started = time.monotonic(), time.process_time()
    _check(config, options)
    since = options.since or config.starting_creation_dt
    if options.until is not None and since >= options.until:
        raise ConfigurationError("--since must be before --until")
    shutdown = shutdown or ShutdownRequest()
    with ExitStack() as resources:
        file_sink: FileSink | None = None
        if options.sink.is_file:
            file_sink = open_file_sink(options.sink, parts.schema(config))
            resources.callback(file_sink.abort)  # does nothing once closed
        store = None
        if file_sink is None:
            s3 = aws_client(config, "s3")
            resources.callback(s3.close)
            store = BackfillStore(s3, config.s3_bucket, config.s3_resource)
        decision = (
            decide(
                store.unfinished_plans(),
                since,
                options.until,
                options.restart,
                store.latest_finished_plan() if options.advance_state else None,
            )
            if store is not None
            else Decision("new")
        )
        if client is None:
            client = resources.enter_context(connect(cluster or ClusterSpec()))
        if decision.plan is not None:
            plan = decision.plan
            _check_resumable(plan, config)
            if options.chunk_rows is not None and options.chunk_rows != plan.chunk_rows:
                logger.warning(
                    "--chunk-size is ignored: a resumed plan keeps its chunks",
                    extra={"plan_id": plan.plan_id, "chunk_rows": plan.chunk_rows},
                )
        else:
            plan = _new_plan(config, options, since, client)
            if store is not None:
                for old in decision.abandon:
                    store.abandon(old.plan_id, _abandoned(old, plan))
                    logger.warning(
                        "Backfill plan abandoned",
                        extra={"plan_id": old.plan_id, "by": plan.plan_id},
                    )
                if plan.chunks:
                    store.create_plan(plan)
        done_before = store.markers(plan.plan_id) if store is not None else {}
        summary = BackfillSummary(
            plan_id=plan.plan_id,
            window=plan.window_text(),
            dry_run=store is None,
            resumed=decision.action == "resume",
            chunks_total=plan.chunk_count,
            chunks_done_before=len(done_before),
        )
        for marker in done_before.values():
            summary.count(marker)
        details = {
            "plan_id": plan.plan_id,
            "window": plan.window_text(),
            "chunks": plan.chunk_count,
            "chunks_done": len(done_before),
            "patrons": plan.rows,
            "chunk_rows": plan.chunk_rows,
            "dry_run": summary.dry_run,
        }
        if summary.resumed:
            # Said where operators look: a resume may not be what they meant.
            logger.warning("Resuming an unfinished backfill plan", extra=details)
        else:
            logger.info("Backfill plan made", extra=details)
        run = _Run(
            config, options, client, plan, store, done_before, summary, file_sink, shutdown, started
        )
        todo = [n for n in range(plan.chunk_count) if n not in done_before]
        if todo:
            _run_chunks(run, todo, on_progress)
        if file_sink is not None:
            file_sink.close()
            summary.output = str(file_sink.path)
        if options.advance_state:
            summary.state_change = advance_new_cursor(config, plan)
    summary.wall_seconds = time.monotonic() - started
    summary.driver_cpu_seconds = time.process_time() - cpu_started
    return summary


def _check(config: PollerConfig, options: BackfillOptions) -> None:
    if config.ignore_cache or not (config.s3_bucket and config.s3_resource):
        raise ConfigurationError(
            "backfill needs S3_BUCKET and S3_RESOURCE (its plan and chunk markers are kept "
            "beside the state), and IGNORE_CACHE off"
        )
    if options.sink.is_file and options.advance_state:
        raise ConfigurationError(
            "--advance-state needs the records on Kinesis; a dry run (--sink to a file) never "
            "moves the state"
        )
    if options.sink.is_file and options.restart:
        raise ConfigurationError("--restart abandons a stored plan; a dry run stores none")
    if not options.sink.is_file and config.ignore_kinesis:
        raise ConfigurationError(
            "IGNORE_KINESIS is set, so a backfill to Kinesis would send nothing; for a dry "
            "run use --sink avro-file:PATH or jsonl:PATH"
        )
    if options.chunk_rows is not None and options.chunk_rows < 1:
        raise ConfigurationError("--chunk-size must be at least 1")


def _check_resumable(plan: BackfillPlan, config: PollerConfig) -> None:
    if not plan.opens_with(parts.id_sealer(config)):
        raise ConfigurationError(
            f"the unfinished backfill plan {plan.plan_id} was sealed under another BCRYPT_SALT; "
            "add --restart to abandon it and plan anew"
        )
    if plan.code_version != __version__:
        logger.warning(
            "Resuming a plan made by another version",
            extra={"plan_id": plan.plan_id, "plan_version": plan.code_version},
        )


def _new_plan(
    config: PollerConfig, options: BackfillOptions, since: datetime, client: Any
) -> BackfillPlan:
    source = SierraSource(parts.sierra_settings(config))
    try:
        sierra_now = source.frozen_now()
    finally:
        source.close()
    frozen_bound = sierra_now - timedelta(seconds=config.sierra_commit_lag_seconds)
    until = options.until or frozen_bound
    upper = min(until, frozen_bound)
    if since >= upper:
        raise ConfigurationError(
            f"nothing to backfill: --since {since.isoformat()} is not before the window's end "
            f"{upper.isoformat()} (the frozen now, or --until)"
        )
    cost = bcrypt_cost(config.bcrypt_salt.get_secret_value())
    rate: float | None = None
    if options.chunk_rows is not None:
        chunk_rows, slots = options.chunk_rows, 1
    else:
        rate = _hash_rate(client, cost)
        chunk_rows = chunk_rows_for(rate)
        slots = workers_and_threads(client)[1]
    db = ReconnectingDatabase(parts.sierra_settings(config))
    try:
        tiles = plan_tiles(db, since, upper, chunk_rows, slots)
    finally:
        db.close()
    return make_plan(
        tiles=tiles,
        since=since,
        until=until,
        until_given=options.until is not None,
        frozen_bound=frozen_bound,
        bcrypt_cost=cost,
        chunk_rows=chunk_rows,
        hashes_per_second=None if rate is None else round(rate, 2),
        sealer=parts.id_sealer(config),
        now=datetime.now(UTC).replace(microsecond=0),
    )


def _hash_rate(client: Any, cost: int) -> float:
    """One thread's bcrypt rate at `cost`, measured where the chunks will hash: on every
    worker at once (so no core idles meanwhile); the median."""
    token = secrets.token_hex(4)
    workers = sorted(client.scheduler_info(n_workers=-1)["workers"])
    rates = client.gather(
        [
            client.submit(
                measure_hash_rate,
                cost,
                HASH_RATE_SECONDS,
                key=f"backfill-hash-rate-{token}-{index}",
                workers=[address],
                pure=False,
            )
            for index, address in enumerate(workers)
        ]
    )
    return statistics.median(rates)


def _abandoned(old: BackfillPlan, new: BackfillPlan) -> dict[str, Any]:
    return {
        "plan_id": old.plan_id,
        "abandoned_at": datetime.now(UTC).isoformat(),
        "replaced_by": new.plan_id,
        "reason": "backfill --restart",
    }


@dataclass
class _Run:
    """What the steps of one backfill share."""

    config: PollerConfig
    options: BackfillOptions
    client: Any
    plan: BackfillPlan
    store: BackfillStore | None  # None: a dry run
    done_before: dict[int, dict[str, Any]]  # markers of chunks finished by earlier runs
    summary: BackfillSummary
    file_sink: FileSink | None
    shutdown: ShutdownRequest
    started: float


def _run_chunks(run: _Run, todo: list[int], on_progress: ProgressCallback | None) -> None:
    """Submits the chunks not done, follows them to the end (or the first failure)."""
    from distributed import Semaphore

    config, client, plan, store = run.config, run.client, run.plan, run.store
    limits = ChunkLimits(
        geocoder_leases=config.backfill_geocoder_concurrency,
        sierra_leases=config.backfill_sierra_connections,
        kinesis=_kinesis_share(config, client) if store is not None else None,
    )
    # The plan's semaphores, registered here so that their sizes are the driver's.
    sizes = {"geocoder": limits.geocoder_leases, "sierra": limits.sierra_leases}
    leases = [
        Semaphore(size, lease_name(plan.plan_id, what), client.scheduler, client.loop)
        for what, size in sizes.items()
    ]
    for lease in leases:
        lease.register()
    tracker = ProgressTracker(plan, run.done_before, on_progress, run.started)
    client.subscribe_topic(PROGRESS_TOPIC, tracker.on_event)
    dry_run_plan = plan.to_json() if store is None else None
    store_at = (store.bucket, config.s3_resource) if store is not None else None
    futures = {
        client.submit(
            run_chunk,
            ChunkJob(plan.plan_id, n, run.options.config_source, limits, store_at, dry_run_plan),
            key=chunk_key(plan.plan_id, n),
            pure=False,
        ): n
        for n in todo
    }
    if on_progress is not None:
        on_progress(tracker.start())
    try:
        _follow(futures, tracker, run)
    finally:
        with suppress(Exception):
            client.unsubscribe_topic(PROGRESS_TOPIC)
        client.cancel([future for future in futures if not future.done()])
        for lease in leases:
            with suppress(Exception):
                lease.close()
        with suppress(Exception):
            client.run(close_worker_parts)


def _kinesis_share(config: PollerConfig, client: Any) -> KinesisShare:
    kinesis = aws_client(config, "kinesis")
    try:
        shards = open_shard_count(kinesis, config.kinesis_stream_arn)
    finally:
        kinesis.close()
    workers = workers_and_threads(client)[0]
    share = KinesisShare.of(shards, workers)
    logger.info(
        "Kinesis budget per worker",
        extra={
            "open_shards": shards,
            "workers": workers,
            "records_per_second": round(share.records_per_second, 1),
            "bytes_per_second": round(share.bytes_per_second),
        },
    )
    return share


def _follow(futures: dict[Any, int], tracker: ProgressTracker, run: _Run) -> None:
    """Takes each chunk's result as it finishes; stops at the first failure or signal."""
    from distributed import as_completed

    summary, file_sink, shutdown = run.summary, run.file_sink, run.shutdown
    finishing = as_completed(futures)
    while not finishing.is_empty():
        if shutdown.is_set():
            raise RunInterrupted(
                "backfill stopped by a signal; finished chunks keep their markers and "
                "`backfill` resumes the rest",
                shutdown.signal_number,
            )
        if not finishing.has_ready():
            shutdown.wait(FOLLOW_INTERVAL_SECONDS)
            continue
        for future in finishing.next_batch(block=False):
            number = futures[future]
            if future.status != "finished":
                raise _chunk_error(number, future)
            result: ChunkResult = future.result()
            future.release()
            if file_sink is not None and result.records:
                file_sink.send(result.records)
            sent = int(result.marker.get("sent", 0))
            summary.chunks_run += 1
            summary.sent_this_run += sent
            summary.worker_cpu_seconds += float(result.marker.get("cpu_seconds", 0.0))
            if result.already_done:
                # The marker that stands is another attempt's: count it, and everything
                # this attempt sent as duplicates.
                summary.count(result.standing or {})
                summary.duplicates += sent
            else:
                summary.count(result.marker)
            tracker.chunk_done(number, result.standing or result.marker)


def _chunk_error(number: int, future: Any) -> BackfillError:
    resume = "finished chunks keep their markers: run backfill again to resume"
    try:
        exc = future.exception()
    except Exception as cancelled:  # a cancelled future has no exception to give
        exc = cancelled
    if isinstance(exc, ChunkFailed):
        return BackfillError(f"{exc}; {resume}", exc.exit_code)
    if type(exc).__name__ == "KilledWorker":
        return BackfillError(
            f"chunk {number}: every worker that ran it died (out of memory?); {resume}", 1
        )
    return BackfillError(f"chunk {number}: {type(exc).__name__}; {resume}", 1)
