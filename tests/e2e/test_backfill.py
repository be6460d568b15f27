"""The parallel backfill on the embedded stack, on a LocalCluster of 2 worker processes:
the same records as the sequential BACKFILL=True run, chunk bounds, a worker and the
driver killed, Kinesis partial failures, a dry run, --advance-state and leak scans.

Most tests drive `run_backfill` in this process against one cluster for the module; the
driver's own death and the leak scan run the CLI in its own process, as operators do.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path

import bcrypt
import dask
import fastavro
import psutil
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from embedded_stack.postgres import free_port
from embedded_stack.stack import S3_BUCKET, S3_RESOURCE
from embedded_stack.synthetic_sierra import RECORD_ID_BASE, SyntheticSierra
from embedded_stack.warehouse_loader import decode_records, shipped_schema
from patron_info_poller import parts
from patron_info_poller.backfill.chunk import ConfigSource, chunk_key
from patron_info_poller.backfill.cluster import ClusterSpec, connect
from patron_info_poller.backfill.driver import BackfillOptions, run_backfill
from patron_info_poller.backfill.plan import BackfillPlan, chunk_count, chunk_ranges, plan_tiles
from patron_info_poller.backfill.progress import BackfillSummary
from patron_info_poller.config import load_config
from patron_info_poller.cursor import Cursor
from patron_info_poller.databases.connection import ReconnectingDatabase
from patron_info_poller.obfuscation import obfuscate
from patron_info_poller.runner import run_once
from patron_info_poller.sinks.spec import SinkSpec
from patron_info_poller.state.sealed_ids import IdSealer
from tests.e2e import state_objects
from tests.e2e.cli_process import cli_environment, run_cli, start_cli
from tests.e2e.sierra_rows import insert_patron
from tests.e2e.test_cli import assert_no_leaks, plaintext_patron_data

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ConfigSource(None, str(ROOT / "config"))
# Cost 4 keeps the many chunks quick; the cost changes nothing about chunks and delivery.
FAST_SALT = bcrypt.gensalt(rounds=4).decode()
BATCH = 25
SCHEMA = shipped_schema()
NOW = datetime.now(UTC).replace(microsecond=0)
SINCE = NOW - timedelta(days=20)
PREFIX = f"{S3_RESOURCE}.backfill/"


def pid(record_id: int) -> str:
    return obfuscate(str(record_id), FAST_SALT.encode())


@pytest.fixture(scope="module")
def backfill_env(stack) -> dict[str, str]:
    """The workers' environment and the driver's: Kinesis through the fault proxy."""
    return stack.poller_environment(
        BCRYPT_SALT=FAST_SALT,
        SIERRA_BATCH_SIZE=str(BATCH),
        AWS_ENDPOINT_URL_KINESIS=stack.aws_fault_proxy_url,
        KINESIS_RETRY_BACKOFF_SECONDS="0.01",
        LOG_LEVEL="warning",
    )


@pytest.fixture(scope="module")
def client(backfill_env):
    # A killed worker's semaphore leases go back within seconds, not the default 30.
    quick_leases = {
        "distributed.scheduler.locks.lease-timeout": "2s",
        "distributed.scheduler.locks.lease-validation-interval": "0.5s",
    }
    with (
        dask.config.set(quick_leases),
        connect(ClusterSpec(workers=2, worker_env=backfill_env)) as dask_client,
    ):
        yield dask_client


@pytest.fixture
def backfill(poller, client, backfill_env):
    """Runs a backfill in this process on the module's cluster; returns its summary."""

    def run(**options) -> BackfillSummary:
        config = load_config(None, backfill_env, ROOT / "config")
        return run_backfill(config, BackfillOptions(CONFIG, **options), client=client)

    return run


def seed(sierra, count: int, seed: int = 11) -> list[int]:
    return SyntheticSierra(seed=seed).create_patrons(
        sierra, count, start=NOW - timedelta(days=10), end=NOW - timedelta(days=1)
    )


def kinesis_records(stack) -> list[dict]:
    return decode_records(stack.new_kinesis_records(), SCHEMA)


