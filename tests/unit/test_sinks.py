"""The dry-run file sinks and the `--sink` option."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, date, datetime
from pathlib import Path

import fastavro
import pytest

from patron_info_poller.avro_codec import PatronInfoEncoder, shipped_schema
from patron_info_poller.databases.sierra import PatronRow
from patron_info_poller.errors import ConfigurationError, FatalError
from patron_info_poller.geocoding.address import Address
from patron_info_poller.records import PATRON_INFO_FIELDS, active_record, deleted_record
from patron_info_poller.sinks import EncodedRecord
from patron_info_poller.sinks.avro_file import AvroFileSink
from patron_info_poller.sinks.jsonl import JsonLinesSink
from patron_info_poller.sinks.spec import (
    KINESIS,
    SinkSpec,
    SinkSpecError,
    open_file_sink,
    parse_sink,
)

SCHEMA = shipped_schema()
ENCODER = PatronInfoEncoder(SCHEMA)
SINKS = [AvroFileSink, JsonLinesSink]


# --- --sink ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kind", "path"),
    [
        ("kinesis", "kinesis", None),
        ("Kinesis", "kinesis", None),
        ("avro-file:out/dry-run.avro", "avro-file", Path("out/dry-run.avro")),
        ("AVRO-FILE:/tmp/a.avro", "avro-file", Path("/tmp/a.avro")),
        ("jsonl:records.jsonl", "jsonl", Path("records.jsonl")),
        # Only the first colon separates: the rest is the path.
        ("jsonl:/tmp/run:1.jsonl", "jsonl", Path("/tmp/run:1.jsonl")),
        ("avro-file:with space.avro", "avro-file", Path("with space.avro")),
    ],
)
def test_parse_sink_forms(text, kind, path):
    spec = parse_sink(text)
    assert (spec.kind, spec.path) == (kind, path)
    assert spec.is_file == (kind != "kinesis")
    assert parse_sink(str(spec)) == spec


def test_parse_sink_expands_home(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    assert parse_sink("avro-file:~/dry.avro").path == tmp_path / "dry.avro"


def test_kinesis_is_the_default_spec_and_not_a_file():
    assert SinkSpec("kinesis") == KINESIS
    assert not KINESIS.is_file
    assert str(KINESIS) == "kinesis"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "kinesis:",
        "kinesis:stream",
        "avro-file",
        "avro-file:",
        "jsonl:   ",
        "json:out.json",
        "s3://bucket/key",
        "out.avro",
        "avro-file\n:x",
    ],
)
def test_parse_sink_rejects_other_values_in_one_line_naming_the_forms(text):
    with pytest.raises(ValueError) as caught:
        parse_sink(text)
    message = str(caught.value)
    assert "\n" not in message
    for form in ("kinesis", "avro-file:PATH", "jsonl:PATH"):
        assert form in message


def test_parse_sink_as_an_argparse_type_reports_its_own_message(capsys):
    parser = argparse.ArgumentParser(prog="p")
    parser.add_argument("--sink", type=parse_sink, default=KINESIS)
    assert parser.parse_args([]).sink == KINESIS
    assert parser.parse_args(["--sink", "jsonl:x"]).sink == SinkSpec("jsonl", Path("x"))
    with pytest.raises(SystemExit):
        parser.parse_args(["--sink", "nowhere"])
    assert "--sink must be kinesis, avro-file:PATH or jsonl:PATH" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("kind", "path"),
    [("kinesis", Path("x")), ("jsonl", None), ("avro-file", None), ("s3", Path("x"))],
)
def test_a_spec_cannot_be_built_inconsistent(kind, path):
    with pytest.raises(SinkSpecError):
        SinkSpec(kind, path)


def test_open_file_sink_builds_the_kind_named(tmp_path):
    for text, cls in (("avro-file", AvroFileSink), ("jsonl", JsonLinesSink)):
        sink = open_file_sink(parse_sink(f"{text}:{tmp_path}/out"), SCHEMA)
        assert type(sink) is cls
        sink.abort()
    with pytest.raises(ValueError):
        open_file_sink(KINESIS, SCHEMA)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("cls", SINKS)
def test_a_target_that_cannot_be_written_is_refused_before_any_work(cls, tmp_path):
    with pytest.raises(ConfigurationError, match="does not exist"):
        cls(tmp_path / "missing" / "out", SCHEMA)
    with pytest.raises(ConfigurationError, match="is a directory"):
        cls(tmp_path, SCHEMA)
    assert list(tmp_path.iterdir()) == []


# --- records ------------------------------------------------------------------------


def patron_row(record_id: int, **changes) -> PatronRow:
    values = {
        "record_id": record_id,
        "cursor_value": datetime(2024, 7, 1, 12, tzinfo=UTC),
        "creation_date_gmt": datetime(2024, 7, 1, 3, 30, tzinfo=UTC),
        "deletion_date_gmt": None,
        "activity_gmt": datetime(2024, 7, 2, 3, 30, tzinfo=UTC),
        "ptype_code": 10,
        "pcode3": 2,
        "home_library_code": "sasb",
        "address": Address.from_row("350 W 42nd St", "New York", "NY", "10036"),
    }
    values.update(changes)
    return PatronRow(**values)


def sample_records() -> list[dict]:
    known = {
        "address_hash": "$2b$07$" + "h" * 53,
        "postal_code": "10036",
        "geoid": "36061011300",
        "creation_date_et": "2019-03-01",
        "circ_active_date_et": "2024-01-02",
        "ptype_code": 3,
        "pcode3": 0,
        "patron_home_library_code": "mm",
        "initial_patron_home_library_code": "sasb",
    }
    return [
        active_record(patron_row(1), "$2b$07$" + "a" * 53, "$2b$07$" + "b" * 53, "36061011300"),
        active_record(
            patron_row(2, ptype_code=None, pcode3=-(2**31), home_library_code=None),
            "$2b$07$" + "c" * 53,
            "$2b$07$" + "d" * 53,
            None,
        ),
        deleted_record(
            patron_row(3, deletion_date_gmt=date(2024, 7, 3)), "$2b$07$" + "e" * 53, known
        ),
        {name: None for name in PATRON_INFO_FIELDS},
        {
            **{name: f"{name}-é✓" for name in PATRON_INFO_FIELDS},
            "ptype_code": 2**31 - 1,
            "pcode3": 0,
        },
    ]


def encoded(records: list[dict]) -> list[EncodedRecord]:
    return [EncodedRecord(r["patron_id"] or "", ENCODER.encode(r)) for r in records]


def read_back(cls, path: Path) -> list[dict]:
    if cls is AvroFileSink:
        with path.open("rb") as handle:
            return list(fastavro.reader(handle))
    return [json.loads(line) for line in path.read_text("utf-8").splitlines()]


@pytest.mark.parametrize("cls", SINKS)
def test_records_round_trip_across_sends(cls, tmp_path):
    records = sample_records()
    target = tmp_path / "out"
    sink = cls(target, SCHEMA)
    assert sink.send(encoded(records[:2])) == 2
    assert sink.send([]) == 0
    assert sink.send(encoded(records[2:])) == 3
    assert not target.exists()  # nothing at the target until closed
    sink.close()
    assert read_back(cls, target) == records
    assert sink.records_written == 5
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_the_avro_file_is_a_container_with_the_schema_in_its_header(tmp_path):
    target = tmp_path / "out.avro"
    with AvroFileSink(target, SCHEMA) as sink:
        sink.send(encoded(sample_records()))
    with target.open("rb") as handle:
        reader = fastavro.reader(handle)
        assert reader.codec in ("deflate", "null")
        assert reader.writer_schema["name"] == "PatronInfo"
        assert [f["name"] for f in reader.writer_schema["fields"]] == list(PATRON_INFO_FIELDS)
        assert list(reader) == sample_records()


def test_json_lines_keep_the_schema_order_of_keys(tmp_path):
    target = tmp_path / "out.jsonl"
    with JsonLinesSink(target, SCHEMA) as sink:
        sink.send(encoded(sample_records()))
    lines = target.read_text("utf-8").splitlines()
    assert len(lines) == 5
    for line in lines:
        assert list(json.loads(line)) == list(PATRON_INFO_FIELDS)


@pytest.mark.parametrize("cls", SINKS)
def test_a_run_that_sends_nothing_still_writes_a_valid_empty_file(cls, tmp_path):
    target = tmp_path / "out"
    cls(target, SCHEMA).close()
    assert read_back(cls, target) == []


@pytest.mark.parametrize("cls", SINKS)
def test_abort_leaves_nothing_behind(cls, tmp_path):
    sink = cls(tmp_path / "out", SCHEMA)
    sink.send(encoded(sample_records()))
    sink.abort()
    sink.close()  # after abort: nothing to do
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("cls", SINKS)
def test_leaving_a_with_block_by_an_error_leaves_nothing(cls, tmp_path):
    with pytest.raises(RuntimeError, match="geocoder"), cls(tmp_path / "out", SCHEMA) as sink:
        sink.send(encoded(sample_records()))
        raise RuntimeError("the geocoder went away")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("cls", SINKS)
def test_close_after_a_failed_send_removes_the_partial_file(cls, tmp_path):
    sink = cls(tmp_path / "out", SCHEMA)
    sink.send(encoded(sample_records()[:1]))
    garbage = EncodedRecord("key", b"\xff\xff\xff\xff\xff\xff\xff")
    with pytest.raises(FatalError, match="does not decode") as caught:
        sink.send([garbage])
    assert "key" not in str(caught.value)
    with pytest.raises(RuntimeError):
        sink.send(encoded(sample_records()[:1]))
    sink.close()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("cls", SINKS)
def test_a_datum_with_trailing_bytes_is_refused(cls, tmp_path):
    record = encoded(sample_records()[:1])[0]
    with cls(tmp_path / "out", SCHEMA) as sink, pytest.raises(FatalError, match="exactly one"):
        sink.send([EncodedRecord(record.partition_key, record.data + b"\x00")])
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("cls", SINKS)
def test_a_failed_run_keeps_the_previous_file_and_a_good_one_replaces_it(cls, tmp_path):
    target = tmp_path / "out"
    with cls(target, SCHEMA) as sink:
        sink.send(encoded(sample_records()[:1]))
    before = target.read_bytes()

    failed = cls(target, SCHEMA)
    failed.send(encoded(sample_records()))
    failed.abort()
    assert target.read_bytes() == before

    with cls(target, SCHEMA) as sink:
        sink.send(encoded(sample_records()[1:3]))
    assert read_back(cls, target) == sample_records()[1:3]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


@pytest.mark.parametrize("cls", SINKS)
def test_close_twice_and_abort_after_close_keep_the_file(cls, tmp_path):
    target = tmp_path / "out"
    sink = cls(target, SCHEMA)
    sink.send(encoded(sample_records()))
    sink.close()
    sink.close()
    sink.abort()
    assert read_back(cls, target) == sample_records()
    with pytest.raises(RuntimeError):
        sink.send(encoded(sample_records()))


@pytest.mark.parametrize("cls", SINKS)
def test_the_file_gets_the_umask_permissions_not_a_temp_files(cls, tmp_path):
    target = tmp_path / "out"
    cls(target, SCHEMA).close()
    reference = tmp_path / "reference"
    reference.write_text("")
    assert target.stat().st_mode == reference.stat().st_mode
