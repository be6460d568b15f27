"""Checks of every dependency the configuration names (`patron-info-poller check`).

Each check returns a `CheckResult`: its name, whether it passed, how long it took and a
one-line reason. Nothing here prints, sends a record or changes the state: the databases
are read in read-only transactions, and the only write is a scratch object in the state
bucket, deleted at once.

A reason is built from fixed phrases, counts, variable, view and column names and error
codes: never a secret's value, a patron id or an address. An expected failure raises
`CheckFailed` (or a `PollerError`, whose messages follow the same rule); anything else is
reported by its exception type only. As a last guard, every secret value the
configuration holds is masked in the reasons.

Every check has a budget (30 s by default): the clients' connect and read timeouts are
set well inside it, and a check still running when it is spent is reported as failed
and left behind (its thread is a daemon).
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx
import psycopg
from botocore.config import Config as BotocoreConfig
from botocore.exceptions import BotoCoreError, ClientError
from psycopg import sql
from pydantic import SecretStr

from . import parts
from .avro_codec import PatronInfoEncoder, fetch_schema
from .aws_clients import aws_client
from .aws_errors import error_code
from .config import BCRYPT_SALT_PATTERN, PollerConfig, read_config_file
from .database import DatabaseSettings
from .errors import PollerError, RetriesExhaustedError
from .geocoding.address import Address
from .geocoding.census import CensusGeocoder
from .geocoding.geosupport import GeosupportGeocoder
from .geocoding.index_location import is_s3, local_index
from .geocoding.tiger_index import TigerIndex
from .obfuscation import obfuscate
from .records import PATRON_INFO_FIELDS
from .sierra import BATCH_QUERY
from .state import S3StateStore

CHECK_NAMES = ("kms", "sierra", "warehouse", "s3", "kinesis", "schema", "geocoder", "bcrypt")
DEFAULT_BUDGET_SECONDS = 30.0
# What the bcrypt check hashes: a fixed value that is no patron's.
CANARY = "patron-info-poller check"
# What the Census check asks about: a public address, no patron's (NYPL's Stephen A.
# Schwarzman Building).
LIBRARY_BRANCH = Address("476 5th Ave", "New York", "NY", "10018")
# The views the poller's batch query reads, taken from the query so they cannot drift.
SIERRA_VIEWS = tuple(dict.fromkeys(re.findall(r"\bsierra_view\.(\w+)", BATCH_QUERY)))
SCRATCH_BODY = b"written by `patron-info-poller check`; safe to delete\n"
# Secret values shorter than this are not masked: they would mask digits of timings.
_MASKED_MIN_LENGTH = 4
_MASK = "<redacted>"


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    seconds: float
    reason: str

    @property
    def status(self) -> str:
        return "ok" if self.ok else "fail"

    def row(self) -> tuple[str, str, str, str]:
        """The printed columns: name, ok/fail, seconds (two decimals), reason."""
        return (self.name, self.status, f"{self.seconds:.2f}", self.reason)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "ok": self.ok,
            "seconds": round(self.seconds, 3),
            "reason": self.reason,
        }


class CheckFailed(Exception):
    """An expected failure. Its message is the row's reason: it must hold no secret."""


def encrypted_variables(environment: str | None, config_dir: Path) -> dict[str, str] | None:
    """The config file's ENCRYPTED_VARIABLES (name -> base64 ciphertext); None without a
    file (ENVIRONMENT unset). Raises ConfigurationError like load_config."""
    if not environment:
        return None
    return read_config_file(config_dir, environment)[1]


@dataclass(frozen=True)
class CheckContext:
    config: PollerConfig
    # The config file's ciphertexts by variable name; None when there is no config file.
    encrypted: Mapping[str, str] | None = None
    budget_seconds: float = DEFAULT_BUDGET_SECONDS
    # service -> boto3 client; tests pass fakes.
    aws: Callable[[str], Any] | None = field(default=None, repr=False)

    @property
    def io_timeout(self) -> float:
        """Connect and read timeouts: a try and a retry fit in half the budget."""
        return min(10.0, max(1.0, self.budget_seconds / 4))

    def client(self, service: str) -> Any:
        if self.aws is not None:
            return self.aws(service)
        return aws_client(
            self.config,
            service,
            BotocoreConfig(
                retries={"mode": "standard", "total_max_attempts": 2},  # a try and a retry
                connect_timeout=self.io_timeout,
                read_timeout=self.io_timeout,
            ),
        )