def as_multiset(records: list[dict]) -> Counter:
    return Counter(tuple(sorted(record.items())) for record in records)


def s3_keys(stack, prefix: str = "") -> list[str]:
    s3 = stack._clients["s3"]
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=S3_BUCKET, Prefix=prefix)
    return [item["Key"] for page in pages for item in page.get("Contents", [])]


def s3_json(stack, key: str) -> dict:
    return json.loads(stack._clients["s3"].get_object(Bucket=S3_BUCKET, Key=key)["Body"].read())


def stored_plan(stack) -> BackfillPlan:
    (key,) = [k for k in s3_keys(stack, PREFIX) if k.endswith("/plan.json")]
    return BackfillPlan.from_json(s3_json(stack, key), key)


def markers(stack) -> dict[int, dict]:
    return {
        int(key.rsplit("/", 1)[1].removesuffix(".json")): s3_json(stack, key)
        for key in s3_keys(stack, PREFIX)
        if "/chunks/" in key
    }


def wait_for(condition, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError("timed out waiting")


def test_backfill_sends_the_records_of_the_sequential_backfill(
    backfill, poller, sierra, stack, backfill_env, reliability
):
    ids = seed(sierra, 300)
    sequential = {"BACKFILL": "True", "IGNORE_CACHE": "True", "STARTING_CREATION_DT": str(SINCE)}
    run_once(load_config(None, {**backfill_env, **sequential}, ROOT / "config"))
    expected = kinesis_records(stack)

    summary = backfill(since=SINCE, chunk_rows=40)

    records = kinesis_records(stack)
    assert len(expected) == 300
    assert as_multiset(records) == as_multiset(expected)  # field by field, no duplicates
    assert (summary.chunks_total, summary.chunks_run) == (8, 8)
    assert (summary.read, summary.sent, summary.duplicates) == (300, 300, 0)
    assert summary.sent + sum(summary.skipped.values()) == summary.read
    assert summary.worker_cpu_seconds > 0 and summary.state_change is None
    assert state_objects.state_document(stack) is None  # the cursors were never touched
    sent = {record["patron_id"] for record in records}
    for marker in markers(stack).values():
        assert marker["sent"] in (37, 38) and marker["attempts"] == 1
        assert {marker["first_sent"], marker["last_sent"]} <= sent
    assert not reliability.account({pid(i) for i in ids}, sent)


def test_patrons_at_a_chunks_lo_and_hi_minus_one_are_sent_once(backfill, poller, sierra, stack):
    base = RECORD_ID_BASE["p"] + 2_000_000
    for offset in range(120):  # consecutive ids: each chunk's lo and hi - 1 are patrons
        insert_patron(sierra, base + offset, created=NOW - timedelta(days=2, seconds=offset))

    summary = backfill(since=SINCE, chunk_rows=30)

    plan = stored_plan(stack)
    ranges = [plan.chunk_range(n, IdSealer(FAST_SALT)) for n in range(plan.chunk_count)]
    assert ranges == [(base + lo, base + lo + 30) for lo in (0, 30, 60, 90)]
    sent = Counter(record["patron_id"] for record in kinesis_records(stack))
    for lo, hi in ranges:
        assert sent[pid(lo)] == 1 and sent[pid(hi - 1)] == 1
    assert sum(sent.values()) == len(sent) == 120 == summary.sent


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    ids=st.sets(st.integers(1, 10**12), min_size=1, max_size=150),
    others=st.sets(st.integers(10**12 + 1, 2 * 10**12), max_size=20),
    chunk_rows=st.integers(1, 60),
    slots=st.integers(1, 4),
)
def test_the_boundary_query_balances_tiles_and_its_ranges_partition_the_ids(
    stack, sierra, backfill_env, ids, others, chunk_rows, slots
):
    sierra.execute("TRUNCATE sierra_view.record_metadata")
    rows = [(i, "p", i % 10_000_000, NOW - timedelta(days=1), None) for i in ids]
    # Outside the window: deleted, created too late, or not patrons.
    odd = [
        (i, code, i % 10_000_000, created, deleted)
        for i, (code, created, deleted) in zip(
            sorted(others),
            [
                ("p", NOW - timedelta(days=1), NOW.date()),
                ("p", NOW + timedelta(days=1), None),
                ("b", NOW - timedelta(days=1), None),
            ]
            * 7,
            strict=False,
        )
    ]
    with sierra.cursor() as cur:
        cur.executemany(
            "INSERT INTO sierra_view.record_metadata (id, record_type_code, record_num,"
            " creation_date_gmt, deletion_date_gmt) VALUES (%s, %s, %s, %s, %s)",
            rows + odd,
        )
    config = load_config(None, backfill_env, ROOT / "config")
    db = ReconnectingDatabase(parts.sierra_settings(config))
    try:
        tiles = plan_tiles(db, SINCE, NOW, chunk_rows, slots)
    finally:
        db.close()

    assert len(tiles) == chunk_count(len(ids), chunk_rows, slots)
    sizes = [tile.rows for tile in tiles]
    assert sum(sizes) == len(ids) and max(sizes) - min(sizes) <= 1
    ranges = chunk_ranges(tiles)
    for (_, hi), (lo, _) in pairwise(ranges):
        assert hi == lo  # contiguous: together they cover [min id, max id]
    for record_id in ids:
        assert sum(lo <= record_id < hi for lo, hi in ranges) == 1


