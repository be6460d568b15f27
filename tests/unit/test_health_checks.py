"""health_checks.py without services: result formatting, the rules every row follows
(one line, no secret, an unexpected exception named by its type only, a budget), and
the checks that need no network (kms with a fake client, bcrypt, s3 with IGNORE_CACHE,
kinesis statuses, the geocoder's offline providers)."""

from __future__ import annotations

import argparse
import io
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from rich.console import Console

from patron_info_poller import health_checks
from patron_info_poller.cli import check as check_cli
from patron_info_poller.config import PollerConfig
from patron_info_poller.errors import FatalError
from patron_info_poller.geocoding.tiger_index import SCHEMA, IndexMeta
from patron_info_poller.health_checks import (
    CHECK_NAMES,
    CheckContext,
    CheckFailed,
    CheckResult,
    attempt,
    run_checks,
)

SALT = "$2b$07$YyUIk8oYRQ8xbPBnY.KzD."
VARIABLES = {
    "AWS_REGION": "us-east-1",
    "SIERRA_DB_PORT": "1032",
    "SIERRA_DB_NAME": "iii",
    "SIERRA_DB_HOST": "sierra.internal.example.org",
    "SIERRA_DB_USER": "reader",
    "SIERRA_DB_PASSWORD": "sierra-secret-pw",
    "REDSHIFT_DB_NAME": "dev",
    "REDSHIFT_TABLE": "patron_info",
    "REDSHIFT_DB_HOST": "redshift.internal.example.org",
    "REDSHIFT_DB_USER": "reader",
    "REDSHIFT_DB_PASSWORD": "redshift-secret-pw",
    "KINESIS_STREAM_ARN": "arn:aws:kinesis:us-east-1:123456789012:stream/PatronInfo-dev",
    "BCRYPT_SALT": SALT,
    "GEOCODER_API_BASE_URL": "https://geocoding.geo.census.gov/geocoder/geographies/addressbatch",
    "GEOCODER_API_BENCHMARK": "Public_AR_Current",
    "GEOCODER_API_VINTAGE": "Current_Current",
    "PATRON_INFO_SCHEMA_URL": "https://platform.example.org/api/v0.1/current-schemas/PatronInfo",
    "KINESIS_BATCH_SIZE": "500",
    "S3_BUCKET": "bucket",
    "S3_RESOURCE": "state.json",
    "SIERRA_BATCH_SIZE": "1000",
}


def config(**overrides: str) -> PollerConfig:
    return PollerConfig.model_validate({**VARIABLES, **overrides})


def no_aws(service: str):
    raise AssertionError(f"no {service} client expected")


def client_error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "quotes a value"}}, "Decrypt")


# --- formatting ------------------------------------------------------------------------


def test_a_result_prints_its_status_seconds_with_two_decimals_and_its_reason():
    passed = CheckResult("kinesis", True, 0.123456, "ACTIVE, 2 open shards")
    failed = CheckResult("sierra", False, 12.0, "cannot connect: connection refused")
    assert passed.row() == ("kinesis", "ok", "0.12", "ACTIVE, 2 open shards")
    assert failed.row() == ("sierra", "fail", "12.00", "cannot connect: connection refused")
    assert passed.as_dict() == {
        "name": "kinesis",
        "ok": True,
        "seconds": 0.123,
        "reason": "ACTIVE, 2 open shards",
    }


def test_plain_text_is_one_aligned_line_per_check():
    results = [
        CheckResult("kms", True, 0.5, "8 encrypted variables decrypt"),
        CheckResult("warehouse", False, 10.25, "table patron_info lacks columns: geoid"),
        CheckResult("bcrypt", True, 0.01, "cost 7; 6.0 ms per hash (CPU)"),
    ]
    lines = check_cli.plain_lines(results)
    assert lines == [
        "kms        ok     0.50  8 encrypted variables decrypt",
        "warehouse  fail  10.25  table patron_info lacks columns: geoid",
        "bcrypt     ok     0.01  cost 7; 6.0 ms per hash (CPU)",
    ]
    assert check_cli.plain_lines([]) == []


def test_the_rich_table_has_a_row_per_check_and_shows_reasons_as_text():
    results = [
        CheckResult("kms", True, 0.5, "the config file has no ENCRYPTED_VARIABLES"),
        CheckResult("schema", False, 0.2, "a [bold]reason[/bold] that looks like markup"),
    ]
    table = check_cli.rich_table(results)
    assert table.row_count == 2
    output = io.StringIO()
    Console(file=output, width=200, color_system=None).print(table)
    text = output.getvalue()
    assert "a [bold]reason[/bold] that looks like markup" in text
    assert "fail" in text and "0.50" in text