Check = Callable[[CheckContext], str]  # returns the reason of a pass


# --- kms -------------------------------------------------------------------------------


def check_kms(ctx: CheckContext) -> str:
    encrypted = ctx.encrypted
    if encrypted is None:
        return "no config file (ENVIRONMENT unset): nothing to decrypt"
    if not encrypted:
        return "the config file has no ENCRYPTED_VARIABLES"
    client = ctx.client("kms")
    total = sum(1 for ciphertext in encrypted.values() if ciphertext.strip())
    # load_config reads an empty value as "not set": nothing to decrypt.
    empty = f"; {len(encrypted) - total} empty" if total < len(encrypted) else ""
    failures: list[str] = []
    decrypted = 0
    for name, ciphertext in encrypted.items():
        if not ciphertext.strip():
            continue
        try:
            blob = base64.b64decode(ciphertext, validate=True)
        except (binascii.Error, ValueError):
            failures.append(f"{name} (not base64)")
            continue
        try:
            client.decrypt(CiphertextBlob=blob)["Plaintext"].decode("utf-8")
        except ClientError as exc:
            failures.append(f"{name} ({error_code(exc)})")
        except BotoCoreError as exc:
            # KMS is out of reach: every other variable would fail the same way, slowly.
            raise CheckFailed(
                f"cannot reach KMS ({type(exc).__name__}); {decrypted} of {total} encrypted "
                "variables decrypted before"
            ) from None
        except UnicodeDecodeError:
            failures.append(f"{name} (not UTF-8 text)")
        else:
            decrypted += 1
    if failures:
        raise CheckFailed(
            f"{len(failures)} of {total} encrypted variables do not decrypt: "
            + ", ".join(failures)
            + empty
        )
    return f"{decrypted} encrypted variables decrypt{empty}"


# --- sierra and the warehouse ----------------------------------------------------------

# SQLSTATEs worth a phrase; others are named by exception type and code.
_SQLSTATE_PHRASES = {
    "28P01": "password authentication failed",
    "28000": "access rejected",
    "3D000": "no such database",
    "3F000": "no such schema",
    "42P01": "no such table or view",
    "42703": "no such column",
    "42501": "permission denied",
    "53300": "too many connections",
    "57014": "statement timed out",
}
# libpq's connection messages quote the host: matched against, never shown.
_CONNECT_PHRASES = (
    ("connection refused", "connection refused"),
    ("timeout expired", "connect timed out"),
    ("could not translate host name", "host name not found"),
    ("no route to host", "no route to host"),
    ("network is unreachable", "network unreachable"),
    ("invalid response to ssl negotiation", "not a PostgreSQL server"),
    ("expected authentication request", "not a PostgreSQL server"),
    ("server does not support ssl", "the server does not offer TLS, which sslmode requires"),
    ("certificate", "TLS certificate rejected"),
    ("ssl", "TLS failed"),
)


def _pg_reason(exc: psycopg.Error) -> str:
    detail = type(exc).__name__ + (f", SQLSTATE {exc.sqlstate}" if exc.sqlstate else "")
    phrase = _SQLSTATE_PHRASES.get(exc.sqlstate or "")
    if phrase is None and exc.sqlstate is None:
        message = str(exc).lower()
        phrase = next((p for needle, p in _CONNECT_PHRASES if needle in message), None)
    return f"{phrase} ({detail})" if phrase else detail


def _connect(ctx: CheckContext, settings: DatabaseSettings) -> psycopg.Connection[Any]:
    """A connection as the run makes it (parts.py's settings), with the check's timeouts."""
    s = settings
    try:
        conn = psycopg.connect(
            host=s.host,
            port=s.port,
            dbname=s.dbname,
            user=s.user,
            password=s.password,
            connect_timeout=max(2, round(ctx.io_timeout)),  # libpq waits at least 2 s
            application_name="patron-info-poller check",
            autocommit=True,
            **({"sslmode": s.sslmode} if s.sslmode else {}),
            **s.options,
        )
    except psycopg.Error as exc:
        raise CheckFailed(f"cannot connect: {_pg_reason(exc)}") from None
    try:
        conn.execute(f"SET statement_timeout = {int(ctx.io_timeout * 1000)}")
        conn.read_only = True  # every transaction below is READ ONLY
    except psycopg.Error as exc:
        conn.close()
        raise CheckFailed(f"connected, but cannot set up the session: {_pg_reason(exc)}") from None
    return conn


