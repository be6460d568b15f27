"""Reads PatronInfo records back: from the Kinesis stream (what the warehouse ingests) or
from an Avro object container file (what a dry run with `--sink avro-file:PATH` wrote).

Library code only; `cli/decode.py` prints what these return. Messages name counts,
shards and paths, never a record's content.
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import fastavro
from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotocoreConnectionError

from .aws_errors import error_code, is_service_trouble
from .errors import FatalError, PollerError, RetriesExhaustedError

MAX_RECORDS_PER_GET = 10_000  # GetRecords' own ceiling
# A page that is empty while the shard is still behind its tip is normal (Kinesis skips
# through a sparse stretch a page at a time); the pause keeps under 5 GetRecords/s/shard.
EMPTY_PAGE_PAUSE_SECONDS = 0.2


class AvroFileError(PollerError):
    """A file given to read is not an Avro object container file, or is damaged."""

    exit_code = 2


def decode_datum(parsed_schema: Any, data: bytes) -> dict[str, Any]:
    """One schemaless datum (one Kinesis record), which must use every byte of `data`.

    `parsed_schema` is `fastavro.parse_schema(schema)`. Raises FatalError otherwise.
    """
    buffer = io.BytesIO(data)
    try:
        record = fastavro.schemaless_reader(buffer, parsed_schema, None)
    except Exception as exc:  # fastavro fails on bad bytes with many exception types
        raise FatalError("a record does not decode with the PatronInfo schema") from exc
    if buffer.tell() != len(data) or not isinstance(record, dict):
        raise FatalError("a record is not exactly one PatronInfo datum")
    return record


def read_stream_since(
    kinesis_client: Any, stream_arn: str, since: datetime, limit: int | None = None
) -> Iterator[bytes]:
    """Every record put on the stream at or after `since` (which needs a UTC offset),
    shard by shard, each shard in order, up to `limit` records in all.

    A shard is read until it is caught up (MillisBehindLatest == 0), closed (no
    NextShardIterator) or, where Kinesis does not report how far behind it is, until a
    page comes back empty. Records arriving while it reads may or may not be included.
    Raises RetriesExhaustedError if Kinesis cannot be reached or stays unavailable, and
    FatalError if it refuses the request (a wrong ARN, missing permissions).
    """
    if since.tzinfo is None or since.utcoffset() is None:
        raise ValueError("since needs a UTC offset")
    if limit is not None and limit <= 0:
        return
    read = 0
    try:
        for shard_id in _shard_ids(kinesis_client, stream_arn):
            iterator = kinesis_client.get_shard_iterator(
                StreamARN=stream_arn,
                ShardId=shard_id,
                ShardIteratorType="AT_TIMESTAMP",
                Timestamp=since,
            )["ShardIterator"]
            while iterator:
                wanted = MAX_RECORDS_PER_GET if limit is None else limit - read
                page = kinesis_client.get_records(
                    StreamARN=stream_arn,
                    ShardIterator=iterator,
                    Limit=min(wanted, MAX_RECORDS_PER_GET),
                )
                for record in page["Records"]:
                    yield record["Data"]
                    read += 1
                    if limit is not None and read >= limit:
                        return
                iterator = page.get("NextShardIterator")
                behind = page.get("MillisBehindLatest")
                if behind == 0 or (behind is None and not page["Records"]):
                    break
                if not page["Records"]:
                    time.sleep(EMPTY_PAGE_PAUSE_SECONDS)
    except ClientError as exc:
        # botocore has already retried capacity and health errors.
        if is_service_trouble(exc):
            raise RetriesExhaustedError(
                f"Kinesis stayed unavailable while reading the stream ({error_code(exc)})"
            ) from exc
        raise FatalError(f"Kinesis refused to read the stream ({error_code(exc)})") from exc
    except (BotocoreConnectionError, HTTPClientError) as exc:
        raise RetriesExhaustedError(f"could not reach Kinesis ({type(exc).__name__})") from exc
    except BotoCoreError as exc:
        raise FatalError(f"could not read the Kinesis stream ({type(exc).__name__})") from exc


def _shard_ids(kinesis_client: Any, stream_arn: str) -> list[str]:
    """Every shard still within retention, open or closed (ListShards, every page)."""
    shard_ids: list[str] = []
    request: dict[str, Any] = {"StreamARN": stream_arn}
    while True:
        page = kinesis_client.list_shards(**request)
        shard_ids.extend(shard["ShardId"] for shard in page["Shards"])
        token = page.get("NextToken")
        if not token:
            return shard_ids
        # As boto3's own paginator does: the stream's ARN stays, the token is added.
        request = {"StreamARN": stream_arn, "NextToken": token}


def read_avro_file(path: Path) -> Iterator[dict[str, Any]]:
    """The records of an Avro object container file, decoded with the schema in its header.

    Raises OSError if the file cannot be opened, AvroFileError if it is not an Avro
    container file or is damaged (records before the damage have been yielded).
    """
    with open(path, "rb") as handle:
        try:
            reader = fastavro.reader(handle)
        except Exception as exc:  # a wrong magic, a truncated or garbled header
            raise AvroFileError(f"{path} is not an Avro object container file") from exc
        records = iter(reader)
        read = 0
        while True:
            try:
                record = next(records)
            except StopIteration:
                return
            except Exception as exc:  # a bad block: truncated, wrong sync marker, bad data
                raise AvroFileError(f"{path} is damaged after {read} records") from exc
            read += 1
            yield record
