"""`patron-info-poller decode` in its own process: what a real run put on the stream, or
what a dry run wrote to an Avro file, printed back as JSON lines."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from patron_info_poller.records import PATRON_INFO_FIELDS
from patron_info_poller.sinks import EncodedRecord
from patron_info_poller.sinks.avro_file import AvroFileSink
from tests.e2e.sierra_rows import PATRON_ID_BASE, insert_patron
from tests.e2e.test_cli import assert_no_leaks, plaintext_patron_data

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)


def run_decode(arguments: list[str], environment: dict[str, str], cwd: Path):
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    env.pop("ENVIRONMENT", None)
    env.update(environment)
    return subprocess.run(
        [sys.executable, str(ROOT / "main.py"), "decode", *arguments],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def seed_and_run(poller, sierra, count: int, earlier: int = 0):
    """`count` new patrons, sent by a real run; returns the run and a time before it.
    With `earlier`, a run before that time puts that many other records on the stream."""
    for offset in range(earlier):
        insert_patron(
            sierra, PATRON_ID_BASE + 4001 + offset, created=T0 - timedelta(days=1, minutes=offset)
        )
    if earlier:
        assert len(poller.run().records) == earlier
    for offset in range(count):
        insert_patron(
            sierra, PATRON_ID_BASE + 5001 + offset, created=T0 + timedelta(minutes=offset)
        )
    since = datetime.now(UTC)
    run = poller.run()
    assert len(run.records) == count
    return run, since


def printed(result) -> list[dict]:
    assert result.returncode == 0, result.stderr[-1500:]
    return [json.loads(line) for line in result.stdout.splitlines()]


def multiset(records: list[dict]) -> Counter[str]:
    return Counter(json.dumps(record, sort_keys=True) for record in records)


def test_decode_from_kinesis_prints_exactly_what_the_run_sent_and_leaks_nothing(
    poller, sierra, stack, tmp_path
):
    run, since = seed_and_run(poller, sierra, 6, earlier=3)

    result = run_decode(
        ["--from", "kinesis", "--since", since.isoformat()],
        stack.poller_environment(LOG_LEVEL="debug"),
        tmp_path,
    )

    records = printed(result)
    assert multiset(records) == multiset(run.records)
    assert all(list(record) == list(PATRON_INFO_FIELDS) for record in records)
    assert '"level": "INFO"' in result.stderr  # the debug run logged, and nothing leaked
    secrets = plaintext_patron_data(sierra) | {stack.salt, stack.sierra_password}
    assert_no_leaks(result.stdout + result.stderr, secrets, tmp_path)


def test_decode_from_kinesis_honours_the_limit(poller, sierra, stack, tmp_path):
    run, since = seed_and_run(poller, sierra, 5)

    # In New York's offset, to show any offset works.
    local_since = since.astimezone(datetime.fromisoformat("2024-01-01T00:00:00-05:00").tzinfo)
    result = run_decode(
        ["--from", "kinesis", "--since", local_since.isoformat(), "--limit", "2"],
        stack.poller_environment(),
        tmp_path,
    )

    records = printed(result)
    assert len(records) == 2
    assert not multiset(records) - multiset(run.records)


def test_decode_of_an_avro_file_sink_output_prints_its_records(poller, sierra, stack, tmp_path):
    run, _ = seed_and_run(poller, sierra, 4)
    target = tmp_path / "dry-run.avro"
    with AvroFileSink(target, poller.schema) as sink:
        sink.send(
            [
                EncodedRecord(r["patron_id"], raw)
                for r, raw in zip(run.records, run.raw, strict=True)
            ]
        )

    # No configuration at all: the schema is in the file.
    result = run_decode([str(target)], {"LOG_LEVEL": "debug"}, tmp_path)

    assert printed(result) == run.records
    secrets = plaintext_patron_data(sierra) | {stack.salt}
    assert_no_leaks(result.stdout + result.stderr, secrets)