def check_sierra(ctx: CheckContext) -> str:
    with _connect(ctx, parts.sierra_settings(ctx.config)) as conn:
        failures = []
        for view in SIERRA_VIEWS:
            query = sql.SQL("SELECT 1 FROM {} LIMIT 1").format(sql.Identifier("sierra_view", view))
            try:
                with conn.transaction():
                    conn.execute(query).fetchall()
            except psycopg.Error as exc:
                failures.append(f"sierra_view.{view}: {_pg_reason(exc)}")
    if failures:
        raise CheckFailed(f"connected; cannot read {'; '.join(failures)}")
    return f"connected; read {len(SIERRA_VIEWS)} views: {', '.join(SIERRA_VIEWS)}"


def check_warehouse(ctx: CheckContext) -> str:
    c = ctx.config
    table = sql.Identifier(*c.redshift_table.split("."))
    columns = sql.SQL(", ").join(map(sql.Identifier, PATRON_INFO_FIELDS))
    with _connect(ctx, parts.warehouse_settings(c)) as conn:
        try:
            # The poller's own projection, reading no row.
            with conn.transaction():
                conn.execute(sql.SQL("SELECT {} FROM {} LIMIT 0").format(columns, table))
        except psycopg.errors.UndefinedColumn:
            with conn.transaction():
                cursor = conn.execute(sql.SQL("SELECT * FROM {} LIMIT 0").format(table))
                present = {column.name for column in cursor.description or ()}
            missing = [name for name in PATRON_INFO_FIELDS if name not in present]
            raise CheckFailed(
                f"table {c.redshift_table} lacks columns: {', '.join(missing)}"
            ) from None
        except psycopg.Error as exc:
            raise CheckFailed(f"cannot read table {c.redshift_table}: {_pg_reason(exc)}") from None
    return f"table {c.redshift_table} has the {len(PATRON_INFO_FIELDS)} columns the poller reads"


# --- s3 and kinesis --------------------------------------------------------------------


def check_s3(ctx: CheckContext) -> str:
    c = ctx.config
    if c.ignore_cache:
        return "IGNORE_CACHE: no state in S3"
    assert c.s3_bucket and c.s3_resource  # the configuration requires them without it
    client = ctx.client("s3")
    problems: list[str] = []
    passed: list[str] = []
    store = S3StateStore(client, c.s3_bucket, c.s3_resource, parts.id_sealer(c))
    try:
        state = store.load()
    except RetriesExhaustedError as exc:
        # S3 is out of reach (botocore has retried): a write would only wait as long again.
        raise CheckFailed(f"{exc}; the write test was not tried") from None
    except PollerError as exc:  # StateError: its messages hold no value
        problems.append(str(exc))
    else:
        passed.append("no state yet" if state is None else "state parses")
    # A new key, written only if absent: nothing that exists can be overwritten.
    scratch = f"{c.s3_resource}.check-{secrets.token_hex(8)}"
    try:
        client.put_object(Bucket=c.s3_bucket, Key=scratch, Body=SCRATCH_BODY, IfNoneMatch="*")
    except (ClientError, BotoCoreError) as exc:
        problems.append(f"the bucket refused a scratch object ({error_code(exc)})")
    else:
        try:
            client.delete_object(Bucket=c.s3_bucket, Key=scratch)
        except (ClientError, BotoCoreError) as exc:
            problems.append(
                f"wrote but could not delete s3://{c.s3_bucket}/{scratch} ({error_code(exc)})"
            )
        else:
            passed.append("scratch object written and deleted")
    if problems:
        raise CheckFailed("; ".join(problems + passed))
    return "; ".join(passed)


