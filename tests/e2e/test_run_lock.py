"""One run at a time, and state writes that never overwrite another writer."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from embedded_stack.stack import S3_BUCKET, S3_RESOURCE
from embedded_stack.synthetic_sierra import SyntheticSierra
from embedded_stack.warehouse_loader import decode_records, shipped_schema
from patron_info_poller.errors import RunInProgressError, StateConflictError
from patron_info_poller.obfuscation import obfuscate
from patron_info_poller.runner import run_once
from tests.e2e.state_objects import saved_state

ROOT = Path(__file__).resolve().parents[2]
LOCK_KEY = f"{S3_RESOURCE}.lock"


def start_cli(stack, **overrides: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(stack.poller_environment(LOG_LEVEL="warning", **overrides))
    return subprocess.Popen(
        [sys.executable, str(ROOT / "main.py"), "--config-dir", str(ROOT / "config")],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture
def patrons(poller, sierra):
    now = datetime.now(UTC).replace(microsecond=0)
    return SyntheticSierra(seed=12).create_patrons(
        sierra, 40, start=now - timedelta(days=5), end=now - timedelta(days=1)
    )


def pids(stack, record_ids) -> list[str]:
    return [obfuscate(str(i), stack.salt.encode()) for i in record_ids]


def test_two_runs_started_together_one_exits_5_and_nothing_is_sent_twice(
    stack, patrons, reliability
):
    # The geocoder holds the first run mid-way, so the two runs surely overlap.
    release = threading.Event()
    stack.geocoder_app.faults.hold = release
    first = start_cli(stack, SIERRA_BATCH_SIZE="10")
    s3 = stack._clients["s3"]
    deadline = time.monotonic() + 60
    while s3.list_objects_v2(Bucket=S3_BUCKET, Prefix=LOCK_KEY)["KeyCount"] == 0:
        assert time.monotonic() < deadline, "the first run never took the lock"
        time.sleep(0.02)
    second = start_cli(stack, SIERRA_BATCH_SIZE="10")
    second_result = second.communicate(timeout=60)  # it stops without waiting on anything
    release.set()
    results = [first.communicate(timeout=120), second_result]
    codes = sorted(process.returncode for process in (first, second))

    assert codes == [0, 5]
    loser_stderr = results[[first.returncode, second.returncode].index(5)][1]
    # The last line says what happened, in one line.
    assert "another run is in progress" in loser_stderr.strip().splitlines()[-1]
    records = decode_records(stack.new_kinesis_records(), shipped_schema())
    sent = [record["patron_id"] for record in records]
    assert sorted(sent) == sorted(pids(stack, patrons))  # each exactly once
    # The winner released the lock.
    assert stack._clients["s3"].list_objects_v2(Bucket=S3_BUCKET, Prefix=LOCK_KEY)["KeyCount"] == 0
    reliability.runs += 2
    reliability.faults_injected += 1
    reliability.records_sent += len(records)
    assert not reliability.account(set(pids(stack, patrons)), set(sent))


def test_a_held_lock_stops_a_run_before_it_does_anything(poller, patrons, stack):
    holder = {
        "owner": "other-host:1:abc",
        "purpose": "run",
        "started_at": datetime.now(UTC).isoformat(),
        "expires_at": (datetime.now(UTC) + timedelta(minutes=5)).isoformat(),
    }
    stack._clients["s3"].put_object(Bucket=S3_BUCKET, Key=LOCK_KEY, Body=json.dumps(holder))
    with pytest.raises(RunInProgressError, match="other-host:1:abc") as raised:
        poller.run()
    assert raised.value.exit_code == 5
    assert stack.new_kinesis_records() == []
    assert saved_state(stack) is None


def test_a_stale_lock_is_taken_over_with_a_warning(poller, patrons, stack, caplog):
    expired = {
        "owner": "killed-host:9:def",
        "purpose": "run",
        "started_at": (datetime.now(UTC) - timedelta(minutes=10)).isoformat(),
        "expires_at": (datetime.now(UTC) - timedelta(seconds=1)).isoformat(),
    }
    stack._clients["s3"].put_object(Bucket=S3_BUCKET, Key=LOCK_KEY, Body=json.dumps(expired))
    run = poller.run()
    assert len(run.records) == len(patrons)
    assert "Took over an expired run lock" in caplog.text
    assert stack._clients["s3"].list_objects_v2(Bucket=S3_BUCKET, Prefix=LOCK_KEY)["KeyCount"] == 0


def test_a_state_write_that_loses_a_race_fails_and_loses_nothing(
    poller, patrons, stack, reliability
):
    stack.geocoder_app.faults.delay_seconds = 0.3
    config = poller.config(SIERRA_BATCH_SIZE="10")
    failure: list[BaseException] = []

    def run() -> None:
        try:
            run_once(config)
        except BaseException as exc:
            failure.append(exc)

    runner = threading.Thread(target=run)
    runner.start()
    s3 = stack._clients["s3"]
    deadline = time.monotonic() + 60
    while saved_state(stack) is None and time.monotonic() < deadline:
        time.sleep(0.02)
    # Another writer (an operator bypassing the lock) moves the updated stream's cursor.
    document = json.loads(s3.get_object(Bucket=S3_BUCKET, Key=S3_RESOURCE)["Body"].read())
    document["update_dt"] = "2020-01-01T00:00:00+00:00"
    s3.put_object(Bucket=S3_BUCKET, Key=S3_RESOURCE, Body=json.dumps(document).encode())
    runner.join(timeout=120)

    assert len(failure) == 1 and isinstance(failure[0], StateConflictError)
    assert "changed by another writer" in str(failure[0])
    assert failure[0].exit_code == 5
    # The other writer's state stands, and the next run delivers everything after it.
    rest = poller.run(SIERRA_BATCH_SIZE="10")
    delivered = {r["patron_id"] for r in decode_records(stack.new_kinesis_records(), poller.schema)}
    delivered |= {r["patron_id"] for r in rest.records}
    reliability.faults_injected += 1
    reliability.runs += 2
    assert not reliability.account(set(pids(stack, patrons)), delivered)
