"""Reading records back (decoding.py) and the `decode` command's arguments, without a stack."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

import fastavro
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from patron_info_poller import decoding
from patron_info_poller.avro_codec import PatronInfoEncoder, shipped_schema
from patron_info_poller.cli import main
from patron_info_poller.decoding import (
    AvroFileError,
    decode_datum,
    read_avro_file,
    read_stream_since,
)
from patron_info_poller.errors import FatalError, RetriesExhaustedError
from patron_info_poller.records import PATRON_INFO_FIELDS
from patron_info_poller.sinks import EncodedRecord
from patron_info_poller.sinks.avro_file import AvroFileSink

SINCE = datetime(2024, 6, 1, 12, tzinfo=UTC)
ARN = "arn:aws:kinesis:us-east-1:000000000000:stream/patron-info"


class FakeKinesis:
    """Shards as lists of pages; each page as (records, MillisBehindLatest, has next)."""

    def __init__(self, shards: dict[str, list[tuple[list[bytes], int | None, bool]]], per_call=2):
        self.shards = shards
        self.per_call = per_call
        self.calls: list[tuple[str, dict]] = []

    def list_shards(self, **request):
        self.calls.append(("list_shards", request))
        names = sorted(self.shards)
        start = int(request.get("NextToken", 0))
        page = names[start : start + self.per_call]
        more = start + self.per_call < len(names)
        return {
            "Shards": [{"ShardId": n} for n in page],
            **({"NextToken": str(start + self.per_call)} if more else {}),
        }

    def get_shard_iterator(self, **request):
        self.calls.append(("get_shard_iterator", request))
        return {"ShardIterator": f"{request['ShardId']}/0"}

    def get_records(self, **request):
        self.calls.append(("get_records", request))
        shard, index = request["ShardIterator"].split("/")
        records, behind, more = self.shards[shard][int(index)]
        page = {"Records": [{"Data": data} for data in records]}
        if behind is not None:
            page["MillisBehindLatest"] = behind
        if more:
            page["NextShardIterator"] = f"{shard}/{int(index) + 1}"
        return page

    def calls_of(self, name):
        return [request for called, request in self.calls if called == name]


def test_reads_every_shard_across_list_shards_pages_from_the_timestamp():
    kinesis = FakeKinesis(
        {f"shard-{i}": [([f"{i}a".encode(), f"{i}b".encode()], 0, True)] for i in range(5)}
    )
    records = list(read_stream_since(kinesis, ARN, SINCE, None))
    assert records == [f"{i}{x}".encode() for i in range(5) for x in "ab"]
    assert kinesis.calls_of("list_shards") == [
        {"StreamARN": ARN},
        {"StreamARN": ARN, "NextToken": "2"},
        {"StreamARN": ARN, "NextToken": "4"},
    ]
    for request in kinesis.calls_of("get_shard_iterator"):
        assert request["ShardIteratorType"] == "AT_TIMESTAMP"
        assert request["Timestamp"] == SINCE
        assert request["StreamARN"] == ARN


def test_a_shard_is_read_until_caught_up_closed_or_an_unreported_empty_page(monkeypatch):
    monkeypatch.setattr(decoding, "EMPTY_PAGE_PAUSE_SECONDS", 0)
    kinesis = FakeKinesis(
        {
            # Behind, an empty page (Kinesis skipping a sparse stretch), then caught up.
            "a": [([b"a1"], 5000, True), ([], 4000, True), ([b"a2"], 0, True), ([b"x"], 0, True)],
            # Closed: no next iterator.
            "b": [([b"b1"], 10, True), ([b"b2"], 5, False)],
            # No MillisBehindLatest reported: an empty page ends it.
            "c": [([b"c1"], None, True), ([], None, True), ([b"x"], None, True)],
        }
    )
    assert list(read_stream_since(kinesis, ARN, SINCE)) == [b"a1", b"a2", b"b1", b"b2", b"c1"]


def test_the_limit_counts_across_shards_and_asks_no_more_than_needed():
    kinesis = FakeKinesis({"a": [([b"a1", b"a2"], 0, True)], "b": [([b"b1", b"b2"], 0, True)]})
    assert list(read_stream_since(kinesis, ARN, SINCE, limit=3)) == [b"a1", b"a2", b"b1"]
    assert [r["Limit"] for r in kinesis.calls_of("get_records")] == [3, 1]
    assert list(read_stream_since(kinesis, ARN, SINCE, limit=0)) == []


def test_since_needs_an_offset():
    with pytest.raises(ValueError):
        list(read_stream_since(FakeKinesis({}), ARN, datetime(2024, 6, 1)))


def client_error(code: str, status: int) -> ClientError:
    return ClientError(
        {"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, "GetRecords"
    )


@pytest.mark.parametrize(
    ("failure", "error", "exit_code"),
    [
        (client_error("ResourceNotFoundException", 400), FatalError, 1),
        (client_error("ProvisionedThroughputExceededException", 400), RetriesExhaustedError, 4),
        (client_error("InternalFailure", 500), RetriesExhaustedError, 4),
        (EndpointConnectionError(endpoint_url="http://127.0.0.1:1"), RetriesExhaustedError, 4),
    ],
)
def test_kinesis_failures_become_poller_errors(failure, error, exit_code):
    class Failing(FakeKinesis):
        def get_records(self, **request):
            raise failure

    with pytest.raises(error) as caught:
        list(read_stream_since(Failing({"a": []}), ARN, SINCE))
    assert type(caught.value) is error
    assert caught.value.exit_code == exit_code


def test_decode_datum_takes_exactly_one_datum():
    schema = shipped_schema()
    parsed = fastavro.parse_schema(schema)
    record = {name: None for name in PATRON_INFO_FIELDS} | {"patron_id": "p", "pcode3": 3}
    data = PatronInfoEncoder(schema).encode(record)
    assert decode_datum(parsed, data) == record
    with pytest.raises(FatalError):
        decode_datum(parsed, data + b"\x02")
    with pytest.raises(FatalError):
        decode_datum(parsed, data[:-1])


def write_avro(path, count: int) -> list[dict]:
    schema = shipped_schema()
    records = [
        {name: None for name in PATRON_INFO_FIELDS} | {"patron_id": f"p{i}", "ptype_code": i}
        for i in range(count)
    ]
    encoder = PatronInfoEncoder(schema)
    with AvroFileSink(path, schema) as sink:
        sink.send([EncodedRecord(r["patron_id"], encoder.encode(r)) for r in records])
    return records


def test_read_avro_file_reads_a_sinks_file(tmp_path):
    records = write_avro(tmp_path / "run.avro", 3)
    assert list(read_avro_file(tmp_path / "run.avro")) == records


def test_read_avro_file_refuses_other_files(tmp_path):
    (tmp_path / "run.jsonl").write_text('{"patron_id": "p"}\n')
    with pytest.raises(AvroFileError, match="not an Avro object container file"):
        list(read_avro_file(tmp_path / "run.jsonl"))
    (tmp_path / "empty.avro").write_bytes(b"")
    with pytest.raises(AvroFileError):
        list(read_avro_file(tmp_path / "empty.avro"))
    with pytest.raises(FileNotFoundError):
        list(read_avro_file(tmp_path / "missing.avro"))


def test_read_avro_file_reports_a_damaged_file(tmp_path):
    write_avro(tmp_path / "run.avro", 500)
    data = (tmp_path / "run.avro").read_bytes()
    (tmp_path / "cut.avro").write_bytes(data[: len(data) - 40])
    with pytest.raises(AvroFileError, match="damaged after"):
        list(read_avro_file(tmp_path / "cut.avro"))


# --- the command, in this process ------------------------------------------------------


@pytest.fixture(autouse=True)
def logging_restored():
    """The command configures the root logger; later tests get it back as it was."""
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    levels = {name: logging.getLogger(name).level for name in logging.root.manager.loggerDict}
    yield
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["decode"], "nothing to decode"),
        (["decode", "--from", "kinesis"], "needs --since"),
        (["decode", "--from", "s3", "--since", "2024-06-01T00:00:00Z"], "--from must be"),
        (["decode", "--from", "kinesis", "--since", "yesterday"], "ISO 8601"),
        (["decode", "--from", "kinesis", "--since", "2024-06-01T00:00:00"], "UTC offset"),
        (["decode", "--from", "kinesis", "--since", "2024-06-01T00:00Z", "--limit", "0"], "1 or"),
        (["decode", "x.avro", "--limit", "ten"], "--limit"),
        (["decode", "x.avro", "--from", "kinesis"], "not both"),
    ],
)
def test_bad_arguments_fail_in_one_line_with_exit_2(argv, words, capsys, monkeypatch):
    monkeypatch.delenv("ENVIRONMENT", raising=False)
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("patron-info-poller: ")
    assert words in lines[0]


def test_decode_file_prints_one_json_object_per_record(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("LOG_LEVEL", "warning")
    records = write_avro(tmp_path / "run.avro", 4)
    assert main(["decode", str(tmp_path / "run.avro")]) == 0
    assert [json.loads(line) for line in capsys.readouterr().out.splitlines()] == records
    assert main(["decode", str(tmp_path / "run.avro"), "--limit", "2"]) == 0
    assert [json.loads(line) for line in capsys.readouterr().out.splitlines()] == records[:2]


def test_decode_of_a_file_that_is_not_avro_exits_2(tmp_path, capsys):
    (tmp_path / "run.jsonl").write_text("{}\n")
    assert main(["decode", str(tmp_path / "run.jsonl")]) == 2
    assert main(["decode", str(tmp_path / "missing.avro")]) == 1
    lines = capsys.readouterr().err.splitlines()
    assert "not an Avro object container file" in lines[0]
    assert "cannot read" in lines[-1]
