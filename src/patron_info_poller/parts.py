"""Builds the real parts from the configuration: the databases, the geocoder chain, the
Kinesis sink, the state store and the schema. Every command that touches services (a
run, a replay, a backfill chunk, `check`) builds them here, the same way."""

from __future__ import annotations

import logging
import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx

from .avro_codec import fetch_schema
from .aws_clients import aws_client
from .config import PollerConfig
from .databases.connection import DatabaseSettings
from .databases.warehouse import warehouse_connection_options
from .geocoding.census import CensusGeocoder, CensusSettings
from .geocoding.chain import GeocoderChain
from .geocoding.geosupport import GeosupportGeocoder
from .geocoding.index_location import is_s3, local_index
from .geocoding.provider import GeocodingProvider
from .geocoding.tiger import TigerGeocoder
from .sinks.kinesis import KinesisSink, RateLimiter
from .state.run_lock import RunLock
from .state.sealed_ids import IdSealer
from .state.store import MemoryStateStore, PollerState, S3StateStore, StateStore

logger = logging.getLogger(__name__)


def sierra_settings(config: PollerConfig) -> DatabaseSettings:
    return DatabaseSettings(
        name="Sierra",
        host=config.sierra_db_host,
        port=config.sierra_db_port,
        dbname=config.sierra_db_name,
        user=config.sierra_db_user,
        password=config.sierra_db_password.get_secret_value(),
    )


def warehouse_settings(config: PollerConfig) -> DatabaseSettings:
    return DatabaseSettings(
        name="warehouse",
        host=config.redshift_db_host,
        port=config.redshift_db_port,
        dbname=config.redshift_db_name,
        user=config.redshift_db_user,
        password=config.redshift_db_password.get_secret_value(),
        sslmode=config.redshift_db_sslmode,
        options=warehouse_connection_options(),
    )


def schema(config: PollerConfig) -> dict[str, Any]:
    with httpx.Client(timeout=30.0) as http:
        return fetch_schema(config.patron_info_schema_url, http)


def census_settings(config: PollerConfig, **overrides: Any) -> CensusSettings:
    key = config.geocoder_api_key
    assert config.geocoder_api_base_url  # the configuration requires it with census
    values: dict[str, Any] = {
        "url": config.geocoder_api_base_url,
        "benchmark": config.geocoder_api_benchmark or "",
        "vintage": config.geocoder_api_vintage or "",
        "api_key": key.get_secret_value() if key else None,
        "batch_size": config.geocoder_batch_size,
        "concurrency": config.geocoder_concurrency,
        "timeout_seconds": config.geocoder_timeout_seconds,
        "max_attempts": config.geocoder_max_attempts,
        "backoff_seconds": config.geocoder_retry_backoff_seconds,
        "max_reasks": config.geocoder_max_reasks,
    }
    return CensusSettings(**{**values, **overrides})


def tiger_index_path(config: PollerConfig, resources: ExitStack) -> Path:
    """TIGER_INDEX as a local file; an S3 index is downloaded for this run only."""
    assert config.tiger_index  # the configuration requires it with tiger
    if not is_s3(config.tiger_index):
        return local_index(config.tiger_index, None, Path("."))
    download_dir = Path(resources.enter_context(tempfile.TemporaryDirectory(prefix="tiger-")))
    return local_index(config.tiger_index, aws_client(config, "s3"), download_dir)


def geocoding_provider(config: PollerConfig, name: str, resources: ExitStack) -> GeocodingProvider:
    if name == "census":
        return CensusGeocoder(census_settings(config))
    if name == "tiger":
        tiger = TigerGeocoder.from_path(tiger_index_path(config, resources))
        logger.info(
            "Offline geocoder index loaded",
            extra={"tiger_year": tiger.meta.year, "counties": ",".join(tiger.meta.counties)},
        )
        return tiger
    if name == "geosupport":
        return GeosupportGeocoder.load()
    raise AssertionError(f"unknown geocoding provider {name}")  # the configuration checks


def geocoder_chain(config: PollerConfig, resources: ExitStack) -> GeocoderChain:
    """The GEOCODER chain; closed (and any downloaded index removed) with `resources`."""
    providers: list[GeocodingProvider] = []
    for name in config.geocoder:
        provider = geocoding_provider(config, name, resources)
        resources.callback(provider.close)
        providers.append(provider)
    return GeocoderChain(providers)


def kinesis_sink(
    config: PollerConfig, client: Any = None, rate_limiter: RateLimiter | None = None
) -> KinesisSink:
    """The sink, on `client` if given (a backfill worker keeps one between chunks), within
    `rate_limiter` if given (a backfill worker's share of the stream)."""
    return KinesisSink(
        client if client is not None else aws_client(config, "kinesis"),
        config.kinesis_stream_arn,
        batch_size=config.kinesis_batch_size,
        max_attempts=config.kinesis_max_attempts,
        backoff_seconds=config.kinesis_retry_backoff_seconds,
        rate_limiter=rate_limiter,
    )


def initial_state(config: PollerConfig) -> PollerState:
    return PollerState.starting_at(
        config.starting_creation_dt, config.starting_update_dt, config.starting_deletion_date
    )


def id_sealer(config: PollerConfig) -> IdSealer:
    return IdSealer(config.bcrypt_salt.get_secret_value())


def s3_state_store(config: PollerConfig) -> S3StateStore:
    assert config.s3_bucket and config.s3_resource  # enforced by the configuration
    return S3StateStore(
        aws_client(config, "s3"), config.s3_bucket, config.s3_resource, id_sealer(config)
    )


def state_store(config: PollerConfig) -> StateStore:
    if config.ignore_cache:
        return MemoryStateStore(initial_state(config))
    return s3_state_store(config)


def run_lock(config: PollerConfig, purpose: str) -> RunLock:
    assert config.s3_bucket and config.s3_resource  # enforced by the configuration
    return RunLock(
        aws_client(config, "s3"),
        config.s3_bucket,
        config.s3_resource,
        purpose=purpose,
        ttl_seconds=config.run_lock_ttl_seconds,
    )
