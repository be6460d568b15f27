"""The process dies: SIGKILL at random points across consecutive runs, and SIGTERM.

After every death the state must not stand past a patron change that never reached
Kinesis, and the runs that follow must deliver every change.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import bcrypt
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from embedded_stack.stack import S3_BUCKET, S3_RESOURCE
from embedded_stack.synthetic_sierra import SyntheticSierra
from embedded_stack.warehouse_loader import decode_records, shipped_schema
from patron_info_poller.obfuscation import obfuscate
from patron_info_poller.state.store import PollerState
from tests.e2e import state_objects

ROOT = Path(__file__).resolve().parents[2]
# Cost 4 keeps many runs quick; the cost changes nothing about cursors and delivery.
FAST_SALT = bcrypt.gensalt(rounds=4).decode()
SCHEMA = shipped_schema()
LOCK_TTL_SECONDS = 1.0


def start_poller(stack, **overrides: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        stack.poller_environment(
            BCRYPT_SALT=FAST_SALT,
            LOG_LEVEL="warning",
            # A killed run leaves its lock behind; the next run takes it over once expired.
            RUN_LOCK_TTL_SECONDS=str(LOCK_TTL_SECONDS),
            **overrides,
        )
    )
    return subprocess.Popen(
        [sys.executable, "-m", "patron_info_poller", "--config-dir", str(ROOT / "config")],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def saved_state(stack) -> PollerState | None:
    return state_objects.saved_state(stack, FAST_SALT)


def pid(record_id: int) -> str:
    return obfuscate(str(record_id), FAST_SALT.encode())


class Delivery:
    """What reached Kinesis since a phase began, and the changes the state vouches for."""

    def __init__(self, stack, sierra, batch_size: int):
        self.stack, self.sierra = stack, sierra
        self.batch_size = str(batch_size)
        self.records: list[dict] = []

    def collect(self) -> None:
        self.records += decode_records(self.stack.new_kinesis_records(), SCHEMA)

    def delivered(self, deleted: bool | None = None) -> set[str]:
        return {
            r["patron_id"]
            for r in self.records
            if deleted is None or (r["deletion_date_et"] is not None) == deleted
        }

    def vouched_for(self, changed_since: datetime) -> tuple[set[str], set[str]]:
        """Changes at or before the state's cursors: (new or updated, deleted)."""
        state = saved_state(self.stack)
        if state is None:
            return set(), set()
        active, deleted = set(), set()
        rows = self.sierra.execute(
            "SELECT id, creation_date_gmt, record_last_updated_gmt, deletion_date_gmt"
            " FROM sierra_view.record_metadata WHERE record_type_code = 'p'"
        ).fetchall()
        for record_id, created, updated, deletion in rows:
            if deletion is None:
                if created >= changed_since and not state.new.admits(created, record_id):
                    active.add(pid(record_id))
                if updated >= changed_since and not state.updated.admits(updated, record_id):
                    active.add(pid(record_id))
            elif deletion >= changed_since.date() and not state.deleted.admits(deletion, record_id):
                deleted.add(pid(record_id))
        return active, deleted

    def assert_state_never_passes_an_unsent_change(self, changed_since: datetime) -> None:
        active, deleted = self.vouched_for(changed_since)
        assert active <= self.delivered()
        assert deleted <= self.delivered(deleted=True)


def wait_for_lock_expiry(stack) -> None:
    """A SIGKILLed run cannot delete its lock: later runs wait until it expires."""
    try:
        body = stack._clients["s3"].get_object(Bucket=S3_BUCKET, Key=f"{S3_RESOURCE}.lock")
    except stack._clients["s3"].exceptions.NoSuchKey:
        return
    expires = datetime.fromisoformat(json.loads(body["Body"].read())["expires_at"])
    time.sleep(max(0.0, (expires - datetime.now(UTC)).total_seconds()) + 0.05)


def kill_runs_then_finish(stack, delivery: Delivery, kill_after: list[float], changed_since):
    for delay in kill_after:
        process = start_poller(stack, SIERRA_BATCH_SIZE=delivery.batch_size)
        time.sleep(delay)
        process.kill()
        process.communicate()
        delivery.collect()
        delivery.assert_state_never_passes_an_unsent_change(changed_since)
        wait_for_lock_expiry(stack)
    process = start_poller(stack, SIERRA_BATCH_SIZE=delivery.batch_size)
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stderr[-1000:]
    delivery.collect()
    delivery.assert_state_never_passes_an_unsent_change(changed_since)


@settings(
    max_examples=4,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    patrons=st.integers(15, 60),
    batch_size=st.integers(3, 12),
    data_seed=st.integers(0, 10_000),
    kill_after=st.lists(st.floats(0.5, 4.0), min_size=1, max_size=3),
)
def test_sigkill_at_random_points_loses_no_change(
    stack, sierra, reliability, patrons, batch_size, data_seed, kill_after
):
    stack.reset()
    stack.geocoder_app.faults.delay_seconds = 0.1  # stretch the runs over the kill points
    synthetic = SyntheticSierra(seed=data_seed)
    now = datetime.now(UTC).replace(microsecond=0)
    created_since = now - timedelta(days=10)
    ids = synthetic.create_patrons(
        sierra, patrons, start=created_since, end=now - timedelta(days=3)
    )

    first = Delivery(stack, sierra, batch_size)
    kill_runs_then_finish(stack, first, kill_after, created_since)
    lost = reliability.account({pid(i) for i in ids}, first.delivered())
    assert not lost

    changed_since = now - timedelta(days=2)
    updated, deleted = ids[: patrons // 3], ids[-(patrons // 4) :]
    synthetic.update_patrons(sierra, updated, changed_since)
    synthetic.delete_patrons(sierra, deleted, changed_since.date())
    second = Delivery(stack, sierra, batch_size)
    kill_runs_then_finish(stack, second, list(reversed(kill_after)), changed_since)
    still_active = set(updated) - set(deleted)
    assert not reliability.account({pid(i) for i in still_active}, second.delivered())
    assert not reliability.account({pid(i) for i in deleted}, second.delivered(deleted=True))
    reliability.faults_injected += 2 * len(kill_after)
    reliability.runs += 2 * (len(kill_after) + 1)
    reliability.records_sent += len(first.records) + len(second.records)


def test_sigterm_stops_between_batches_with_a_consistent_state(poller, sierra, stack, reliability):
    now = datetime.now(UTC).replace(microsecond=0)
    since = now - timedelta(days=10)
    ids = SyntheticSierra(seed=4).create_patrons(
        sierra, 60, start=since, end=now - timedelta(days=3)
    )
    stack.geocoder_app.faults.delay_seconds = 0.4
    delivery = Delivery(stack, sierra, 6)
    process = start_poller(stack, SIERRA_BATCH_SIZE="6")
    deadline = time.monotonic() + 60
    while saved_state(stack) is None and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)

    assert process.returncode == 128 + signal.SIGTERM
    assert "stopped by a signal between batches" in stderr
    delivery.collect()
    assert 0 < len(delivery.records) < 60
    delivery.assert_state_never_passes_an_unsent_change(since)
    process = start_poller(stack, SIERRA_BATCH_SIZE="6")
    process.communicate(timeout=120)
    assert process.returncode == 0
    delivery.collect()
    reliability.faults_injected += 1
    reliability.runs += 2
    reliability.records_sent += len(delivery.records)
    assert not reliability.account({pid(i) for i in ids}, delivery.delivered())