def check_kinesis(ctx: CheckContext) -> str:
    c = ctx.config
    try:
        summary = ctx.client("kinesis").describe_stream_summary(StreamARN=c.kinesis_stream_arn)
    except ClientError as exc:
        code = error_code(exc)
        if code == "ResourceNotFoundException":
            raise CheckFailed(f"no such stream ({code})") from None
        raise CheckFailed(f"DescribeStreamSummary failed ({code})") from None
    except BotoCoreError as exc:
        raise CheckFailed(f"cannot reach Kinesis ({type(exc).__name__})") from None
    description = summary["StreamDescriptionSummary"]
    status = description.get("StreamStatus")
    shards = description.get("OpenShardCount")
    shard_text = f"{shards} open shard{'' if shards == 1 else 's'}"
    note = "; IGNORE_KINESIS: runs send nothing" if c.ignore_kinesis else ""
    if status == "ACTIVE":
        return f"ACTIVE, {shard_text}{note}"
    if status == "UPDATING":  # resharding: writes go on working
        return f"UPDATING (resharding; writes still work), {shard_text}{note}"
    raise CheckFailed(f"stream is {status}, not ACTIVE")


# --- schema ----------------------------------------------------------------------------


def check_schema(ctx: CheckContext) -> str:
    timeout = httpx.Timeout(ctx.io_timeout)
    with httpx.Client(timeout=timeout) as http:
        schema = fetch_schema(ctx.config.patron_info_schema_url, http)  # FatalError if not
    try:
        PatronInfoEncoder(schema)
    except Exception as exc:  # fastavro's parse errors
        raise CheckFailed(f"the schema is not valid Avro ({type(exc).__name__})") from None
    return f"Platform envelope; schema has the {len(PATRON_INFO_FIELDS)} fields the poller writes"


# --- geocoder --------------------------------------------------------------------------


def _census(ctx: CheckContext) -> str:
    c = ctx.config
    settings = parts.census_settings(
        c,
        batch_size=1,
        concurrency=1,
        max_reasks=0,
        max_attempts=min(2, c.geocoder_max_attempts),
        backoff_seconds=min(1.0, c.geocoder_retry_backoff_seconds),
        # Two tries and a backoff fit in the budget.
        timeout_seconds=min(c.geocoder_timeout_seconds, max(1.0, ctx.budget_seconds * 0.3)),
    )
    started = time.monotonic()
    with CensusGeocoder(settings) as geocoder:
        reply = geocoder.geocode([LIBRARY_BRANCH])  # GeocoderUnavailableError if down
    elapsed = time.monotonic() - started
    answered = 1 - min(1, reply.events["unanswered"])
    if not answered:
        raise CheckFailed(f"answered 0/1 in {elapsed:.1f} s (the reply lacked the row)")
    return f"answered 1/1 ({reply.outcomes[0].status.value}) in {elapsed:.1f} s"


def _tiger(ctx: CheckContext) -> str:
    location = ctx.config.tiger_index
    assert location  # the configuration requires it with tiger
    with tempfile.TemporaryDirectory(prefix="patron-info-poller-check-") as download_dir:
        s3 = ctx.client("s3") if is_s3(location) else None
        index = TigerIndex.open(local_index(location, s3, Path(download_dir)))
    meta = index.meta
    counties = len(meta.counties)
    listed = f" ({', '.join(meta.counties)})" if counties <= 6 else ""
    return f"index {meta.year}, {counties} count{'y' if counties == 1 else 'ies'}{listed}"


def _geosupport(ctx: CheckContext) -> str:
    GeosupportGeocoder.load().close()  # ConfigurationError naming what is missing
    return "library loads"


PROVIDER_CHECKS: dict[str, Check] = {
    "census": _census,
    "tiger": _tiger,
    "geosupport": _geosupport,
}


def check_geocoder(ctx: CheckContext) -> str:
    """Every provider of the chain, in order, each reported whatever the others did."""
    parts = []
    failed = False
    for name in ctx.config.geocoder:
        try:
            parts.append(f"{name}: {PROVIDER_CHECKS[name](ctx)}")
        except (CheckFailed, PollerError) as exc:
            failed = True
            parts.append(f"{name}: {exc}")
        except Exception as exc:
            failed = True
            parts.append(f"{name}: unexpected {type(exc).__name__}")
    reason = "; ".join(parts)
    if failed:
        raise CheckFailed(reason)
    return reason


# --- bcrypt ----------------------------------------------------------------------------


