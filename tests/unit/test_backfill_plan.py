"""The backfill's pure parts: plan sizing and serialisation (sealed boundaries), resume and
restart decisions, --advance-state's rule, the Kinesis token bucket, chunk markers, and
how a chunk's error leaves its worker."""

from __future__ import annotations

import io
import json
import pickle
import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from patron_info_poller.backfill.advance_state import advance_decision
from patron_info_poller.backfill.chunk import (
    ChunkFailed,
    ChunkJob,
    ChunkLimits,
    ConfigSource,
    chunk_key,
    chunk_marker,
    run_chunk,
)
from patron_info_poller.backfill.cluster import local_shape
from patron_info_poller.backfill.driver import BackfillOptions, Decision, decide, run_backfill
from patron_info_poller.backfill.limits import KinesisBudget, KinesisShare, TokenBucket
from patron_info_poller.backfill.plan import (
    MIN_CHUNK_ROWS,
    TARGET_CHUNK_SECONDS,
    BackfillPlan,
    Tile,
    bcrypt_cost,
    chunk_count,
    chunk_ranges,
    chunk_rows_for,
    make_plan,
    measure_hash_rate,
)
from patron_info_poller.backfill.progress import BackfillProgress
from patron_info_poller.cli import main as cli_main
from patron_info_poller.config import load_config
from patron_info_poller.cursor import Cursor
from patron_info_poller.errors import ConfigurationError, StateError
from patron_info_poller.metrics.backfill import backfill_figures, publish_backfill
from patron_info_poller.pipeline import StreamSummary
from patron_info_poller.sinks.spec import SinkSpec
from patron_info_poller.state.sealed_ids import IdSealer, UnsealableId
from tests.unit.test_config import REQUIRED, SALT

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2020, 1, 1, 5, tzinfo=UTC)
FROZEN = datetime(2026, 11, 30, 12, tzinfo=UTC)
BASE = ord("p") << 32  # Sierra's patron ids: 481036337152 + record number
SEALER = IdSealer(SALT)


def tiles_of(ids: list[int], sizes: list[int]) -> list[Tile]:
    """`ids` (ascending) cut into consecutive tiles of these sizes."""
    tiles, start = [], 0
    for number, size in enumerate(sizes):
        part = ids[start : start + size]
        tiles.append(Tile(number, part[0], part[-1], len(part)))
        start += size
    return tiles


def a_plan(ids: list[int] | None = None, sizes: list[int] | None = None, **changes) -> BackfillPlan:
    ids = ids or [BASE + 1_000_000 + i * 3 for i in range(10)]
    sizes = sizes or [4, 3, 3]
    values = {
        "tiles": tiles_of(ids, sizes),
        "since": T0,
        "until": FROZEN,
        "until_given": False,
        "frozen_bound": FROZEN,
        "bcrypt_cost": 7,
        "chunk_rows": 4,
        "hashes_per_second": 66.5,
        "sealer": SEALER,
        "now": FROZEN,
        **changes,
    }
    return make_plan(**values)


# Plan sizing