def test_the_timeout_option_must_be_positive():
    assert check_cli._positive_seconds("2.5") == 2.5
    for text in ("0", "-1", "soon"):
        with pytest.raises(argparse.ArgumentTypeError):
            check_cli._positive_seconds(text)


# --- the rules every row follows -------------------------------------------------------


def test_an_unexpected_exception_becomes_a_fail_row_naming_only_its_type():
    def leaky(ctx):
        raise KeyError("patron 1234567 at 12 Secret Lane")

    result = attempt("sierra", leaky, CheckContext(config()))

    assert result == CheckResult("sierra", False, result.seconds, "unexpected KeyError")
    assert result.seconds >= 0


def test_an_expected_failure_keeps_its_reason_on_one_line():
    def fails(ctx):
        raise CheckFailed("cannot read\n  sierra_view.patron_view:\tpermission denied")

    def fatal(ctx):
        raise FatalError("the PatronInfo schema lacks fields: geoid")

    ctx = CheckContext(config())
    assert attempt("sierra", fails, ctx).reason == (
        "cannot read sierra_view.patron_view: permission denied"
    )
    assert attempt("schema", fatal, ctx).reason == "the PatronInfo schema lacks fields: geoid"
    assert attempt("bcrypt", lambda ctx: "cost 7", ctx).ok


def test_results_come_back_in_order_and_a_slow_check_fails_within_its_budget():
    release = threading.Event()

    def hangs(ctx):
        release.wait(30)
        return "answered at last"

    checks = {"first": lambda ctx: "fine", "stuck": hangs, "last": lambda ctx: "fine too"}
    started = time.monotonic()
    try:
        results = run_checks(config(), budget_seconds=0.3, checks=checks, aws=no_aws)
        elapsed = time.monotonic() - started
        assert health_checks.checks_left_running() >= 1
    finally:
        release.set()
    assert elapsed < 2
    assert [r.name for r in results] == ["first", "stuck", "last"]
    assert [r.ok for r in results] == [True, False, True]
    assert results[1].reason == "no answer within 0.3 s"
    assert results[1].seconds == 0.3


def test_secret_values_are_masked_in_every_reason():
    checks = {
        "salt": lambda ctx: f"salt {SALT} leaked",
        "password": lambda ctx: (_ for _ in ()).throw(CheckFailed("pw sierra-secret-pw leaked")),
        "host": lambda ctx: "at sierra.internal.example.org",
    }
    encrypted = {"SIERRA_DB_HOST": "ciphertext", "SIERRA_DB_PORT": "ciphertext"}

    results = run_checks(config(), encrypted=encrypted, checks=checks, aws=no_aws)

    assert [r.reason for r in results] == [
        "salt <redacted> leaked",
        "pw <redacted> leaked",
        "at <redacted>",
    ]


def test_the_checks_are_the_documented_ones_in_order():
    assert (
        tuple(health_checks.CHECKS)
        == CHECK_NAMES
        == (
            "kms",
            "sierra",
            "warehouse",
            "s3",
            "kinesis",
            "schema",
            "geocoder",
            "bcrypt",
        )
    )
    assert health_checks.SIERRA_VIEWS == ("record_metadata", "patron_view", "patron_record_address")


# --- kms -------------------------------------------------------------------------------


class FakeKms:
    def __init__(self, failing: dict[bytes, Exception] | None = None):
        self.failing = failing or {}
        self.calls = 0

    def decrypt(self, CiphertextBlob: bytes):
        self.calls += 1
        if CiphertextBlob in self.failing:
            raise self.failing[CiphertextBlob]
        return {"Plaintext": b"plaintext-value"}


def kms_check(encrypted, kms) -> CheckResult:
    ctx = CheckContext(config(), encrypted, aws=lambda service: kms)
    return attempt("kms", health_checks.check_kms, ctx)


def test_kms_without_a_config_file_or_encrypted_variables_passes_and_calls_nothing():
    assert kms_check(None, None).reason == "no config file (ENVIRONMENT unset): nothing to decrypt"
    assert kms_check({}, None).reason == "the config file has no ENCRYPTED_VARIABLES"
    assert kms_check({}, None).ok