def check_bcrypt(ctx: CheckContext) -> str:
    salt = ctx.config.bcrypt_salt.get_secret_value()
    parsed = BCRYPT_SALT_PATTERN.match(salt)
    if parsed is None:  # the configuration checks it; a check does not assume it
        raise CheckFailed("BCRYPT_SALT is not a bcrypt salt")
    cost = int(parsed.group(1))
    try:
        # This thread's CPU time: the other checks running at once do not inflate it.
        started = time.thread_time()
        first = obfuscate(CANARY, salt.encode("ascii"))
        second = obfuscate(CANARY, salt.encode("ascii"))
        per_hash = (time.thread_time() - started) / 2
    except ValueError as exc:
        raise CheckFailed(f"bcrypt rejects the salt ({type(exc).__name__})") from None
    if first != second or len(first) != 31:
        raise CheckFailed("the canary does not hash to the same 31 characters twice")
    return f"cost {cost}; {per_hash * 1000:.1f} ms per hash (CPU)"


CHECKS: dict[str, Check] = {
    "kms": check_kms,
    "sierra": check_sierra,
    "warehouse": check_warehouse,
    "s3": check_s3,
    "kinesis": check_kinesis,
    "schema": check_schema,
    "geocoder": check_geocoder,
    "bcrypt": check_bcrypt,
}
assert tuple(CHECKS) == CHECK_NAMES


# --- running them ----------------------------------------------------------------------


def one_line(text: str) -> str:
    return " ".join(text.split())


def attempt(name: str, check: Check, ctx: CheckContext) -> CheckResult:
    """Runs one check where it is called; whatever it raises becomes a fail row."""
    started = time.perf_counter()
    try:
        reason, ok = check(ctx), True
    except (CheckFailed, PollerError) as exc:
        reason, ok = str(exc), False
    except Exception as exc:
        # Its message may quote a value (a connection string, a row): the type only.
        reason, ok = f"unexpected {type(exc).__name__}", False
    return CheckResult(name, ok, time.perf_counter() - started, one_line(reason))


_running_threads: set[threading.Thread] = set()


def checks_left_running() -> int:
    """How many checks ran out of budget and still run (the CLI then exits at once)."""
    return sum(thread.is_alive() for thread in _running_threads)


def run_checks(
    config: PollerConfig,
    *,
    encrypted: Mapping[str, str] | None = None,
    budget_seconds: float = DEFAULT_BUDGET_SECONDS,
    checks: Mapping[str, Check] | None = None,
    aws: Callable[[str], Any] | None = None,
) -> list[CheckResult]:
    """Every check, at once, each within `budget_seconds`; results in `checks` order.

    `encrypted` is the config file's ENCRYPTED_VARIABLES (see `encrypted_variables`)."""
    ctx = CheckContext(config, encrypted, budget_seconds, aws)
    chosen = CHECKS if checks is None else checks
    results: dict[str, CheckResult] = {}
    threads = []
    for name, check in chosen.items():

        def work(name: str = name, check: Check = check) -> None:
            results[name] = attempt(name, check, ctx)

        thread = threading.Thread(target=work, name=f"check-{name}", daemon=True)
        thread.start()
        threads.append((name, thread))
    deadline = time.monotonic() + budget_seconds
    ordered = []
    for name, thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
        if thread.is_alive():
            _running_threads.add(thread)
            ordered.append(
                CheckResult(name, False, budget_seconds, f"no answer within {budget_seconds:g} s")
            )
        else:
            ordered.append(results[name])
    return mask_secrets(ordered, secret_values(config, encrypted or {}))


def secret_values(config: PollerConfig, encrypted: Mapping[str, str]) -> set[str]:
    """Every secret the configuration holds: its SecretStr fields, and the values of the
    variables the config file keeps encrypted."""
    by_alias = {info.alias: name for name, info in PollerConfig.model_fields.items()}
    values: set[str] = set()
    for name in PollerConfig.model_fields:
        value = getattr(config, name)
        if isinstance(value, SecretStr):
            values.add(value.get_secret_value())
    for alias in encrypted:
        value = getattr(config, by_alias.get(alias, ""), None)
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        if isinstance(value, (str, int)) and not isinstance(value, bool):
            values.add(str(value))
    return {value for value in values if len(value) >= _MASKED_MIN_LENGTH}


def mask_secrets(results: Sequence[CheckResult], values: set[str]) -> list[CheckResult]:
    masked = []
    for result in results:
        reason = result.reason
        for value in sorted(values, key=len, reverse=True):
            reason = reason.replace(value, _MASK)
        masked.append(replace(result, reason=reason))
    return masked
