"""`patron-info-poller backfill`: every patron created in a window, in parallel chunks on
Dask, resumable; `backfill status`: the plan's progress.

    backfill [--since ISO] [--until ISO] [--chunk-size N] [--workers N | --scheduler ADDRESS]
             [--sink S] [--advance-state] [--restart] [--summary-json F]
    backfill status
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from ..backfill.chunk import ConfigSource
from ..backfill.cluster import ClusterSpec
from ..backfill.driver import BackfillOptions, run_backfill
from ..backfill.progress import BackfillProgress, BackfillSummary, ProgressCallback
from ..backfill.status import backfill_status
from ..config import load_config
from ..errors import ConfigurationError, PollerError, RunInterrupted
from ..logs import configure_logging, terminal_console
from ..metrics.backfill import publish_backfill
from ..pipeline import ShutdownRequest
from ..state import steering
from . import exits
from .run import add_config_dir, add_sink, stop_on_signals

logger = logging.getLogger("patron_info_poller")


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of at least 1")
    return value


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "backfill",
        help="send every patron created in a window, in parallel chunks on Dask (resumable)",
        description="Send the new-stream records of every non-deleted patron created in "
        "[--since, --until), as BACKFILL=True does, in parallel chunks on Dask. A plan of "
        "chunks is kept beside the state (S3_BUCKET/S3_RESOURCE); run the same command "
        "again to resume it. The incremental cursors are untouched unless --advance-state. "
        "`backfill status` prints the plan's progress.",
    )
    parser.add_argument(
        "action", nargs="?", choices=["status"], help="status: print the plan's progress"
    )
    add_config_dir(parser)
    add_sink(parser)
    parser.add_argument(
        "--since", help="ISO 8601 with an offset, inclusive (default STARTING_CREATION_DT)"
    )
    parser.add_argument(
        "--until", help="ISO 8601 with an offset, exclusive (default Sierra's now minus the lag)"
    )
    parser.add_argument(
        "--chunk-size",
        type=_positive,
        help="patrons per chunk (default: about 2.5 minutes of one worker thread's hashing)",
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--workers",
        type=_positive,
        help="one-thread worker processes of a local cluster (default: one per core)",
    )
    where.add_argument(
        "--scheduler", metavar="ADDRESS", help="a running dask scheduler, e.g. tcp://HOST:8786"
    )
    parser.add_argument(
        "--advance-state",
        action="store_true",
        help="when every chunk is done, move the new stream's cursor forward to the plan's "
        "end if it is behind it",
    )
    parser.add_argument(
        "--restart",
        action="store_true",
        help="abandon an unfinished plan (e.g. of another window) and plan anew",
    )
    parser.add_argument(
        "--summary-json", type=Path, help="also write the summary (counts and timings) here"
    )
    parser.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    environment = os.environ.get("ENVIRONMENT")
    try:
        config = load_config(environment, os.environ, args.config_dir)
        since = steering.parse_instant(args.since) if args.since else None
        until = steering.parse_instant(args.until) if args.until else None
    except PollerError as exc:
        return exits.fail(str(exc), exc.exit_code)
    configure_logging(config.log_level)
    if args.action == "status":
        return _status(config)
    options = BackfillOptions(
        config_source=ConfigSource(environment, str(args.config_dir.resolve())),
        since=since,
        until=until,
        chunk_rows=args.chunk_size,
        sink=args.sink,
        advance_state=args.advance_state,
        restart=args.restart,
    )
    shutdown = ShutdownRequest()
    stop_on_signals(shutdown)
    metrics_environment = environment or "unnamed"

    def publish(summary: BackfillSummary | None, succeeded: bool) -> None:
        publish_backfill(
            config.metrics,
            metrics_environment,
            summary.as_dict() if summary is not None else None,
            succeeded=succeeded,
            pushgateway_url=config.pushgateway_url,
        )

    logger.info("Backfill starting", extra={"sink": str(args.sink)})
    try:
        with backfill_progress() as on_progress:
            summary = run_backfill(
                config,
                options,
                cluster=ClusterSpec(workers=args.workers, scheduler=args.scheduler),
                on_progress=on_progress,
                shutdown=shutdown,
            )
    except RunInterrupted as exc:
        publish(None, False)
        exits.exit_now(exc.exit_code, str(exc))
    except ConfigurationError as exc:
        # Found before any chunk ran (the options, the window, an unfinished plan).
        return exits.fail(str(exc), exc.exit_code)
    except PollerError as exc:
        logger.error("Backfill failed", extra={"error": str(exc), "error_type": type(exc).__name__})
        publish(None, False)
        exits.exit_now(exc.exit_code, f"{type(exc).__name__}: {exc}")
    except Exception as exc:
        message = exits.unexpected(exc)
        logger.error("Backfill failed unexpectedly", extra={"error": message})
        publish(None, False)
        exits.exit_now(1, f"{message}; finished chunks keep their markers: run backfill again")
    report(summary)
    publish(summary, True)
    if args.summary_json:
        try:
            args.summary_json.write_text(json.dumps(summary.as_dict(), indent=2))
        except OSError as exc:
            return exits.fail(f"cannot write {args.summary_json} ({exc.strerror})", 1)
    return 0


@contextmanager
def backfill_progress() -> Iterator[ProgressCallback | None]:
    """On a terminal, a progress bar (patrons done, chunks done, records/s, ETA); otherwise
    None: the driver's log lines tell the same."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("backfill"),
        BarColumn(),
        TextColumn("{task.fields[chunks]}"),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TextColumn("{task.fields[eta]}"),
        console=terminal_console(sys.stderr),
        transient=True,
    ) as progress:
        task = progress.add_task("backfill", total=None, chunks="planning", rate="", eta="")

        def on_progress(update: BackfillProgress) -> None:
            eta = update.eta_seconds
            progress.update(
                task,
                total=max(1, update.rows_total),
                completed=update.rows_done,
                chunks=f"chunks {update.chunks_done}/{update.chunks_total}",
                rate=f"{update.records_per_second:,.0f} records/s",
                eta="" if eta is None else f"ETA {_clock(eta)}",
            )

        yield on_progress


