"""`patron-info-poller tiger-index build`: the offline geocoder's index, built from the
Census Bureau's TIGER/Line county files. Needs no other configuration."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..errors import PollerError
from ..geocoding.tiger_build import BuildProgress, build_index
from ..logs import configure_logging, terminal_console
from . import exits

logger = logging.getLogger("patron_info_poller")

CENSUS_TIGER_SOURCE = "https://www2.census.gov/geo/tiger"


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "tiger-index",
        help="build the offline geocoder's index from TIGER/Line files",
        description="Build the offline geocoder's index (one SQLite file) from the Census "
        "Bureau's TIGER/Line ADDRFEAT and FACES county files.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    build = actions.add_parser(
        "build",
        help="download (or read) the county files and write the index",
        description="Example: patron-info-poller tiger-index build --year 2024 "
        "--counties 36005,36047,36061,36081,36085 --output tiger-2024-nyc.sqlite",
    )
    build.add_argument("--year", type=int, required=True, help="TIGER/Line release, e.g. 2024")
    build.add_argument(
        "--counties",
        required=True,
        help="5-digit county FIPS codes, comma-separated (NYC: 36005,36047,36061,36081,36085)",
    )
    build.add_argument("--output", type=Path, required=True, help="the index file to write")
    build.add_argument(
        "--source",
        default=CENSUS_TIGER_SOURCE,
        help=f"base URL or local folder in the Bureau's layout (default: {CENSUS_TIGER_SOURCE})",
    )
    build.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    configure_logging(os.environ.get("LOG_LEVEL", "info"))
    counties = [county.strip() for county in args.counties.split(",") if county.strip()]
    started = time.monotonic()
    try:
        with _progress() as progress:
            meta = build_index(
                year=args.year,
                counties=counties,
                output=args.output,
                source=args.source.rstrip("/"),
                progress=progress,
            )
    except ValueError as exc:
        return exits.fail(str(exc), 2)
    except PollerError as exc:
        return exits.fail(str(exc), exc.exit_code)
    except OSError as exc:
        return exits.fail(f"cannot write {args.output} ({exc.strerror})", 1)
    except Exception as exc:
        return exits.fail(exits.unexpected(exc), 1)
    seconds = time.monotonic() - started
    counts = ", ".join(f"{count} {name}" for name, count in meta.row_counts.items())
    logger.info(
        "TIGER index built",
        extra={
            "year": meta.year,
            "counties": ",".join(meta.counties),
            "seconds": round(seconds, 1),
        },
    )
    print(
        f"Built {args.output} from TIGER/Line {meta.year} for {len(meta.counties)} counties "
        f"({counts}) in {seconds:.1f} s."
    )
    return 0


class _LoggedProgress:
    """Off a terminal: a log line as each file starts and ends."""

    def __init__(self) -> None:
        self._label = ""
        self._done = 0

    def begin(self, label: str, total: int | None) -> None:
        self._label, self._done = label, 0
        logger.info("TIGER step started", extra={"step": label, "total": total})

    def advance(self, amount: int) -> None:
        self._done += amount

    def end(self) -> None:
        logger.info("TIGER step done", extra={"step": self._label, "done": self._done})


class _BarProgress:
    """On a terminal: a progress bar per download and per parsed file."""

    def __init__(self, bars: Any):
        self._bars = bars
        self._task: Any = None

    def begin(self, label: str, total: int | None) -> None:
        self._task = self._bars.add_task(label, total=total)

    def advance(self, amount: int) -> None:
        self._bars.advance(self._task, amount)

    def end(self) -> None:
        task = self._bars.tasks[self._task]
        self._bars.update(self._task, total=task.completed, completed=task.completed)


@contextmanager
def _progress() -> Iterator[BuildProgress]:
    if not sys.stderr.isatty():
        yield _LoggedProgress()
        return
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TimeElapsedColumn(),
        console=terminal_console(sys.stderr),
    ) as bars:
        yield _BarProgress(bars)
