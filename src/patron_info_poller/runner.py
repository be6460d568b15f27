"""Builds the real parts from the configuration and runs the pipeline once."""

from __future__ import annotations

from contextlib import ExitStack
from datetime import timedelta

import httpx

from .avro_codec import PatronInfoEncoder, fetch_schema
from .aws_clients import aws_client
from .config import PollerConfig
from .database import DatabaseSettings
from .geocoding.census import CensusGeocoder, CensusSettings
from .geocoding.chain import GeocoderChain
from .geocoding.provider import GeocodingProvider
from .obfuscation import Obfuscator
from .pipeline import Pipeline, ProgressCallback, RunOptions, RunSummary, ShutdownRequest
from .sealed_ids import IdSealer
from .sierra import SierraSource
from .sinks.kinesis import KinesisSink
from .state import MemoryStateStore, PollerState, S3StateStore, StateStore
from .warehouse import Warehouse, warehouse_connection_options


def census_settings(config: PollerConfig) -> CensusSettings:
    key = config.geocoder_api_key
    assert config.geocoder_api_base_url  # the configuration requires it with census
    return CensusSettings(
        url=config.geocoder_api_base_url,
        benchmark=config.geocoder_api_benchmark or "",
        vintage=config.geocoder_api_vintage or "",
        api_key=key.get_secret_value() if key else None,
        batch_size=config.geocoder_batch_size,
        concurrency=config.geocoder_concurrency,
        timeout_seconds=config.geocoder_timeout_seconds,
        max_attempts=config.geocoder_max_attempts,
        backoff_seconds=config.geocoder_retry_backoff_seconds,
        max_reasks=config.geocoder_max_reasks,
    )


def geocoding_provider(config: PollerConfig, name: str) -> GeocodingProvider:
    if name == "census":
        return CensusGeocoder(census_settings(config))
    raise AssertionError(f"unknown geocoding provider {name}")  # the configuration checks


def geocoder_chain(config: PollerConfig) -> GeocoderChain:
    providers: list[GeocodingProvider] = []
    try:
        for name in config.geocoder:
            providers.append(geocoding_provider(config, name))
    except BaseException:
        for provider in providers:
            provider.close()
        raise
    return GeocoderChain(providers)


def initial_state(config: PollerConfig) -> PollerState:
    return PollerState.starting_at(
        config.starting_creation_dt, config.starting_update_dt, config.starting_deletion_date
    )


def state_store(config: PollerConfig) -> StateStore:
    if config.ignore_cache:
        return MemoryStateStore(initial_state(config))
    assert config.s3_bucket and config.s3_resource  # enforced by the configuration
    return S3StateStore(
        aws_client(config, "s3"),
        config.s3_bucket,
        config.s3_resource,
        IdSealer(config.bcrypt_salt.get_secret_value()),
    )


def run_once(
    config: PollerConfig,
    *,
    on_batch: ProgressCallback | None = None,
    store: StateStore | None = None,
    shutdown: ShutdownRequest | None = None,
) -> RunSummary:
    with ExitStack() as resources:
        with httpx.Client(timeout=30.0) as http:
            schema = fetch_schema(config.patron_info_schema_url, http)
        source = SierraSource(
            DatabaseSettings(
                name="Sierra",
                host=config.sierra_db_host,
                port=config.sierra_db_port,
                dbname=config.sierra_db_name,
                user=config.sierra_db_user,
                password=config.sierra_db_password.get_secret_value(),
            )
        )
        resources.callback(source.close)
        warehouse = Warehouse(
            DatabaseSettings(
                name="warehouse",
                host=config.redshift_db_host,
                port=config.redshift_db_port,
                dbname=config.redshift_db_name,
                user=config.redshift_db_user,
                password=config.redshift_db_password.get_secret_value(),
                sslmode=config.redshift_db_sslmode,
                options=warehouse_connection_options(),
            ),
            config.redshift_table,
        )
        resources.callback(warehouse.close)
        geocoder = geocoder_chain(config)
        resources.callback(geocoder.close)
        obfuscator = Obfuscator(config.bcrypt_salt.get_secret_value())
        resources.callback(obfuscator.close)
        sink = KinesisSink(
            aws_client(config, "kinesis"),
            config.kinesis_stream_arn,
            batch_size=config.kinesis_batch_size,
            max_attempts=config.kinesis_max_attempts,
            backoff_seconds=config.kinesis_retry_backoff_seconds,
        )
        pipeline = Pipeline(
            source=source,
            warehouse=warehouse,
            geocoder=geocoder,
            obfuscator=obfuscator,
            encoder=PatronInfoEncoder(schema),
            sink=sink,
            state_store=store or state_store(config),
            options=RunOptions(
                active_batch_size=config.active_batch_size,
                deleted_batch_size=config.deleted_batch_size,
                commit_lag=timedelta(seconds=config.sierra_commit_lag_seconds),
                initial_state=initial_state(config),
                max_batches=config.max_batches,
                backfill=config.backfill,
                send=not config.ignore_kinesis,
                save_state=config.ignore_cache or not config.ignore_kinesis,
                batches_in_flight=config.batches_in_flight,
                geocoder_concurrency=config.geocoder_concurrency,
            ),
            on_batch=on_batch,
            shutdown=shutdown,
        )
        return pipeline.run()