def test_a_worker_killed_mid_chunk_loses_nothing_and_its_duplicates_are_counted(
    backfill, poller, sierra, stack, client, reliability
):
    ids = seed(sierra, 400)
    stack.geocoder_app.faults.delay_seconds = 0.3  # a chunk of 4 batches takes ~1.5 s
    outcome: dict = {}

    def run() -> None:
        try:
            outcome["summary"] = backfill(since=SINCE, chunk_rows=100)
        except BaseException as exc:
            outcome["error"] = exc

    driver = threading.Thread(target=run)
    driver.start()

    def chunk_to_kill() -> tuple[int, str] | None:
        """A chunk with at least two of its four batches to go, and its worker."""
        keys = s3_keys(stack, PREFIX)
        done = {key.rsplit("/", 1)[1] for key in keys if "/chunks/" in key}
        running = [s3_json(stack, key) for key in keys if "/progress/" in key]
        for progress in running:
            if f"{progress['chunk']}.json" in done or progress["sent"] > 2 * BATCH:
                continue
            key = chunk_key(progress["plan_id"], progress["chunk"])
            for address, tasks in client.processing().items():
                if key in tasks:
                    return progress["chunk"], address
        return None

    victim, address = wait_for(chunk_to_kill)
    os.kill(client.run(os.getpid, workers=[address])[address], signal.SIGKILL)
    reliability.faults_injected += 1
    driver.join(timeout=120)

    assert "error" not in outcome, outcome.get("error")
    summary = outcome["summary"]
    records = kinesis_records(stack)
    delivered = Counter(record["patron_id"] for record in records)
    assert not reliability.account({pid(i) for i in ids}, set(delivered))
    actual_duplicates = len(records) - len(delivered)
    assert summary.sent == 400 and summary.retried_chunks == 1
    assert 0 < summary.duplicates <= actual_duplicates <= summary.duplicates + BATCH
    victim_marker = markers(stack)[victim]
    assert victim_marker["attempts"] == 2 and victim_marker["duplicates"] == summary.duplicates
    reliability.runs += 1
    reliability.records_sent += len(records)


def test_kinesis_partial_failures_are_resent_by_the_chunks(
    backfill, poller, sierra, stack, reliability
):
    ids = seed(sierra, 200)
    faults = stack.aws_fault_proxy.faults
    faults.kinesis_partial_calls, faults.kinesis_failed_records = 4, 5
    reliability.faults_injected += 4

    summary = backfill(since=SINCE, chunk_rows=50)

    records = kinesis_records(stack)
    assert faults.records_rejected == 20
    assert sorted(r["patron_id"] for r in records) == sorted(pid(i) for i in ids)
    assert summary.kinesis_records_retried == 20 and summary.duplicates == 0
    assert not reliability.account({pid(i) for i in ids}, {r["patron_id"] for r in records})


