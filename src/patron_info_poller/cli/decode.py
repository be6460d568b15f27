"""`patron-info-poller decode`: print PatronInfo records as JSON lines, to see what a run
sent. From the stream (`--from kinesis --since ISO`, configured as a run is) or from an
Avro file a dry run wrote (`decode FILE.avro`, which needs no configuration).

Records hold only obfuscated and coarse data (hashed ids, census tracts), so printing
them is safe; log lines and errors carry counts only.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import fastavro
import httpx

from ..avro_codec import fetch_schema
from ..aws_clients import aws_client
from ..config import LOG_LEVELS, load_config
from ..decoding import decode_datum, read_avro_file, read_stream_since
from ..errors import ConfigurationError, PollerError
from ..logs import configure_logging
from . import exits
from .run import add_config_dir

logger = logging.getLogger("patron_info_poller")

SOURCES = ("kinesis",)
USAGE = "decode --from kinesis --since ISO [--limit N], or decode FILE.avro [--limit N]"


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "decode",
        help="print the PatronInfo records on the stream, or in an Avro file, as JSON lines",
        description="Print PatronInfo records, one JSON object per line. From the Kinesis "
        "stream: records put at or after --since, configured as a run is (ENVIRONMENT, "
        "--config-dir, the environment), decoded with the schema at PATRON_INFO_SCHEMA_URL. "
        "From an Avro file a dry run wrote (--sink avro-file:PATH): decoded with the schema "
        "in the file; needs no configuration. Examples: patron-info-poller decode --from "
        "kinesis --since 2024-06-01T00:00:00-04:00 --limit 10; patron-info-poller decode "
        "dry-run.avro",
    )
    parser.add_argument(
        "file", nargs="?", type=Path, metavar="FILE.avro", help="an Avro object container file"
    )
    parser.add_argument("--from", dest="source", metavar="kinesis", help="read the stream")
    parser.add_argument(
        "--since",
        metavar="ISO",
        help="with --from kinesis: ISO 8601 with a UTC offset, e.g. 2024-06-01T00:00:00-04:00",
    )
    parser.add_argument("--limit", metavar="N", help="print at most N records")
    add_config_dir(parser)
    parser.set_defaults(handler=main)


@dataclass(frozen=True)
class Request:
    file: Path | None
    since: datetime | None
    limit: int | None


def main(args: argparse.Namespace) -> int:
    try:
        request = parse_request(args)
    except ValueError as exc:
        return exits.fail(str(exc), 2)
    try:
        if request.file is not None:
            return _decode_file(request.file, request.limit)
        assert request.since is not None
        return _decode_stream(args.config_dir, request.since, request.limit)
    except BrokenPipeError:
        # The reader went away (`| head`): what it wanted was printed. Keep Python's
        # final flush of stdout from failing too.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


def parse_request(args: argparse.Namespace) -> Request:
    """The checked arguments, or a ValueError of one line saying what to write instead."""
    if args.limit is None:
        limit = None
    else:
        try:
            limit = int(args.limit)
        except ValueError:
            limit = 0
        if limit < 1:
            raise ValueError(f"--limit must be a whole number of 1 or more, not {args.limit!r}")
    if args.file is not None:
        if args.source is not None or args.since is not None:
            raise ValueError(f"give a FILE or --from kinesis, not both: {USAGE}")
        return Request(file=args.file, since=None, limit=limit)
    if args.source is None:
        raise ValueError(f"nothing to decode: {USAGE}")
    if args.source not in SOURCES:
        raise ValueError(f"--from must be {' or '.join(SOURCES)}, not {args.source!r}")
    if args.since is None:
        raise ValueError("--from kinesis needs --since ISO, e.g. 2024-06-01T00:00:00-04:00")
    return Request(file=None, since=parse_since(args.since), limit=limit)


def parse_since(text: str) -> datetime:
    example = "e.g. 2024-06-01T00:00:00-04:00 or 2024-06-01T04:00:00Z"
    try:
        since = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"--since must be an ISO 8601 timestamp, {example}") from None
    if since.tzinfo is None or since.utcoffset() is None:
        raise ValueError(f"--since needs a UTC offset, {example}")
    return since


def _decode_stream(config_dir: Path, since: datetime, limit: int | None) -> int:
    try:
        config = load_config(os.environ.get("ENVIRONMENT"), os.environ, config_dir)
    except ConfigurationError as exc:
        return exits.fail(str(exc), exc.exit_code)
    configure_logging(config.log_level)
    try:
        with httpx.Client(timeout=30.0) as http:
            schema = fastavro.parse_schema(fetch_schema(config.patron_info_schema_url, http))
        payloads = read_stream_since(
            aws_client(config, "kinesis"), config.kinesis_stream_arn, since, limit
        )
        printed = _print_records(decode_datum(schema, payload) for payload in payloads)
    except PollerError as exc:
        logger.error("Decode failed", extra={"error": str(exc), "error_type": type(exc).__name__})
        return exits.fail(f"{type(exc).__name__}: {exc}", exc.exit_code)
    except BrokenPipeError:
        raise
    except Exception as exc:
        return exits.fail(exits.unexpected(exc), 1)
    logger.info("Records decoded", extra={"source": "kinesis", "records": printed})
    return 0


def _decode_file(path: Path, limit: int | None) -> int:
    level = os.environ.get("LOG_LEVEL", "info").strip().lower()
    configure_logging(level if level in LOG_LEVELS else "info")
    try:
        printed = _print_records(itertools.islice(read_avro_file(path), limit))
    except PollerError as exc:
        return exits.fail(str(exc), exc.exit_code)
    except OSError as exc:
        if isinstance(exc, BrokenPipeError):
            raise
        return exits.fail(f"cannot read {path} ({exc.strerror})", 1)
    logger.info("Records decoded", extra={"source": "file", "records": printed})
    return 0


def _print_records(records: Iterable[dict[str, Any]]) -> int:
    printed = 0
    for record in records:
        sys.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")
        printed += 1
    sys.stdout.flush()
    return printed
