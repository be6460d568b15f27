"""Operating the poller, each command in its own process on the embedded stack: state
show/set, replay, file sinks, metrics (EMF and the Pushgateway) and loop mode."""

from __future__ import annotations

import json
import signal
import time
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest

from embedded_stack.http_service import LocalHttpService
from embedded_stack.postgres import free_port
from embedded_stack.pushgateway import PushgatewayApp
from embedded_stack.stack import S3_BUCKET, S3_RESOURCE
from embedded_stack.warehouse_loader import decode_records, shipped_schema
from patron_info_poller.obfuscation import obfuscate
from tests.e2e.cli_process import ROOT, run_cli, start_cli
from tests.e2e.sierra_rows import PATRON_ID_BASE, delete, insert_patron, touch
from tests.e2e.state_objects import saved_state
from tests.e2e.test_cli import assert_no_leaks, plaintext_patron_data

T0 = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
SCHEMA = shipped_schema()


def raw_state(stack) -> bytes:
    return stack._clients["s3"].get_object(Bucket=S3_BUCKET, Key=S3_RESOURCE)["Body"].read()


@pytest.fixture
def sent(poller, sierra):
    """Ten new patrons a minute apart, sent by a real run."""
    for index in range(10):
        insert_patron(sierra, PATRON_ID_BASE + 3_000 + index, created=T0 + timedelta(minutes=index))
    return poller.run()


def test_state_set_round_trips_through_state_show_and_keeps_the_previous(
    sent, stack, sierra, tmp_path
):
    environment = stack.poller_environment(LOG_LEVEL="debug")
    before = raw_state(stack)
    shown = run_cli(["state", "show"], environment, tmp_path)
    assert shown.returncode == 0, shown.stderr[-1000:]
    streams = json.loads(shown.stdout)["streams"]
    assert streams["new"]["id_set"] is True
    assert streams["new"]["cursor"] == (T0 + timedelta(minutes=9)).isoformat()
    assert streams["new"]["caught_up_as_of"] is not None

    back = (T0 + timedelta(minutes=3)).isoformat()
    moved = run_cli(
        ["state", "set", "--stream", "new", "--at", back, "--yes"], environment, tmp_path
    )
    assert moved.returncode == 0, moved.stderr[-1000:]
    assert "will be sent again" in moved.stderr
    after = json.loads(run_cli(["state", "show"], environment, tmp_path).stdout)["streams"]
    assert after["new"] == {**streams["new"], "cursor": back, "id_set": False}
    previous = stack._clients["s3"].get_object(Bucket=S3_BUCKET, Key=f"{S3_RESOURCE}.previous")
    assert previous["Body"].read() == before
    # The next run sends the window again, from the instant set (inclusive).
    rerun = run_cli([], stack.poller_environment(), tmp_path)
    assert rerun.returncode == 0
    assert len(decode_records(stack.new_kinesis_records(), SCHEMA)) == 7
    secrets = plaintext_patron_data(sierra) | {stack.salt}
    assert_no_leaks(shown.stdout + shown.stderr + moved.stdout + moved.stderr, secrets, tmp_path)


def test_state_set_refuses_what_could_lose_changes(sent, stack, tmp_path):
    environment = stack.poller_environment()
    ahead = datetime.now(UTC).isoformat()  # after the run's caught-up time
    refused = run_cli(
        ["state", "set", "--stream", "new", "--at", ahead, "--yes"], environment, tmp_path
    )
    assert refused.returncode == 2
    assert "--force" in refused.stderr.strip().splitlines()[-1]
    unconfirmed = run_cli(
        ["state", "set", "--stream", "updated", "--at", T0.isoformat()], environment, tmp_path
    )
    assert unconfirmed.returncode == 2 and "--yes" in unconfirmed.stderr
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    assert (
        run_cli(
            ["state", "set", "--stream", "new", "--at", future, "--yes"], environment, tmp_path
        ).returncode
        == 2
    )
    no_offset = run_cli(
        ["state", "set", "--stream", "new", "--at", "2024-06-01T00:00:00", "--yes"],
        environment,
        tmp_path,
    )
    assert no_offset.returncode == 2 and "offset" in no_offset.stderr
    before = raw_state(stack)
    forced = run_cli(
        ["state", "set", "--stream", "new", "--at", ahead, "--yes", "--force"],
        environment,
        tmp_path,
    )
    assert forced.returncode == 0, forced.stderr[-1000:]
    assert raw_state(stack) != before


def test_replay_resends_a_window_and_leaves_the_state_byte_identical(sent, stack, sierra, tmp_path):
    before = raw_state(stack)
    since, until = T0 + timedelta(minutes=2), T0 + timedelta(minutes=5)
    replayed = run_cli(
        [
            "replay",
            "--stream",
            "new",
            "--since",
            since.isoformat(),
            "--until",
            until.isoformat(),
        ],
        stack.poller_environment(LOG_LEVEL="debug"),
        tmp_path,
    )
    assert replayed.returncode == 0, replayed.stderr[-1000:]
    records = decode_records(stack.new_kinesis_records(), SCHEMA)
    expected = {obfuscate(str(PATRON_ID_BASE + 3_000 + i), stack.salt.encode()) for i in (2, 3, 4)}
    assert sorted(r["patron_id"] for r in records) == sorted(expected)
    assert raw_state(stack) == before
    assert_no_leaks(
        replayed.stdout + replayed.stderr, plaintext_patron_data(sierra) | {stack.salt}, tmp_path
    )


