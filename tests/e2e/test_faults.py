"""Faults injected into the real stack: every run either completes or stops with a clear
error, and the next run picks up where the last fully sent batch ended. Nothing is lost."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from embedded_stack.postgres import free_port
from embedded_stack.stack import S3_BUCKET, S3_RESOURCE
from embedded_stack.synthetic_sierra import SyntheticSierra
from patron_info_poller.errors import (
    FatalError,
    GeocoderUnavailableError,
    KinesisSendError,
    RetriesExhaustedError,
    SourceUnavailableError,
    StateError,
)
from patron_info_poller.obfuscation import obfuscate
from tests.e2e.state_objects import saved_state

NOW = datetime.now(UTC).replace(microsecond=0)


def seed(sierra, count: int, seed: int = 5) -> list[int]:
    return SyntheticSierra(seed=seed).create_patrons(
        sierra, count, start=NOW - timedelta(days=9), end=NOW - timedelta(days=2)
    )


def expected_ids(stack, record_ids) -> set[str]:
    return {obfuscate(str(i), stack.salt.encode()) for i in record_ids}


def delivered(records) -> set[str]:
    return {r["patron_id"] for r in records}


def via_proxy(stack, **overrides: str) -> dict[str, str]:
    return {
        "AWS_ENDPOINT_URL_KINESIS": stack.aws_fault_proxy_url,
        "AWS_ENDPOINT_URL_S3": stack.aws_fault_proxy_url,
        "KINESIS_RETRY_BACKOFF_SECONDS": "0.01",
        **overrides,
    }


@pytest.mark.parametrize(
    "error_code", ["ProvisionedThroughputExceededException", "InternalFailure"]
)
def test_kinesis_partial_failures_resend_only_the_failed_records(
    poller, sierra, stack, reliability, error_code
):
    ids = seed(sierra, 60)
    faults = stack.aws_fault_proxy.faults
    faults.kinesis_partial_calls, faults.kinesis_failed_records = 3, 7
    faults.kinesis_error_code = error_code
    reliability.faults_injected += 3

    error, records = poller.try_run(**via_proxy(stack, SIERRA_BATCH_SIZE="25"))

    assert error is None
    assert faults.records_rejected == 21
    # Rejected records never reached the stream; each resend put them there once.
    assert sorted(r["patron_id"] for r in records) == sorted(expected_ids(stack, ids))
    assert not reliability.account(expected_ids(stack, ids), delivered(records))


def test_kinesis_failing_whole_calls_mid_run_stops_without_passing_unsent_batches(
    poller, sierra, stack, reliability
):
    ids = seed(sierra, 60)
    faults = stack.aws_fault_proxy.faults
    faults.kinesis_from_call, faults.kinesis_failed_calls = 2, 50
    faults.kinesis_call_status = 500
    reliability.faults_injected += 1

    error, first = poller.try_run(
        **via_proxy(stack, SIERRA_BATCH_SIZE="20", KINESIS_MAX_ATTEMPTS="3")
    )

    assert isinstance(error, KinesisSendError)
    assert error.exit_code == 4
    assert len(first) == 20
    assert saved_state(stack).new.last_id is not None
    stack.aws_fault_proxy.reset()
    error, second = poller.try_run(**via_proxy(stack, SIERRA_BATCH_SIZE="20"))
    assert error is None
    # The first batch is not sent again as new; the updated stream, which the failed run
    # never reached, does send it again: at least once, as the README says.
    assert not reliability.account(expected_ids(stack, ids), delivered(first + second))


def test_kinesis_endpoint_gone_fails_the_run_and_keeps_the_state(
    poller, sierra, stack, reliability
):
    ids = seed(sierra, 30)
    reliability.faults_injected += 1
    gone = f"http://127.0.0.1:{free_port()}"

    error, records = poller.try_run(
        AWS_ENDPOINT_URL_KINESIS=gone,
        KINESIS_MAX_ATTEMPTS="2",
        KINESIS_RETRY_BACKOFF_SECONDS="0.01",
    )

    assert isinstance(error, KinesisSendError)
    assert records == [] and saved_state(stack) is None
    error, records = poller.try_run()
    assert error is None
    assert not reliability.account(expected_ids(stack, ids), delivered(records))


def test_state_write_failure_after_a_send_means_the_batch_is_sent_again(
    poller, sierra, stack, reliability
):
    ids = seed(sierra, 40)
    stack.aws_fault_proxy.faults.s3_failed_puts = 10  # past botocore's own retries
    reliability.faults_injected += 1

    error, first = poller.try_run(**via_proxy(stack, SIERRA_BATCH_SIZE="20"))

    assert isinstance(error, RetriesExhaustedError)
    assert "the next run resends that batch" in str(error)
    assert len(first) == 20 and saved_state(stack) is None
    stack.aws_fault_proxy.reset()
    error, second = poller.try_run(**via_proxy(stack, SIERRA_BATCH_SIZE="20"))
    assert error is None
    assert delivered(first) <= delivered(second)  # at least once: duplicates, no gaps
    assert not reliability.account(expected_ids(stack, ids), delivered(second))


@pytest.mark.parametrize(
    "document",
    [b"{not json", b'{"creation_dt": "2024-01-01T00:00:00+00:00", "mystery": 1}', b"[]"],
)
def test_corrupt_state_is_a_clear_error_and_no_work_is_done(poller, sierra, stack, document):
    seed(sierra, 5)
    stack._clients["s3"].put_object(Bucket=S3_BUCKET, Key=S3_RESOURCE, Body=document)
    error, records = poller.try_run()
    assert isinstance(error, StateError) and error.exit_code == 3
    assert records == []


def test_sierra_connection_killed_mid_run_is_reconnected(poller, sierra, stack, reliability):
    ids = seed(sierra, 80)
    stack.geocoder_app.faults.delay_seconds = 0.3  # keep the run going for a while
    killer = threading.Timer(0.8, stack.postgres.terminate_backends, args=("iii",))
    killer.start()
    reliability.faults_injected += 1

    error, records = poller.try_run(SIERRA_BATCH_SIZE="10")

    killer.join()
    assert error is None
    assert not reliability.account(expected_ids(stack, ids), delivered(records))


def test_database_restart_mid_run_is_survived(poller, sierra, stack, reliability):
    ids = seed(sierra, 60)
    stack.geocoder_app.faults.delay_seconds = 0.3
    restart = threading.Timer(0.8, stack.postgres.restart, kwargs={"downtime_seconds": 0.5})
    restart.start()
    reliability.faults_injected += 1

    error, records = poller.try_run(SIERRA_BATCH_SIZE="10")

    restart.join()
    assert error is None
    assert not reliability.account(expected_ids(stack, ids), delivered(records))


def test_statement_timeout_is_retried_then_fatal(poller, sierra, stack, reliability):
    ids = seed(sierra, 10)
    sierra.execute("ALTER ROLE sierra_reader SET statement_timeout = '300ms'")
    lock = "LOCK TABLE sierra_view.record_metadata IN ACCESS EXCLUSIVE MODE"
    reliability.faults_injected += 2
    try:
        with psycopg.connect(stack.sierra_admin_conninfo) as locker:
            locker.execute(lock)  # held for the whole run: every try times out
            error, records = poller.try_run()
            locker.rollback()
        assert isinstance(error, SourceUnavailableError) and error.exit_code == 4
        assert "57014" in str(error)  # SQLSTATE query_canceled
        assert records == []
        with psycopg.connect(stack.sierra_admin_conninfo) as locker:
            locker.execute(lock)  # released while the poller waits to retry
            release = threading.Timer(0.5, locker.rollback)
            release.start()
            error, records = poller.try_run()
            release.join()
    finally:
        sierra.execute("ALTER ROLE sierra_reader RESET statement_timeout")
    assert error is None
    assert not reliability.account(expected_ids(stack, ids), delivered(records))


def test_warehouse_unreachable_stops_before_updated_patrons(poller, sierra, stack, reliability):
    ids = seed(sierra, 30)
    reliability.faults_injected += 1
    poller.run()  # all new; the warehouse is not needed
    SyntheticSierra(seed=9).update_patrons(sierra, ids[:10], NOW - timedelta(days=1))

    error, records = poller.try_run(REDSHIFT_DB_PORT=str(free_port()))

    assert isinstance(error, SourceUnavailableError) and error.exit_code == 4
    assert "warehouse" in str(error)
    assert records == []
    error, records = poller.try_run()
    assert error is None
    assert not reliability.account(expected_ids(stack, ids[:10]), delivered(records))


@pytest.mark.parametrize(
    ("fault", "value"),
    [
        ("fail_next", 3),  # 503s
        ("html_next", 2),  # an HTML error page with status 200
        ("garble_next", 2),  # CSV in which no row makes sense
        ("drop_rows", 5),  # a reply missing some rows
        ("junk_lines", 4),
        ("delay_seconds", 0.6),  # far slower than usual, still within the timeout
    ],
)
def test_geocoder_bad_days_still_complete(poller, sierra, stack, reliability, fault, value):
    ids = seed(sierra, 40)
    setattr(stack.geocoder_app.faults, fault, value)
    reliability.faults_injected += 1

    error, records = poller.try_run(GEOCODER_TIMEOUT_SECONDS="5")

    assert error is None
    assert not reliability.account(expected_ids(stack, ids), delivered(records))


def test_geocoder_timeouts_past_retries_fail_without_moving_the_state(poller, sierra, stack):
    seed(sierra, 20)
    stack.geocoder_app.faults.delay_seconds = 1.5
    error, records = poller.try_run(GEOCODER_TIMEOUT_SECONDS="0.3", GEOCODER_MAX_ATTEMPTS="2")
    assert isinstance(error, GeocoderUnavailableError) and error.exit_code == 4
    assert records == [] and saved_state(stack) is None


def test_permission_error_is_fatal_at_once_not_an_outage(poller, sierra, stack):
    seed(sierra, 5)
    sierra.execute("REVOKE SELECT ON sierra_view.patron_view FROM sierra_reader")
    try:
        error, records = poller.try_run()
    finally:
        sierra.execute("GRANT SELECT ON sierra_view.patron_view TO sierra_reader")
    assert isinstance(error, FatalError) and error.exit_code == 1
    assert "retrying will not help" in str(error) and "42501" in str(error)
    assert records == [] and saved_state(stack) is None
