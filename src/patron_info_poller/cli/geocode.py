"""`patron-info-poller geocode`: the offline geocoder for any file in the Census batch
format, so its answers can be compared with the service's own, row by row. Needs only
the index; nothing leaves the machine."""

from __future__ import annotations

import argparse
import contextlib
import csv
import itertools
import logging
import os
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from ..errors import PollerError
from ..geocoding.census_format import InputFormatError, read_batch_input, reply_row
from ..geocoding.tiger import TigerGeocoder
from ..logs import configure_logging
from . import exits

logger = logging.getLogger("patron_info_poller")

CHUNK_ROWS = 10_000  # rows geocoded and written at a time: memory stays flat


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "geocode",
        help="geocode a Census batch input file offline, with a TIGER index",
        description="Read a Census batch input file (no header: id,street,city,state,zip) "
        "and write the Census batch reply format (Match rows have 12 columns, No_Match and "
        "Tie rows 3), matching against a TIGER index. Example: patron-info-poller geocode "
        "--index tiger-2024-nyc.sqlite addresses.csv --output geocoded.csv",
    )
    parser.add_argument("--index", type=Path, required=True, help="built by `tiger-index build`")
    parser.add_argument("input", type=Path, metavar="INPUT.csv")
    parser.add_argument("--output", type=Path, help="the reply file (default: stdout)")
    parser.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    configure_logging(os.environ.get("LOG_LEVEL", "info"))
    try:
        geocoder = TigerGeocoder.from_path(args.index)
    except PollerError as exc:
        return exits.fail(str(exc), exc.exit_code)
    statuses: Counter[str] = Counter()
    try:
        with (
            geocoder,
            args.input.open(encoding="utf-8-sig", newline="") as source,
            _output(args.output) as target,
        ):
            writer = csv.writer(target, quoting=csv.QUOTE_ALL, lineterminator="\n")
            rows = read_batch_input(source)
            while chunk := list(itertools.islice(rows, CHUNK_ROWS)):
                reply = geocoder.geocode([row.address for row in chunk])
                for row, outcome in zip(chunk, reply.outcomes, strict=True):
                    writer.writerow(reply_row(row.row_id, row.address, outcome))
                    statuses[outcome.status.value] += 1
    except InputFormatError as exc:
        return exits.fail(f"{args.input}: {exc}", 2)
    except UnicodeDecodeError:
        return exits.fail(f"{args.input} is not UTF-8 text", 2)
    except OSError as exc:
        return exits.fail(f"cannot read or write {exc.filename} ({exc.strerror})", 1)
    total = sum(statuses.values())
    logger.info("Geocoded offline", extra={"rows": total, **statuses})
    print(
        f"geocoded {total} rows offline (index year {geocoder.meta.year}): "
        + ", ".join(f"{statuses[s]} {s}" for s in ("Match", "No_Match", "Tie")),
        file=sys.stderr,
    )
    return 0


@contextlib.contextmanager
def _output(path: Path | None) -> Iterator[TextIO]:
    if path is None:
        yield sys.stdout
        return
    # Written beside the target and renamed: a failed run leaves no half reply file.
    partial = path.with_name(f".{path.name}.partial")
    try:
        with partial.open("w", encoding="utf-8", newline="") as handle:
            yield handle
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