def test_a_file_sink_run_sends_nothing_and_leaves_no_state(poller, sierra, stack, tmp_path):
    for index in range(5):
        insert_patron(sierra, PATRON_ID_BASE + 4_000 + index, created=T0 + timedelta(minutes=index))
    target = tmp_path / "dry-run.jsonl"
    result = run_cli(
        ["run", "--sink", f"jsonl:{target}"], stack.poller_environment(LOG_LEVEL="debug"), tmp_path
    )
    assert result.returncode == 0, result.stderr[-1000:]
    lines = [json.loads(line) for line in target.read_text().splitlines()]
    assert len(lines) == 5 and all(line["geoid"] for line in lines)
    assert stack.new_kinesis_records() == []
    assert saved_state(stack) is None
    assert_no_leaks(
        result.stdout + result.stderr, plaintext_patron_data(sierra) | {stack.salt}, tmp_path
    )


def test_emf_lines_parse_and_count_what_kinesis_received(poller, sierra, stack, tmp_path):
    for index in range(12):
        insert_patron(sierra, PATRON_ID_BASE + 5_000 + index, created=T0 + timedelta(minutes=index))
    first = poller.run()
    poller.load_into_warehouse(first.raw)
    touch(sierra, [PATRON_ID_BASE + n for n in (5_000, 5_001, 5_002)], T0 + timedelta(days=1))
    delete(sierra, [PATRON_ID_BASE + 5_010, PATRON_ID_BASE + 5_011], date(2024, 6, 3))
    for index in range(4):
        insert_patron(
            sierra, PATRON_ID_BASE + 6_000 + index, created=T0 + timedelta(days=1, minutes=index)
        )

    result = run_cli([], stack.poller_environment(METRICS="emf"), tmp_path)

    assert result.returncode == 0, result.stderr[-1000:]
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert lines, "no EMF line on stdout"
    for line in lines:
        directive = line["_aws"]["CloudWatchMetrics"][0]
        assert directive["Namespace"] == "PatronInfoPoller"
        for dimension in directive["Dimensions"][0]:
            assert dimension in line
        for metric in directive["Metrics"]:
            assert isinstance(line[metric["Name"]], int | float)
    per_stream = {
        line["Stream"]: line
        for line in lines
        if set(line) >= {"Stream", "records_sent"} and "Provider" not in line
    }
    received = decode_records(stack.new_kinesis_records(), SCHEMA)
    deleted = [r for r in received if r["deletion_date_et"] is not None]
    assert per_stream["new"]["records_sent"] == 4
    assert per_stream["updated"]["records_sent"] == 3
    assert per_stream["deleted"]["records_sent"] == len(deleted) == 2
    assert sum(line["records_sent"] for line in per_stream.values()) == len(received)
    overall = next(line for line in lines if "Stream" not in line)
    assert overall["last_success_timestamp_seconds"] == pytest.approx(time.time(), abs=120)
    # Freshness: new and updated are drained to the frozen now; deletions to midnight UTC
    # (deletion_date_gmt is a date, so only finished days are read).
    assert 0 <= per_stream["new"]["freshness_seconds"] < 600
    assert 0 <= per_stream["updated"]["freshness_seconds"] < 600
    assert 0 <= per_stream["deleted"]["freshness_seconds"] < 86_400 + 600


def test_the_pushgateway_gets_the_last_success_only_on_success(sent, stack, tmp_path):
    app = PushgatewayApp()
    with LocalHttpService(app) as gateway:
        environment = stack.poller_environment(
            METRICS="pushgateway", PUSHGATEWAY_URL=gateway.base_url, ENVIRONMENT="local"
        )
        local_config = ["--config-dir", str(ROOT / "config")]  # config/local.yaml
        ok = run_cli(local_config, environment, tmp_path)
        closed = f"http://127.0.0.1:{free_port()}"
        failed = run_cli(local_config, {**environment, "PATRON_INFO_SCHEMA_URL": closed}, tmp_path)
    assert ok.returncode == 0 and failed.returncode == 1
    success, failure = app.pushes
    assert (
        success.grouping_key
        == failure.grouping_key
        == {
            "job": "patron_info_poller",
            "environment": "local",
        }
    )
    assert any(
        name.startswith("patron_info_poller_last_success_timestamp_seconds")
        for name in success.samples
    )
    assert not any("last_success" in name for name in failure.samples)
    assert "patron_info_poller_run_duration_seconds{environment=local}" in failure.samples
    assert (
        success.samples["patron_info_poller_records_sent_total{environment=local,stream=new}"] == 0
    )


def test_loop_mode_runs_twice_and_stops_on_sigterm(sent, stack, sierra, tmp_path):
    port = free_port()
    environment = stack.poller_environment(LOG_LEVEL="info", METRICS="emf", METRICS_PORT=str(port))
    process = start_cli(["run", "--every", "1s", "--jitter", "0.2s"], environment, tmp_path)
    deadline = time.monotonic() + 90
    scraped = ""
    while time.monotonic() < deadline and _successful_runs(scraped) < 2:
        time.sleep(0.3)
        try:
            scraped = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
        except httpx.TransportError:
            scraped = ""
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=60)

    assert process.returncode == 128 + signal.SIGTERM, stderr[-1500:]
    successes = [line for line in stdout.splitlines() if "last_success_timestamp_seconds" in line]
    assert len(successes) >= 2
    assert _successful_runs(scraped) >= 2
    assert 'patron_info_poller_records_sent_total{environment="unnamed",stream="new"}' in scraped
    assert_no_leaks(stdout + stderr, plaintext_patron_data(sierra) | {stack.salt}, tmp_path)


def _successful_runs(scraped: str) -> float:
    prefix = 'patron_info_poller_runs_total{environment="unnamed",outcome="success"} '
    for line in scraped.splitlines():
        if line.startswith(prefix):
            return float(line[len(prefix) :])
    return 0.0