def test_kms_counts_what_decrypts_and_names_what_does_not_never_a_value():
    kms = FakeKms({b"bad": client_error("InvalidCiphertextException")})
    encrypted = {
        "SIERRA_DB_PASSWORD": "Z29vZA==",  # b"good"
        "BCRYPT_SALT": "YmFk",  # b"bad"
        "REDSHIFT_DB_HOST": "not base64!",
        "GEOCODER_API_KEY": "",
    }
    result = kms_check(encrypted, kms)
    assert not result.ok
    assert result.reason == (
        "2 of 3 encrypted variables do not decrypt: BCRYPT_SALT (InvalidCiphertextException), "
        "REDSHIFT_DB_HOST (not base64); 1 empty"
    )
    assert "plaintext-value" not in result.reason and "quotes a value" not in result.reason

    passed = kms_check({"SIERRA_DB_PASSWORD": "Z29vZA==", "BCRYPT_SALT": "Z29vZA=="}, FakeKms())
    assert (passed.ok, passed.reason) == (True, "2 encrypted variables decrypt")


def test_kms_out_of_reach_stops_at_the_first_variable():
    unreachable = EndpointConnectionError(endpoint_url="https://kms.example")
    kms = FakeKms({b"good": unreachable})
    result = kms_check({"A": "Z29vZA==", "B": "Z29vZA=="}, kms)
    assert kms.calls == 1
    assert result.reason == (
        "cannot reach KMS (EndpointConnectionError); 0 of 2 encrypted variables decrypted before"
    )


# --- checks that need no network -------------------------------------------------------


def test_bcrypt_prints_the_cost_and_the_time_per_hash():
    result = attempt("bcrypt", health_checks.check_bcrypt, CheckContext(config()))
    assert result.ok, result.reason
    assert result.reason.startswith("cost 7; ") and result.reason.endswith(" ms per hash (CPU)")
    assert SALT not in result.reason


def test_s3_with_ignore_cache_passes_without_touching_s3():
    ctx = CheckContext(config(IGNORE_CACHE="True"), aws=no_aws)
    result = attempt("s3", health_checks.check_s3, ctx)
    assert (result.ok, result.reason) == (True, "IGNORE_CACHE: no state in S3")


class FakeKinesis:
    def __init__(self, status: str, shards: int):
        self.summary = {"StreamStatus": status, "OpenShardCount": shards}

    def describe_stream_summary(self, StreamARN: str):
        return {"StreamDescriptionSummary": self.summary}


@pytest.mark.parametrize(
    ("status", "ok", "reason"),
    [
        ("ACTIVE", True, "ACTIVE, 1 open shard"),
        ("UPDATING", True, "UPDATING (resharding; writes still work), 1 open shard"),
        ("CREATING", False, "stream is CREATING, not ACTIVE"),
    ],
)
def test_kinesis_reports_the_stream_status_and_its_open_shards(status, ok, reason):
    ctx = CheckContext(config(), aws=lambda service: FakeKinesis(status, 1))
    result = attempt("kinesis", health_checks.check_kinesis, ctx)
    assert (result.ok, result.reason) == (ok, reason)


def write_index(path: Path, counties: tuple[str, ...]) -> Path:
    meta = IndexMeta(
        year=2024,
        counties=counties,
        sources=(),
        row_counts={"faces": 0, "street_names": 0, "address_ranges": 0},
        built_at="2026-01-01T00:00:00+00:00",
    )
    with sqlite3.connect(path) as connection:
        connection.executescript(SCHEMA)
        connection.executemany("INSERT INTO meta VALUES (?, ?)", meta.to_rows())
    connection.close()
    return path


def test_the_geocoder_row_summarises_each_provider_in_chain_order(tmp_path):
    index = write_index(tmp_path / "tiger.sqlite", ("36005", "36047", "36061", "36081", "36085"))
    ctx = CheckContext(config(GEOCODER="tiger", TIGER_INDEX=str(index)), aws=no_aws)
    result = attempt("geocoder", health_checks.check_geocoder, ctx)
    assert (result.ok, result.reason) == (
        True,
        "tiger: index 2024, 5 counties (36005, 36047, 36061, 36081, 36085)",
    )

    missing = str(tmp_path / "missing.sqlite")
    ctx = CheckContext(config(GEOCODER="tiger,geosupport", TIGER_INDEX=missing), aws=no_aws)
    result = attempt("geocoder", health_checks.check_geocoder, ctx)
    assert not result.ok
    tiger, geosupport = result.reason.split("; geosupport: ")
    assert tiger.startswith(f"tiger: TIGER_INDEX {missing} does not exist")
    assert "python-geosupport could not load" in geosupport
