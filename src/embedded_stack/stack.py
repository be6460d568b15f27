"""Every service the poller talks to, started locally: Sierra and the warehouse (PostgreSQL),
AWS (moto), the Census geocoder, the Census Bureau's TIGER/Line downloads and the Platform
schema endpoint."""

from __future__ import annotations

import contextlib
import logging
import secrets
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import TracebackType
from typing import Any

import bcrypt
import psycopg
from psycopg import sql

from . import aws
from .aws_faults import AwsFaultProxy
from .census_geocoder import ADDRESSBATCH_PATH, CensusGeocoderApp
from .http_service import LocalHttpService
from .postgres import (
    SIERRA_DB,
    SIERRA_READER,
    WAREHOUSE_DB,
    WAREHOUSE_READER,
    EmbeddedPostgres,
    create_sierra,
    create_warehouse,
    table_identifier,
)
from .schema_service import SCHEMA_PATH, SchemaService
from .tiger_county_files import NYC_COUNTIES, write_county_files
from .tiger_downloads import TIGER_PATH, TigerDownloadsApp

logger = logging.getLogger(__name__)

S3_BUCKET = "patron-info-poller-state"
S3_RESOURCE = "patron_info_poller_state.json"
KINESIS_STREAM = "PatronInfo"
TIGER_YEAR = 2024