def _clock(seconds: float) -> str:
    minutes, second = divmod(int(seconds), 60)
    hours, minute = divmod(minutes, 60)
    return f"{hours}:{minute:02d}:{second:02d}"


def summary_rows(summary: BackfillSummary) -> list[tuple[str, str]]:
    skipped = sum(summary.skipped.values())
    reasons = ", ".join(f"{reason}: {count}" for reason, count in sorted(summary.skipped.items()))
    rows = [
        ("plan", summary.plan_id + (" (dry run)" if summary.dry_run else "")),
        ("window", summary.window),
        (
            "chunks",
            f"{summary.chunks_done_before + summary.chunks_run} / {summary.chunks_total} done"
            + (f" ({summary.chunks_done_before} before this run)" if summary.resumed else ""),
        ),
        ("records read", f"{summary.read:,}"),
        ("records sent", f"{summary.sent:,} ({summary.sent_this_run:,} by this run)"),
        ("records skipped", f"{skipped:,}" + (f" ({reasons})" if reasons else "")),
        (
            "duplicates",
            f"{summary.duplicates:,} (from {summary.retried_chunks} chunks run again)",
        ),
        ("kinesis records retried", f"{summary.kinesis_records_retried:,}"),
        ("wall seconds", f"{summary.wall_seconds:,.1f}"),
        (
            "cpu seconds",
            f"{summary.cpu_seconds:,.1f} (driver {summary.driver_cpu_seconds:,.1f}, "
            f"workers {summary.worker_cpu_seconds:,.1f})",
        ),
        ("state", summary.state_change or "untouched"),
    ]
    if summary.output:
        rows.append(("output", summary.output))
    return rows


def report(summary: BackfillSummary) -> None:
    logger.info("Backfill summary", extra=summary.as_dict())
    table = Table(title="PatronInfoPoller backfill", show_header=False)
    table.add_column("what")
    table.add_column("value")
    for row in summary_rows(summary):
        table.add_row(*row)
    Console(file=sys.stdout, width=100).print(table)


def _status(config: Any) -> int:
    try:
        status = backfill_status(config)
    except PollerError as exc:
        return exits.fail(str(exc), exc.exit_code)
    if status["plan"] is None:
        print(f"no backfill plan at {status['location']}")
        return 0
    in_progress = (
        f" ({status['chunks_in_progress']} in progress)" if status["chunks_in_progress"] else ""
    )
    unfinished = status["records_sent_by_unfinished_chunks"]
    lines = [
        ("plan", f"{status['plan']} ({status['state']})"),
        ("location", status["location"]),
        ("window", status["window"]),
        ("started at", status["started_at"]),
        ("chunks", f"{status['chunks_done']} / {status['chunks_total']} done{in_progress}"),
        (
            "records sent",
            f"{status['records_sent']:,}"
            + (f" (plus {unfinished:,} by unfinished chunks)" if unfinished else ""),
        ),
        ("duplicates", f"{status['duplicates']:,}"),
        ("patrons planned", f"{status['patrons_planned']:,}"),
        ("last chunk done", status["last_chunk_finished_at"] or "-"),
    ]
    for name, value in lines:
        print(f"{name:<16}{value}")
    return 0
