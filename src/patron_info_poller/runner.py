"""Runs the pipeline on parts built from the configuration (parts.py): one run of every
stream from the live state, or a replay of one stream's window that never touches it."""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import replace
from datetime import datetime, timedelta

from . import parts
from .avro_codec import PatronInfoEncoder
from .config import PollerConfig
from .cursor import Cursor
from .databases.sierra import SierraSource
from .databases.warehouse import Warehouse
from .obfuscation import Obfuscator
from .pipeline import Pipeline, ProgressCallback, RunOptions, RunSummary, ShutdownRequest
from .sinks import RecordSink
from .sinks.spec import KINESIS, SinkSpec, open_file_sink
from .state.store import MemoryStateStore, StateStore
from .streams import ALL_STREAMS, NEW, StreamSpec


def run_options(config: PollerConfig) -> RunOptions:
    return RunOptions(
        active_batch_size=config.active_batch_size,
        deleted_batch_size=config.deleted_batch_size,
        commit_lag=timedelta(seconds=config.sierra_commit_lag_seconds),
        initial_state=parts.initial_state(config),
        max_batches=config.max_batches,
        streams=(NEW,) if config.backfill else ALL_STREAMS,
        send=not config.ignore_kinesis,
        save_state=config.ignore_cache or not config.ignore_kinesis,
        batches_in_flight=config.batches_in_flight,
        geocoder_concurrency=config.geocoder_concurrency,
        geocoder_max_concurrency=config.geocoder_max_concurrency,
    )


def run_once(
    config: PollerConfig,
    *,
    sink: SinkSpec = KINESIS,
    on_batch: ProgressCallback | None = None,
    store: StateStore | None = None,
    shutdown: ShutdownRequest | None = None,
) -> RunSummary:
    """Every stream from the live state. A file sink is a dry run: it reads the state and
    never moves it, since the records it wrote never reached the warehouse."""
    options = run_options(config)
    if sink.is_file:
        options = replace(options, save_state=False)
    return _run(config, options, store or parts.state_store(config), sink, on_batch, shutdown)


def replay(
    config: PollerConfig,
    *,
    stream: StreamSpec,
    since: datetime,
    until: datetime,
    sink: SinkSpec = KINESIS,
    on_batch: ProgressCallback | None = None,
    shutdown: ShutdownRequest | None = None,
) -> RunSummary:
    """One stream's changes in [since, until) sent again; the live state is never read or
    written (the replay keeps its own cursor in memory)."""
    start = Cursor(since.date() if stream.cursor_is_date else since)
    options = replace(
        run_options(config),
        initial_state=parts.initial_state(config).with_cursor(stream, start),
        streams=(stream,),
        until=until,
        max_batches=None,
        send=True,
        save_state=True,  # into the memory store only
    )
    store = MemoryStateStore(options.initial_state)
    return _run(config, options, store, sink, on_batch, shutdown, lock_purpose="replay")


def _run(
    config: PollerConfig,
    options: RunOptions,
    store: StateStore,
    sink_spec: SinkSpec,
    on_batch: ProgressCallback | None,
    shutdown: ShutdownRequest | None,
    lock_purpose: str = "run",
) -> RunSummary:
    with ExitStack() as resources:
        # One run at a time: whatever sends to Kinesis or writes the live state takes the
        # lock; a second one stops here (exit 5) having done nothing. Dry runs do not.
        writes_state = options.save_state and not isinstance(store, MemoryStateStore)
        sends_to_stream = options.send and not sink_spec.is_file
        if not config.ignore_cache and (writes_state or sends_to_stream):
            resources.enter_context(parts.run_lock(config, lock_purpose))
        schema = parts.schema(config)
        source = SierraSource(parts.sierra_settings(config))
        resources.callback(source.close)
        warehouse = Warehouse(parts.warehouse_settings(config), config.redshift_table)
        resources.callback(warehouse.close)
        geocoder = parts.geocoder_chain(config, resources)
        obfuscator = Obfuscator(config.bcrypt_salt.get_secret_value())
        resources.callback(obfuscator.close)
        sink: RecordSink = (
            open_file_sink(sink_spec, schema) if sink_spec.is_file else parts.kinesis_sink(config)
        )
        pipeline = Pipeline(
            source=source,
            warehouse=warehouse,
            geocoder=geocoder,
            obfuscator=obfuscator,
            encoder=PatronInfoEncoder(schema),
            sink=sink,
            state_store=store,
            options=options,
            on_batch=on_batch,
            shutdown=shutdown,
        )
        try:
            summary = pipeline.run()
        except BaseException:
            sink.abort()  # a file sink keeps nothing of a failed run
            raise
        sink.close()
        return summary