class EmbeddedStack:
    def __init__(
        self,
        workdir: Path,
        *,
        kinesis_shards: int = 2,
        warehouse_table: str = "patron_info",
        bcrypt_cost: int = 7,
    ):
        self.workdir = Path(workdir)
        self.kinesis_shards = kinesis_shards
        self.warehouse_table = warehouse_table
        self.postgres = EmbeddedPostgres()
        self.moto = aws.MotoServer(self.workdir / "moto.log")
        self.geocoder_app = CensusGeocoderApp()
        self.schema_app = SchemaService()
        # TIGER/Line county files of the gazetteer's streets, served the way the Bureau
        # serves them: `tiger_source_url` stands for https://www2.census.gov/geo/tiger.
        self.tiger_year = TIGER_YEAR
        self.tiger_counties: tuple[str, ...] = NYC_COUNTIES
        self.tiger_files_dir = self.workdir / "tiger"
        self.tiger_app = TigerDownloadsApp(self.tiger_files_dir)
        self.tiger_source_url = ""
        # Production's cost (7) by default, as the demo and the bench need; the test suite
        # runs at 4 (8x faster hashes, the same code paths).
        self.bcrypt_cost = bcrypt_cost
        self.salt = bcrypt.gensalt(rounds=bcrypt_cost).decode("ascii")
        self.sierra_password = secrets.token_urlsafe(18)
        self.warehouse_password = secrets.token_urlsafe(18)
        self.kms_key_id = ""
        self.kinesis_stream_arn = ""
        self.geocoder_url = ""
        self.schema_url = ""
        self.aws_fault_proxy: AwsFaultProxy | None = None
        self.aws_fault_proxy_url = ""
        self._clients: dict[str, Any] = {}
        self._kinesis_reader: aws.KinesisReader | None = None
        self._running = contextlib.ExitStack()

    @property
    def sierra_admin_conninfo(self) -> str:
        return self.postgres.admin_conninfo(SIERRA_DB)

    @property
    def warehouse_admin_conninfo(self) -> str:
        return self.postgres.admin_conninfo(WAREHOUSE_DB)

    def start(self) -> EmbeddedStack:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        try:
            self._running.callback(self._stop_backends)
            self.moto.launch()
            # The county files are written while PostgreSQL and moto start up.
            with ThreadPoolExecutor(1, thread_name_prefix="tiger-files") as pool:
                county_files = pool.submit(
                    write_county_files, self.tiger_files_dir, self.tiger_year
                )
                self._start_databases()
                self._start_aws()
                county_files.result()
            self._start_http_services()
        except BaseException:
            self.stop()
            raise
        logger.info("embedded stack running in %s", self.workdir)
        return self

    def stop(self) -> None:
        """Stops what is running, newest first; safe to call twice or after a failed start."""
        self._running.close()

    def poller_environment(self, **overrides: str) -> dict[str, str]:
        environment = {
            "AWS_REGION": aws.REGION,
            "AWS_ENDPOINT_URL": self.moto.url,
            "AWS_ACCESS_KEY_ID": aws.ACCESS_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": aws.SECRET_ACCESS_KEY,
            "SIERRA_DB_HOST": self.postgres.host,
            "SIERRA_DB_PORT": str(self.postgres.port),
            "SIERRA_DB_NAME": SIERRA_DB,
            "SIERRA_DB_USER": SIERRA_READER,
            "SIERRA_DB_PASSWORD": self.sierra_password,
            "REDSHIFT_DB_HOST": self.postgres.host,
            "REDSHIFT_DB_PORT": str(self.postgres.port),
            "REDSHIFT_DB_NAME": WAREHOUSE_DB,
            "REDSHIFT_TABLE": self.warehouse_table,
            "REDSHIFT_DB_USER": WAREHOUSE_READER,
            "REDSHIFT_DB_PASSWORD": self.warehouse_password,
            "REDSHIFT_DB_SSLMODE": "disable",
            "KINESIS_STREAM_ARN": self.kinesis_stream_arn,
            "KINESIS_BATCH_SIZE": "500",
            "BCRYPT_SALT": self.salt,
            "GEOCODER_API_BASE_URL": self.geocoder_url,
            "GEOCODER_API_BENCHMARK": "Public_AR_Current",
            "GEOCODER_API_VINTAGE": "Current_Current",
            "PATRON_INFO_SCHEMA_URL": self.schema_url,
            "S3_BUCKET": S3_BUCKET,
            "S3_RESOURCE": S3_RESOURCE,
            "SIERRA_BATCH_SIZE": "1000",
            "LOG_LEVEL": "info",
            "IGNORE_CACHE": "False",
            # Tests seed and commit before each run; no commit can land late.
            "SIERRA_COMMIT_LAG_SECONDS": "0",
            "GEOCODER_RETRY_BACKOFF_SECONDS": "0.01",
        }
        return {**environment, **overrides}

    def kms_encrypt(self, plaintext: str) -> str:
        return aws.kms_encrypt(self._clients["kms"], self.kms_key_id, plaintext)

    def build_tiger_index(self, output: Path) -> Path:
        """The offline index of the stack's counties, built from its download server as an
        operator builds one from the Census Bureau's."""
        from patron_info_poller.geocoding.tiger_build import build_index

        build_index(
            year=self.tiger_year,
            counties=self.tiger_counties,
            output=output,
            source=self.tiger_source_url,
        )
        return output

    def new_kinesis_records(self) -> list[bytes]:
        """Records put on the stream since the previous call (or since start)."""
        assert self._kinesis_reader is not None, "the stack is not started"
        return self._kinesis_reader.new_records()

    def reset(self) -> None:
        """Empties Sierra, the warehouse table and the S3 state, skips unread records and
        brings the geocoder and the TIGER downloads back to healthy servers with empty
        request logs."""
        self.geocoder_app.reset()
        self.tiger_app.reset()
        if self.aws_fault_proxy is not None:
            self.aws_fault_proxy.reset()
        with psycopg.connect(self.sierra_admin_conninfo, autocommit=True) as conn:
            tables = conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'sierra_view'"
            ).fetchall()
            conn.execute(
                sql.SQL("TRUNCATE {}").format(
                    sql.SQL(", ").join(sql.Identifier("sierra_view", name) for (name,) in tables)
                )
            )
        with psycopg.connect(self.warehouse_admin_conninfo, autocommit=True) as conn:
            conn.execute(sql.SQL("TRUNCATE {}").format(table_identifier(self.warehouse_table)))
        aws.empty_bucket(self._clients["s3"], S3_BUCKET)
        self.new_kinesis_records()

    def _start_databases(self) -> None:
        self.postgres.start()
        create_sierra(self.postgres, self.sierra_password)
        create_warehouse(self.postgres, self.warehouse_table, self.warehouse_password)

    def _start_aws(self) -> None:
        self.moto.wait_until_ready()
        self._running.callback(self._forget_aws_clients)
        for service in ("kms", "s3", "kinesis"):
            client = self._clients[service] = self.moto.client(service)
            self._running.callback(client.close)
        self.kms_key_id = aws.create_kms_key(self._clients["kms"])
        aws.create_bucket(self._clients["s3"], S3_BUCKET)
        self.kinesis_stream_arn = aws.create_stream(
            self._clients["kinesis"], KINESIS_STREAM, self.kinesis_shards
        )
        self._kinesis_reader = aws.KinesisReader(self._clients["kinesis"], self.kinesis_stream_arn)

    def _stop_backends(self) -> None:
        try:
            self.moto.stop()
        finally:
            self.postgres.stop()

    def _forget_aws_clients(self) -> None:
        self._clients.clear()
        self._kinesis_reader = None

    def _start_http_services(self) -> None:
        geocoder = self._running.enter_context(LocalHttpService(self.geocoder_app))
        self.geocoder_url = geocoder.base_url + ADDRESSBATCH_PATH
        schema = self._running.enter_context(LocalHttpService(self.schema_app))
        self.schema_url = schema.base_url + SCHEMA_PATH
        tiger = self._running.enter_context(LocalHttpService(self.tiger_app))
        self.tiger_source_url = tiger.base_url + TIGER_PATH
        self.aws_fault_proxy = AwsFaultProxy(self.moto.url)
        self._running.callback(self.aws_fault_proxy.close)
        proxy = self._running.enter_context(LocalHttpService(self.aws_fault_proxy))
        self.aws_fault_proxy_url = proxy.base_url

    def __enter__(self) -> EmbeddedStack:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