@given(
    rows=st.integers(0, 10**7),
    chunk_rows=st.integers(1, 10**5),
    slots=st.integers(1, 512),
)
def test_chunk_count_covers_the_rows_in_whole_waves(rows, chunk_rows, slots):
    n = chunk_count(rows, chunk_rows, slots)
    if rows == 0:
        assert n == 0
        return
    assert 1 <= n <= rows
    assert n * chunk_rows >= rows or n == rows  # no chunk bigger than asked
    assert n % slots == 0 or n == rows  # every worker thread gets work in each wave
    assert n < -(-rows // chunk_rows) + slots  # and no more than one extra wave


@given(rate=st.floats(5.0, 5000.0))
def test_a_chunk_takes_one_to_five_minutes_of_one_threads_hashing(rate):
    rows = chunk_rows_for(rate)
    seconds = 2 * rows / rate  # two hashes per patron
    assert rows == MIN_CHUNK_ROWS or 60 <= seconds <= 300
    assert rows == MIN_CHUNK_ROWS or abs(seconds - TARGET_CHUNK_SECONDS) < 1


def test_chunk_size_at_the_costs_of_the_projection():
    # About 135 hashes/s per thread at cost 7, and 32x fewer at cost 12.
    assert chunk_rows_for(135.0) == 10_125
    assert chunk_rows_for(135.0 / 32) == 316


def test_the_hash_rate_is_measured_at_the_salts_cost():
    assert bcrypt_cost(SALT) == 7 and bcrypt_cost("$2a$12$" + "a" * 22) == 12
    assert measure_hash_rate(4, seconds=0.05) > 20


def test_a_local_cluster_has_one_thread_per_process_one_per_core_unless_told():
    assert local_shape(None, 16) == (16, 1)
    assert local_shape(4, 16) == (4, 1) and local_shape(3, 2) == (3, 1)
    with pytest.raises(ConfigurationError):
        local_shape(0, 2)


# Chunk ranges


@given(
    ids=st.lists(st.integers(1, 10**12), min_size=1, max_size=200, unique=True).map(sorted),
    data=st.data(),
)
def test_chunk_ranges_partition_the_ids(ids, data):
    cuts = (
        sorted(data.draw(st.sets(st.integers(1, len(ids) - 1), max_size=20)))
        if len(ids) > 1
        else []
    )
    bounds = [0, *cuts, len(ids)]
    sizes = [b - a for a, b in pairwise(bounds)]
    ranges = chunk_ranges(tiles_of(ids, sizes))
    assert ranges[0][0] == ids[0] and ranges[-1][1] == ids[-1] + 1
    for (_, hi), (lo, _) in pairwise(ranges):
        assert hi == lo
    for record_id in ids:
        assert sum(lo <= record_id < hi for lo, hi in ranges) == 1
    for (lo, hi), size in zip(ranges, sizes, strict=True):
        assert sum(lo <= i < hi for i in ids) == size


def test_tiles_out_of_order_are_refused():
    with pytest.raises(ValueError, match="ascending"):
        chunk_ranges([Tile(0, 10, 12, 2), Tile(1, 5, 9, 2)])


# Serialisation


def test_the_plans_json_holds_no_plaintext_id_and_round_trips():
    ids = [BASE + 1_234_567 + i for i in range(10)]
    plan = a_plan(ids)
    text = json.dumps(plan.to_json())
    for record_id in [*ids, ids[-1] + 1]:
        assert str(record_id) not in text
        assert str(record_id - BASE) not in text  # nor the record number
    again = BackfillPlan.from_json(json.loads(text), "test")
    assert again == plan
    assert [again.chunk_range(n, SEALER) for n in range(3)] == [
        (ids[0], ids[4]),
        (ids[4], ids[7]),
        (ids[7], ids[9] + 1),
    ]
    document = plan.to_json()
    assert (document["chunk_count"], document["rows"], document["code_version"]) == (3, 10, "0.1.0")
    assert document["bcrypt_cost"] == 7 and document["frozen_bound"] == FROZEN.isoformat()


def test_a_boundary_opens_only_with_its_salt_plan_chunk_and_end():
    plan = a_plan()
    other = IdSealer("$2b$07$" + "b" * 22)
    assert plan.opens_with(SEALER) and not plan.opens_with(other)
    with pytest.raises(UnsealableId):
        plan.chunk_range(0, other)
    document = plan.to_json()
    swapped = json.loads(json.dumps(document))
    swapped["chunks"][0]["lo"] = document["chunks"][1]["lo"]
    with pytest.raises(UnsealableId):
        BackfillPlan.from_json(swapped, "test").chunk_range(0, SEALER)
    renamed = {**json.loads(json.dumps(document)), "plan_id": "20261130T120000Z-000000"}
    with pytest.raises(UnsealableId):
        BackfillPlan.from_json(renamed, "test").chunk_range(1, SEALER)


@pytest.mark.parametrize(
    "damage",
    [
        lambda d: d.pop("frozen_bound"),
        lambda d: d.update(format=2),
        lambda d: d["chunks"][1].update(lo="481037337152"),
        lambda d: d["chunks"].reverse(),
        lambda d: d.update(since="2020-01-01T00:00:00"),
    ],
    ids=["missing", "format", "plaintext-boundary", "order", "naive-time"],
)
def test_a_damaged_plan_is_a_state_error_naming_where(damage):
    document = a_plan().to_json()
    damage(document)
    with pytest.raises(StateError, match=re.escape("s3://b/plan.json")):
        BackfillPlan.from_json(document, "s3://b/plan.json")


def test_the_plans_window_ends_at_the_earlier_of_until_and_the_frozen_bound():
    assert a_plan(until=FROZEN + timedelta(days=1)).upper == FROZEN
    assert a_plan(until=FROZEN - timedelta(days=1), until_given=True).upper == FROZEN - timedelta(
        days=1
    )


# Resume and restart


def test_resume_or_plan_anew():
    old = a_plan()
    assert decide([], T0, None, restart=False).action == "new"
    assert decide([old], T0, None, restart=False) == decide([old], T0, FROZEN, restart=False)
    assert decide([old], T0, None, restart=False).plan is old
    restarted = decide([old], T0, None, restart=True)
    assert restarted.action == "new" and restarted.abandon == (old,)
    for since, until in ((T0 + timedelta(days=1), None), (T0, FROZEN - timedelta(hours=1))):
        with pytest.raises(ConfigurationError, match="--restart") as refused:
            decide([old], since, until, restart=False)
        assert old.plan_id in str(refused.value)

    # With --advance-state and nothing unfinished, the newest finished plan of the same
    # window is resumed (only its cursor move is left); another window plans anew.
    assert decide([], T0, None, restart=False, finished=old) == Decision("resume", plan=old)
    assert decide([], T0 + timedelta(days=1), None, False, finished=old).action == "new"
    assert decide([], T0, None, restart=True, finished=old).action == "new"


def test_advance_the_new_cursor_only_forward_and_only_from_inside_the_window():
    since, upper = T0, FROZEN
    assert advance_decision(Cursor(since), since, upper) == "advance"
    assert advance_decision(Cursor(upper - timedelta(seconds=1), 5), since, upper) == "advance"
    assert advance_decision(Cursor(upper), since, upper) == "not behind"
    assert advance_decision(Cursor(upper, 5), since, upper) == "not behind"
    assert advance_decision(Cursor(since - timedelta(seconds=1)), since, upper) == (
        "before the window"
    )


# Limits


class FakeClock:
    def __init__(self):
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_the_token_bucket_allows_a_seconds_burst_then_the_rate():
    clock = FakeClock()
    bucket = TokenBucket(100.0, clock=clock)
    assert bucket.reserve(100) == 0.0
    assert bucket.reserve(50) == pytest.approx(0.5)
    clock.now += 2.0  # refills, up to the capacity only
    assert bucket.reserve(100) == pytest.approx(0.0, abs=1e-9)
    # More than the capacity at once still goes, at the rate.
    assert bucket.reserve(300) == pytest.approx(3.0)


@given(requests=st.lists(st.integers(1, 500), min_size=1, max_size=50))
def test_a_kinesis_budget_never_lets_more_through_than_its_share(requests):
    clock = FakeClock()
    budget = KinesisBudget(KinesisShare(250.0, 10**9), clock=clock, sleep=clock.sleep)
    started = clock.now
    for records in requests:
        budget.acquire(records, 100 * records)
    elapsed = clock.now - started
    # At most one second's worth up front, then 250 records a second.
    assert sum(requests) <= 250.0 * (1 + elapsed) + 1e-6


def test_the_budget_waits_for_bytes_too_and_each_worker_has_its_share():
    clock = FakeClock()
    budget = KinesisBudget(KinesisShare(1000.0, 1000.0), clock=clock, sleep=clock.sleep)
    budget.acquire(10, 3000)  # few records, but three seconds of bytes
    assert clock.slept == [pytest.approx(2.0)]
    share = KinesisShare.of(open_shards=4, workers=8)
    assert (share.records_per_second, share.bytes_per_second) == (500.0, 512 * 1024)


# Chunk markers and task arguments


def test_a_chunk_marker_holds_counts_and_the_first_and_last_obfuscated_ids():
    stream = StreamSummary("new", batches=3, read=60, sent=58, records_retried=4)
    stream.skipped = Counter({"ptype_code out of range": 2})
    stream.first_sent, stream.last_sent = "a" * 31, "z" * 31
    stream.geocode_requested, stream.geocode_matched = 55, 50
    earlier = [{"attempt": "dead1", "sent": 25}, {"attempt": "dead2", "sent": 50}]
    marker = chunk_marker(
        plan_id="20261130T120000Z-abcdef",
        chunk=3,
        attempt="alive",
        stream=stream,
        earlier_attempts=earlier,
        hashes_computed=120,
        seconds=1.23456,
        cpu_seconds=2.5,
        finished_at=FROZEN,
    )
    assert marker == {
        "plan_id": "20261130T120000Z-abcdef",
        "chunk": 3,
        "attempt": "alive",
        "attempts": 3,
        "read": 60,
        "sent": 58,
        "skipped": {"ptype_code out of range": 2},
        "first_sent": "a" * 31,
        "last_sent": "z" * 31,
        "duplicates": 75,
        "kinesis_records_retried": 4,
        "geocode_requested": 55,
        "geocode_matched": 50,
        "hashes_computed": 120,
        "seconds": 1.235,
        "cpu_seconds": 2.5,
        "finished_at": FROZEN.isoformat(),
    }
    json.dumps(marker)


def test_a_chunk_task_is_known_by_its_plan_and_number_only():
    job = ChunkJob(
        "20261130T120000Z-abcdef",
        7,
        ConfigSource("qa", "/app/config"),
        ChunkLimits(2, 4, KinesisShare(500.0, 524288.0)),
        ("bucket", "state.json"),
        dry_run_plan=a_plan().to_json(),
    )
    assert chunk_key(job.plan_id, job.chunk) == "backfill-20261130T120000Z-abcdef-chunk-7"
    assert "v1." not in repr(job)  # the dry run's sealed plan stays out of logs
    assert pickle.loads(pickle.dumps(job)) == job


def test_a_chunks_error_leaves_the_worker_without_its_cause(tmp_path):
    job = ChunkJob("p", 0, ConfigSource("missing", str(tmp_path)), ChunkLimits(1, 1, None), None)
    with pytest.raises(ChunkFailed) as failed:
        run_chunk(job)
    error = failed.value
    assert error.exit_code == 2 and error.error_type == "ConfigurationError"
    assert error.__cause__ is None and error.__context__ is None
    again = pickle.loads(pickle.dumps(error))
    assert (again.chunk, again.exit_code, str(again)) == (0, 2, str(error))


# The command's checks, before any work


def options(**changes) -> BackfillOptions:
    return BackfillOptions(ConfigSource(None, str(ROOT / "config")), **changes)


@pytest.mark.parametrize(
    ("variables", "changes", "message"),
    [
        ({"IGNORE_CACHE": "True"}, {}, "S3_BUCKET and S3_RESOURCE"),
        ({}, {"advance_state": True, "sink": SinkSpec("jsonl", Path("x"))}, "--advance-state"),
        ({}, {"restart": True, "sink": SinkSpec("jsonl", Path("x"))}, "--restart"),
        ({"IGNORE_KINESIS": "True"}, {}, "IGNORE_KINESIS"),
        ({}, {"since": FROZEN, "until": T0}, "--since must be before --until"),
    ],
)
def test_impossible_requests_stop_before_any_work(variables, changes, message):
    config = load_config(None, {**REQUIRED, **variables}, ROOT / "config")
    with pytest.raises(ConfigurationError, match=message):
        run_backfill(config, options(**changes), client=object())


def test_the_command_without_s3_exits_2_naming_it(monkeypatch, capsys):
    for name in [*REQUIRED, "ENVIRONMENT"]:
        monkeypatch.delenv(name, raising=False)
    for name, value in {**REQUIRED, "IGNORE_CACHE": "True"}.items():
        monkeypatch.setenv(name, value)
    assert cli_main(["backfill", "--config-dir", str(ROOT / "config")]) == 2
    assert "S3_BUCKET and S3_RESOURCE" in capsys.readouterr().err


def test_progress_rates_and_eta():
    progress = BackfillProgress(
        plan_id="p",
        chunks_total=10,
        chunks_done=4,
        rows_total=1000,
        rows_done=500,
        records_sent=300,
        rows_this_run=300,
        elapsed_seconds=10.0,
    )
    assert progress.records_per_second == 30.0
    assert progress.eta_seconds == pytest.approx(500 / 30)


def test_the_summary_goes_out_as_metrics_counts_only():
    summary = {
        "chunks_total": 8,
        "chunks_run": 5,
        "records_sent": 400,
        "duplicates": 25,
        "wall_seconds": 12.5,
        "cpu_seconds": 20.0,
        "plan_id": "20261130T120000Z-abcdef",  # not a figure
    }
    output = io.StringIO()
    figures = publish_backfill("emf", "qa", summary, succeeded=True, stdout=output)
    assert figures["backfill_succeeded"] == 1.0 and figures["backfill_duplicates"] == 25.0
    assert "plan_id" not in figures
    line = json.loads(output.getvalue())
    assert line["Environment"] == "qa" and line["backfill_records_sent"] == 400.0
    units = {m["Name"]: m["Unit"] for m in line["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert units["backfill_wall_seconds"] == "Seconds" and units["backfill_chunks_run"] == "Count"
    assert backfill_figures(None, succeeded=False) == {"backfill_succeeded": 0.0}
