"""The poller's configuration: one typed object, validated once before any work.

Sources, lowest precedence first: `config/<ENVIRONMENT>.yaml` (`PLAINTEXT_VARIABLES`,
and `ENCRYPTED_VARIABLES` holding base64 KMS ciphertexts), then the process
environment. A value taken from the environment is used as is (plaintext).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from .errors import ConfigurationError

BCRYPT_SALT_PATTERN = re.compile(r"^\$2[aby]\$(0[4-9]|[12]\d|3[01])\$[./A-Za-z0-9]{22}$")
KINESIS_ARN_PATTERN = re.compile(r"^arn:aws[a-z-]*:kinesis:[a-z0-9-]+:\d{12}:stream/[\w.-]+$")
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
AWS_SERVICES = ("kms", "s3", "kinesis")
GEOCODING_PROVIDERS = ("census", "tiger", "geosupport")


class PollerConfig(BaseModel):
    """Every variable the poller reads, by its documented name (the alias)."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="ignore")

    aws_region: str = Field(alias="AWS_REGION", min_length=1)
    aws_endpoint_url: str | None = Field(None, alias="AWS_ENDPOINT_URL")
    aws_endpoint_url_kms: str | None = Field(None, alias="AWS_ENDPOINT_URL_KMS")
    aws_endpoint_url_s3: str | None = Field(None, alias="AWS_ENDPOINT_URL_S3")
    aws_endpoint_url_kinesis: str | None = Field(None, alias="AWS_ENDPOINT_URL_KINESIS")
    aws_access_key_id: str | None = Field(None, alias="AWS_ACCESS_KEY_ID")
    aws_secret_access_key: SecretStr | None = Field(None, alias="AWS_SECRET_ACCESS_KEY")
    aws_session_token: SecretStr | None = Field(None, alias="AWS_SESSION_TOKEN")

    sierra_db_host: str = Field(alias="SIERRA_DB_HOST", min_length=1)
    sierra_db_port: int = Field(alias="SIERRA_DB_PORT", gt=0, lt=65536)
    sierra_db_name: str = Field(alias="SIERRA_DB_NAME", min_length=1)
    sierra_db_user: str = Field(alias="SIERRA_DB_USER", min_length=1)
    sierra_db_password: SecretStr = Field(alias="SIERRA_DB_PASSWORD")
    # How far behind Sierra's clock a run stops, so rows committed late with an earlier
    # timestamp are still ahead of the cursor.
    sierra_commit_lag_seconds: float = Field(60.0, alias="SIERRA_COMMIT_LAG_SECONDS", ge=0)

    redshift_db_host: str = Field(alias="REDSHIFT_DB_HOST", min_length=1)
    redshift_db_port: int = Field(5439, alias="REDSHIFT_DB_PORT", gt=0, lt=65536)
    redshift_db_name: str = Field(alias="REDSHIFT_DB_NAME", min_length=1)
    redshift_db_user: str = Field(alias="REDSHIFT_DB_USER", min_length=1)
    redshift_db_password: SecretStr = Field(alias="REDSHIFT_DB_PASSWORD")
    redshift_db_sslmode: str = Field("verify-full", alias="REDSHIFT_DB_SSLMODE")
    redshift_table: str = Field(alias="REDSHIFT_TABLE", pattern=r"^\w+(\.\w+)?$")

    kinesis_stream_arn: str = Field(alias="KINESIS_STREAM_ARN", pattern=KINESIS_ARN_PATTERN)
    kinesis_batch_size: int = Field(alias="KINESIS_BATCH_SIZE", ge=1, le=500)
    kinesis_max_attempts: int = Field(8, alias="KINESIS_MAX_ATTEMPTS", ge=1)
    kinesis_retry_backoff_seconds: float = Field(0.2, alias="KINESIS_RETRY_BACKOFF_SECONDS", ge=0)
    ignore_kinesis: bool = Field(False, alias="IGNORE_KINESIS")

    bcrypt_salt: SecretStr = Field(alias="BCRYPT_SALT")

    # Providers in order; each gets only what the ones before it left unmatched.
    geocoder: tuple[str, ...] = Field(("census",), alias="GEOCODER")
    geocoder_api_base_url: str | None = Field(
        None, alias="GEOCODER_API_BASE_URL", pattern=r"^https?://"
    )
    geocoder_api_benchmark: str | None = Field(None, alias="GEOCODER_API_BENCHMARK", min_length=1)
    geocoder_api_vintage: str | None = Field(None, alias="GEOCODER_API_VINTAGE", min_length=1)
    geocoder_api_key: SecretStr | None = Field(None, alias="GEOCODER_API_KEY")
    # The Census service fails far less often on ~1,000-row batches than on 10,000.
    geocoder_batch_size: int = Field(1000, alias="GEOCODER_BATCH_SIZE", ge=1, le=10_000)
    geocoder_concurrency: int = Field(2, alias="GEOCODER_CONCURRENCY", ge=1, le=16)
    # Requests in flight grow from GEOCODER_CONCURRENCY up to this while the pipeline
    # waits on the geocoder with its hashing threads idle.
    geocoder_max_concurrency: int = Field(4, alias="GEOCODER_MAX_CONCURRENCY", ge=1, le=32)
    # Rows missing from a reply (or in a batch that failed while others were answered)
    # are asked again this many times before they count as unmatched.
    geocoder_max_reasks: int = Field(2, alias="GEOCODER_MAX_REASKS", ge=0, le=10)
    geocoder_timeout_seconds: float = Field(300.0, alias="GEOCODER_TIMEOUT_SECONDS", gt=0)
    geocoder_max_attempts: int = Field(4, alias="GEOCODER_MAX_ATTEMPTS", ge=1)
    geocoder_retry_backoff_seconds: float = Field(2.0, alias="GEOCODER_RETRY_BACKOFF_SECONDS", ge=0)

    # The offline index (`tiger-index build`): a local path or s3://bucket/key.
    tiger_index: str | None = Field(None, alias="TIGER_INDEX")

    patron_info_schema_url: str = Field(alias="PATRON_INFO_SCHEMA_URL", pattern=r"^https?://")

    s3_bucket: str | None = Field(None, alias="S3_BUCKET")
    s3_resource: str | None = Field(None, alias="S3_RESOURCE")

    # The run lock expires this long after its last renewal (renewed every third of it),
    # so a run killed without cleanup blocks the next ones for at most this long.
    run_lock_ttl_seconds: float = Field(300.0, alias="RUN_LOCK_TTL_SECONDS", ge=1)

    sierra_batch_size: int = Field(alias="SIERRA_BATCH_SIZE", ge=1)
    active_patron_batch_size: int | None = Field(None, alias="ACTIVE_PATRON_BATCH_SIZE", ge=1)
    deleted_patron_batch_size: int | None = Field(None, alias="DELETED_PATRON_BATCH_SIZE", ge=1)

    # Batches between reading and sending at once: stages overlap so the cores hash while
    # the geocoder answers. 1 runs the stages one after another.
    batches_in_flight: int = Field(3, alias="BATCHES_IN_FLIGHT", ge=1, le=16)

    # Where a run's metrics go: none, emf (CloudWatch Embedded Metric Format on stdout) or
    # pushgateway (PUSHGATEWAY_URL). Loop mode also serves /metrics on METRICS_PORT.
    metrics: Literal["none", "emf", "pushgateway"] = Field("none", alias="METRICS")
    pushgateway_url: str | None = Field(None, alias="PUSHGATEWAY_URL", pattern=r"^https?://")
    metrics_port: int | None = Field(None, alias="METRICS_PORT", gt=0, lt=65536)

    log_level: str = Field("warning", alias="LOG_LEVEL")
    max_batches: int | None = Field(None, alias="MAX_BATCHES", ge=1)
    ignore_cache: bool = Field(False, alias="IGNORE_CACHE")
    backfill: bool = Field(False, alias="BACKFILL")
    # The parallel backfill (`backfill` on Dask): caps shared by every worker of the cluster.
    # Census geocoder requests in flight at once, cluster-wide (offline providers are not
    # capped: they ask no one).
    backfill_geocoder_concurrency: int = Field(
        2, alias="BACKFILL_GEOCODER_CONCURRENCY", ge=1, le=64
    )
    # Sierra connections open at once, cluster-wide: a chunk connects for each batch read.
    backfill_sierra_connections: int = Field(4, alias="BACKFILL_SIERRA_CONNECTIONS", ge=1, le=64)
    starting_creation_dt: datetime = Field(
        datetime.fromisoformat("2020-01-01 00:00:00-05:00"), alias="STARTING_CREATION_DT"
    )
    starting_update_dt: datetime = Field(
        datetime.fromisoformat("2020-01-01 00:00:00-05:00"), alias="STARTING_UPDATE_DT"
    )
    starting_deletion_date: date = Field(date(2020, 1, 1), alias="STARTING_DELETION_DATE")

    @field_validator("metrics", mode="before")
    @classmethod
    def _lower_case(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("log_level", mode="before")
    @classmethod
    def _known_log_level(cls, value: Any) -> str:
        level = str(value).strip().lower()
        if level not in LOG_LEVELS:
            raise ValueError(f"must be one of {', '.join(LOG_LEVELS)}")
        return level

    @field_validator("bcrypt_salt")
    @classmethod
    def _well_formed_salt(cls, value: SecretStr) -> SecretStr:
        if not BCRYPT_SALT_PATTERN.match(value.get_secret_value()):
            raise ValueError(
                "must be a bcrypt salt: $2a$, $2b$ or $2y$, a two-digit cost, then 22 characters"
            )
        return value

    @field_validator("geocoder", mode="before")
    @classmethod
    def _known_providers(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        names = tuple(name.strip().lower() for name in value.split(",") if name.strip())
        unknown = [name for name in names if name not in GEOCODING_PROVIDERS]
        if not names or unknown:
            known = ", ".join(GEOCODING_PROVIDERS)
            raise ValueError(
                f"must name providers in order, comma-separated, from {known}"
                + (f" (unknown: {', '.join(unknown)})" if unknown else "")
            )
        if len(set(names)) != len(names):
            raise ValueError("names a provider twice")
        return names

    @field_validator("starting_creation_dt", "starting_update_dt", mode="before")
    @classmethod
    def _has_offset(cls, value: Any) -> Any:
        if isinstance(value, str):
            # Python's ISO parser takes the seed's "2020-01-01 00:00:00-05"; pydantic's doesn't.
            try:
                value = datetime.fromisoformat(value.strip())
            except ValueError:
                raise ValueError(
                    "must be an ISO 8601 timestamp, e.g. 2020-01-01 00:00:00-05"
                ) from None
        if isinstance(value, datetime) and value.tzinfo is None:
            raise ValueError("needs a UTC offset, e.g. 2020-01-01 00:00:00-05")
        return value

    @field_validator("starting_deletion_date", mode="before")
    @classmethod
    def _date_part(cls, value: Any) -> Any:
        # The seed README calls this a datetime; only its date part is meaningful.
        if isinstance(value, str) and len(value.strip()) > 10:
            return datetime.fromisoformat(value.strip()).date()
        return value

    @model_validator(mode="after")
    def _settings_that_go_together(self) -> PollerConfig:
        """Rules across variables, all reported at once."""
        problems = []
        if not self.ignore_cache and not (self.s3_bucket and self.s3_resource):
            problems.append("S3_BUCKET and S3_RESOURCE are required unless IGNORE_CACHE=True")
        needed = []
        if "census" in self.geocoder:
            needed += [
                name
                for name, value in (
                    ("GEOCODER_API_BASE_URL", self.geocoder_api_base_url),
                    ("GEOCODER_API_BENCHMARK", self.geocoder_api_benchmark),
                    ("GEOCODER_API_VINTAGE", self.geocoder_api_vintage),
                )
                if not value
            ]
        if "tiger" in self.geocoder and not self.tiger_index:
            needed.append("TIGER_INDEX")
        if needed:
            problems.append(f"GEOCODER={','.join(self.geocoder)} needs {', '.join(needed)}")
        if self.metrics == "pushgateway" and not self.pushgateway_url:
            problems.append("METRICS=pushgateway needs PUSHGATEWAY_URL")
        if self.geocoder_max_concurrency < self.geocoder_concurrency:
            problems.append("GEOCODER_MAX_CONCURRENCY must be at least GEOCODER_CONCURRENCY")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def active_batch_size(self) -> int:
        return self.active_patron_batch_size or self.sierra_batch_size

    @property
    def deleted_batch_size(self) -> int:
        return self.deleted_patron_batch_size or self.sierra_batch_size

    def endpoint_url(self, service: str) -> str | None:
        """boto3's convention: AWS_ENDPOINT_URL_<SERVICE>, else AWS_ENDPOINT_URL."""
        return getattr(self, f"aws_endpoint_url_{service}") or self.aws_endpoint_url


VARIABLE_NAMES = frozenset(field.alias for field in PollerConfig.model_fields.values())

KmsDecrypt = Callable[[Mapping[str, str], bytes], str]


def load_config(
    environment: str | None,
    environ: Mapping[str, str],
    config_dir: Path,
    kms_decrypt: KmsDecrypt | None = None,
) -> PollerConfig:
    """Build the configuration or raise one ConfigurationError naming every problem.

    `kms_decrypt(variables, ciphertext)` decrypts one value; the default uses boto3 KMS
    with the region, endpoint and credentials found in `variables`.
    """
    plaintext, encrypted = read_config_file(config_dir, environment) if environment else ({}, {})
    overrides = {name: value for name, value in environ.items() if name in VARIABLE_NAMES}
    variables = {**plaintext, **overrides}
    pending = {name: value for name, value in encrypted.items() if name not in overrides}
    if pending:
        variables.update(_decrypt_all(variables, pending, kms_decrypt or kms_decrypt_with_boto3))
    # An empty value means "not set", as in the seed's templates.
    variables = {name: value for name, value in variables.items() if value.strip() != ""}
    try:
        return PollerConfig.model_validate(variables)
    except ValidationError as exc:
        raise ConfigurationError(_describe(exc)) from None


def read_config_file(config_dir: Path, environment: str) -> tuple[dict[str, str], dict[str, str]]:
    if not re.fullmatch(r"[\w.-]+", environment):
        raise ConfigurationError(f"ENVIRONMENT={environment!r} is not a config file name")
    path = config_dir / f"{environment}.yaml"
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise ConfigurationError(
            f"no config file {path}: set ENVIRONMENT to one of "
            f"{sorted(p.stem for p in config_dir.glob('*.yaml')) or 'the files in config/'}"
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigurationError(f"{path} is not valid YAML ({type(exc).__name__})") from None
    if not isinstance(document, dict):
        raise ConfigurationError(f"{path} must be a mapping of sections")
    problems = [
        f"unknown section {section}"
        for section in document
        if section not in ("PLAINTEXT_VARIABLES", "ENCRYPTED_VARIABLES")
    ]
    sections = []
    for section in ("PLAINTEXT_VARIABLES", "ENCRYPTED_VARIABLES"):
        values = document.get(section) or {}
        if not isinstance(values, dict):
            problems.append(f"{section} must be a mapping")
            values = {}
        for name, value in values.items():
            if isinstance(value, (dict, list)):
                problems.append(f"{name} must be a single value")
        sections.append(
            {
                str(name): "" if value is None else str(value)
                for name, value in values.items()
                if not isinstance(value, (dict, list))
            }
        )
    if problems:
        raise ConfigurationError(f"{path}: " + "; ".join(problems))
    return sections[0], sections[1]


def _decrypt_all(
    variables: Mapping[str, str], encrypted: Mapping[str, str], kms_decrypt: KmsDecrypt
) -> dict[str, str]:
    decrypted: dict[str, str] = {}
    failures: list[str] = []
    first_cause: Exception | None = None
    for name, ciphertext in encrypted.items():
        if not ciphertext.strip():
            decrypted[name] = ""
            continue
        try:
            blob = base64.b64decode(ciphertext, validate=True)
        except (binascii.Error, ValueError):
            failures.append(f"{name} is not base64")
            continue
        try:
            decrypted[name] = kms_decrypt(variables, blob)
        except Exception as exc:  # every KMS failure is reported together below
            failures.append(f"{name} could not be decrypted ({type(exc).__name__})")
            first_cause = first_cause or exc
    if failures:
        raise ConfigurationError("Invalid configuration: " + "; ".join(failures)) from first_cause
    return decrypted


def kms_decrypt_with_boto3(variables: Mapping[str, str], ciphertext: bytes) -> str:
    from .aws_clients import kms_client_for_bootstrap

    response = kms_client_for_bootstrap(variables).decrypt(CiphertextBlob=ciphertext)
    return response["Plaintext"].decode("utf-8")


def _describe(exc: ValidationError) -> str:
    """One line naming every problem; never echoes a value (it may be a secret)."""
    problems = []
    for error in exc.errors(include_input=False, include_url=False):
        name = ".".join(str(part) for part in error["loc"]) or "configuration"
        message = error["msg"].removeprefix("Value error, ")
        problems.append(f"{name} is missing" if error["type"] == "missing" else f"{name} {message}")
    return "Invalid configuration: " + "; ".join(problems)