def test_a_dry_run_to_an_avro_file_leaves_no_state_behind(
    backfill, poller, sierra, stack, tmp_path
):
    ids = seed(sierra, 120)
    target = tmp_path / "backfill.avro"

    summary = backfill(since=SINCE, chunk_rows=30, sink=SinkSpec("avro-file", target))

    with target.open("rb") as handle:
        written = list(fastavro.reader(handle))
    assert sorted(r["patron_id"] for r in written) == sorted(pid(i) for i in ids)
    assert summary.dry_run and summary.output == str(target) and summary.chunks_run == 4
    assert s3_keys(stack) == []  # no plan, marker, progress, state or lock
    assert stack.new_kinesis_records() == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["backfill.avro"]


def test_advance_state_moves_the_new_cursor_only_forward(
    backfill, poller, sierra, stack, backfill_env
):
    seed(sierra, 60)
    config = load_config(None, backfill_env, ROOT / "config")

    # No state yet: a first run would start at STARTING_CREATION_DT, where this backfill
    # (without --since) starts too, so the new cursor moves to the plan's end.
    first = backfill(chunk_rows=30, advance_state=True)

    state = state_objects.saved_state(stack, FAST_SALT)
    plan = stored_plan(stack)
    assert state.new == Cursor(plan.upper) and state.caught_up_as_of["new"] == plan.upper
    assert first.state_change.startswith("new cursor")
    # The other cursors stand where a first run would start them.
    assert (state.updated, state.deleted) == (
        parts.initial_state(config).updated,
        parts.initial_state(config).deleted,
    )

    # Ahead of the plan's end: left alone, byte for byte.
    tomorrow = (NOW + timedelta(days=1)).isoformat()
    state_objects.put_state(stack, {**state_objects.state_document(stack), "creation_dt": tomorrow})
    before = state_objects.state_document(stack)
    second = backfill(chunk_rows=30, advance_state=True)
    assert state_objects.state_document(stack) == before
    assert "not behind" in second.state_change

    # Behind, but before the window: the patrons created in between were never sent.
    earlier = (SINCE - timedelta(days=1)).isoformat()
    state_objects.put_state(stack, {**before, "creation_dt": earlier})
    before = state_objects.state_document(stack)
    third = backfill(since=SINCE, chunk_rows=30, advance_state=True)
    assert state_objects.state_document(stack) == before
    assert "before the window" in third.state_change


def test_advance_state_after_a_finished_backfill_moves_the_cursor_and_resends_nothing(
    backfill, poller, sierra, stack
):
    # As when a backfill died between its last marker and its state write.
    seed(sierra, 40)
    first = backfill(chunk_rows=20)
    assert first.state_change is None and first.sent == 40
    assert len(stack.new_kinesis_records()) == 40

    again = backfill(chunk_rows=20, advance_state=True)

    assert again.resumed and again.plan_id == first.plan_id and again.chunks_run == 0
    assert again.sent == 40 and again.duplicates == 0
    assert stack.new_kinesis_records() == []
    assert state_objects.saved_state(stack, FAST_SALT).new == Cursor(stored_plan(stack).upper)


def test_an_unreadable_plan_does_not_block_the_next_backfill(backfill, poller, sierra, stack):
    seed(sierra, 20)
    damaged = f"{PREFIX}20000101T000000Z-000000/plan.json"
    stack._clients["s3"].put_object(Bucket=S3_BUCKET, Key=damaged, Body=b"{not json")

    summary = backfill(since=SINCE, chunk_rows=20)

    assert summary.sent == 20 and not summary.resumed
    assert len(stack.new_kinesis_records()) == 20


def test_the_driver_killed_then_run_again_skips_finished_chunks_and_leaks_nothing(
    poller, sierra, stack, backfill_env, tmp_path, reliability
):
    """The CLI in its own process at LOG_LEVEL=debug, its workers too: SIGKILL the driver
    once a chunk is done; `backfill status`; a different window is refused; the same
    command resumes. No plaintext in any output, file or S3 object."""
    ids = seed(sierra, 300)
    stack.geocoder_app.faults.delay_seconds = 0.3
    environment = {**backfill_env, "LOG_LEVEL": "debug"}
    arguments = ["backfill", "--workers", "2", "--chunk-size", "50"]
    outputs: list[str] = []

    first = start_cli(arguments, environment, tmp_path)
    driver = psutil.Process(first.pid)
    wait_for(lambda: markers(stack))
    workers = driver.children(recursive=True)
    first.kill()
    outputs += first.communicate()
    reliability.faults_injected += 1
    _, alive = psutil.wait_procs(workers, timeout=30)
    assert alive == []  # the workers die with their driver
    done_first = markers(stack)
    assert 0 < len(done_first) < 6

    status = run_cli(["backfill", "status"], environment, tmp_path)
    outputs += [status.stdout, status.stderr]
    assert status.returncode == 0, status.stderr[-1500:]
    assert f"{len(done_first)} / 6 done" in status.stdout and "(unfinished)" in status.stdout

    other = run_cli([*arguments, "--since", SINCE.isoformat()], environment, tmp_path)
    outputs += [other.stdout, other.stderr]
    assert other.returncode == 2 and "--restart" in other.stderr

    summary_path = tmp_path / "summary.json"
    second = run_cli([*arguments, "--summary-json", str(summary_path)], environment, tmp_path)
    outputs += [second.stdout, second.stderr]
    assert second.returncode == 0, second.stderr[-2000:]
    assert "Resuming an unfinished backfill plan" in second.stderr
    assert '"message": "Backfill chunk done"' in second.stderr  # the workers' log lines
    summary = json.loads(summary_path.read_text())
    assert summary["chunks_done_before"] >= len(done_first)
    assert summary["chunks_done_before"] + summary["chunks_run"] == 6
    final = markers(stack)
    for chunk, marker in done_first.items():
        assert final[chunk] == marker  # finished chunks were skipped, not run again
    records = kinesis_records(stack)
    assert not reliability.account({pid(i) for i in ids}, {r["patron_id"] for r in records})
    assert summary["records_sent"] == 300

    secrets = plaintext_patron_data(sierra) | {
        FAST_SALT,
        stack.sierra_password,
        stack.warehouse_password,
    }
    s3 = stack._clients["s3"]
    stored = [
        s3.get_object(Bucket=S3_BUCKET, Key=key)["Body"].read().decode() for key in s3_keys(stack)
    ]
    assert len(stored) > 6
    assert_no_leaks("\n".join(outputs + stored), secrets, tmp_path)
    reliability.runs += 2
    reliability.records_sent += len(records)


def test_a_backfill_on_a_scheduler_and_workers_started_by_the_dask_commands(
    poller, sierra, stack, backfill_env, tmp_path, reliability
):
    """The deployment of the README's second way, on one machine: `dask scheduler` and
    `dask worker` (as the image runs them), and `backfill --scheduler`. The cloud path
    (FargateCluster) ends at the same scheduler address; it cannot be tested here."""
    ids = seed(sierra, 90)
    address = f"tcp://127.0.0.1:{free_port()}"
    dask = [str(Path(sys.executable).parent / "dask")]
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    environment = cli_environment(backfill_env)
    port = address.rsplit(":", 1)[1]
    cluster = [
        subprocess.Popen(
            [*dask, "scheduler", "--host", "127.0.0.1", "--port", port, "--no-dashboard"],
            env=environment,
            **quiet,
        ),
        subprocess.Popen(
            [*dask, "worker", address, "--nworkers", "2", "--nthreads", "1", "--no-dashboard"],
            env=environment,
            **quiet,
        ),
    ]
    try:
        result = run_cli(
            ["backfill", "--scheduler", address, "--chunk-size", "30"], backfill_env, tmp_path
        )
    finally:
        # Killed, not stopped: the worker processes exit with their parent.
        for process in cluster:
            process.kill()
            process.wait(timeout=30)

    assert result.returncode == 0, result.stderr[-2000:]
    assert "3 / 3 done" in result.stdout
    records = kinesis_records(stack)
    assert sorted(r["patron_id"] for r in records) == sorted(pid(i) for i in ids)
    assert not reliability.account({pid(i) for i in ids}, {r["patron_id"] for r in records})
