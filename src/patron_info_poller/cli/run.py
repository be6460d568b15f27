"""`patron-info-poller` / `python3 main.py`: load the configuration, run once, report.

Exit codes: 0 done; 1 failed; 2 invalid configuration; 3 unreadable or corrupt state;
4 a service stayed unavailable past its retries; 143 (SIGTERM) or 130 (SIGINT) stopped
between batches.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from rich.console import Console
from rich.table import Table

from ..config import PollerConfig, load_config
from ..errors import ConfigurationError, PollerError, RunInterrupted
from ..logs import configure_logging, terminal_console
from ..pipeline import RunSummary, ShutdownRequest, StreamSummary
from ..runner import run_once

logger = logging.getLogger("patron_info_poller")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="patron-info-poller",
        description="Send Sierra patron changes to Kinesis as PatronInfo records, once. "
        "Reads config/<ENVIRONMENT>.yaml; variables set in the environment win.",
    )
    parser.add_argument(
        "--config-dir", type=Path, default=Path("config"), help="folder of <env>.yaml files"
    )
    parser.add_argument(
        "--summary-json",
        type=Path,
        help="also write the run summary (counts and timings only) to this file",
    )
    args = parser.parse_args(argv)
    try:
        config = load_config(os.environ.get("ENVIRONMENT"), os.environ, args.config_dir)
    except ConfigurationError as exc:
        print(f"patron-info-poller: {exc}", file=sys.stderr)
        return exc.exit_code
    configure_logging(config.log_level)
    logger.info("Run starting", extra={"environment": os.environ.get("ENVIRONMENT")})
    shutdown = ShutdownRequest()
    _stop_on_signals(shutdown)
    try:
        summary = _run(config, shutdown)
    except RunInterrupted as exc:
        logger.warning("Run interrupted", extra={"error": str(exc)})
        _exit_now(exc.exit_code, str(exc))
    except PollerError as exc:
        logger.error("Run failed", extra={"error": str(exc), "error_type": type(exc).__name__})
        _exit_now(exc.exit_code, f"{type(exc).__name__}: {exc}")
    except Exception as exc:
        # An unexpected error's message may quote a value: name only its type and place.
        where = _innermost_frame(exc)
        logger.error(
            "Run failed unexpectedly", extra={"error_type": type(exc).__name__, "where": where}
        )
        _exit_now(
            1,
            f"unexpected {type(exc).__name__} at {where}; "
            "the state stands after the last sent batch",
        )
    _report(summary)
    if args.summary_json:
        try:
            args.summary_json.write_text(json.dumps(summary_document(summary), indent=2))
        except OSError as exc:
            print(f"patron-info-poller: cannot write {args.summary_json} ({exc.strerror})")
            return 1
    return 0


def _exit_now(code: int, message: str) -> NoReturn:
    print(f"patron-info-poller: {message}", file=sys.stderr)
    sys.stdout.flush()
    sys.stderr.flush()
    # Threads of an abandoned batch (a geocoder request in flight) are not waited for;
    # everything that matters (records, state) was written synchronously.
    os._exit(code)


def _innermost_frame(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return "unknown place"
    return f"{Path(frames[-1].filename).name}:{frames[-1].lineno}"


def _stop_on_signals(shutdown: ShutdownRequest) -> None:
    """SIGTERM (ECS stopping the task) or Ctrl-C: finish the batch being sent, then stop.
    A second signal stops at once; the state is still consistent, as after SIGKILL."""

    def handle(signal_number: int, frame: object) -> None:
        if shutdown.is_set():
            os._exit(128 + signal_number)
        logger.warning("Signal received; stopping after the batch being sent")
        shutdown.request(signal_number)

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)


def _run(config: PollerConfig, shutdown: ShutdownRequest) -> RunSummary:
    if not sys.stderr.isatty():
        return run_once(config, shutdown=shutdown)
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=terminal_console(sys.stderr),
        transient=True,
    ) as progress:
        tasks: dict[str, int] = {}

        def on_batch(stream: StreamSummary) -> None:
            text = f"{stream.stream}: {stream.read} read, {stream.sent} sent"
            if stream.stream not in tasks:
                tasks[stream.stream] = progress.add_task(text)
            progress.update(tasks[stream.stream], description=text)

        return run_once(config, on_batch=on_batch, shutdown=shutdown)


SUMMARY_COLUMNS = (
    "stream",
    "batches",
    "read",
    "sent",
    "geocoded",
    "match rate",
    "reused",
    "skipped",
)


def summary_rows(summary: RunSummary) -> list[tuple[str, ...]]:
    rows = []
    for s in summary.streams:
        rate = "-" if s.match_rate is None else f"{s.match_rate:.1%}"
        rows.append(
            (
                s.stream,
                str(s.batches),
                str(s.read),
                str(s.sent),
                str(s.geocode_requested),
                rate,
                str(s.reused_from_warehouse),
                str(sum(s.skipped.values())),
            )
        )
    return rows


def summary_document(summary: RunSummary) -> dict[str, object]:
    return {
        "elapsed_seconds": round(summary.elapsed_seconds, 3),
        "hashes_computed": summary.hashes_computed,
        "streams": [
            {
                "stream": s.stream,
                "batches": s.batches,
                "read": s.read,
                "sent": s.sent,
                "already_sent": s.already_sent,
                "geocode_requested": s.geocode_requested,
                "geocode_matched": s.geocode_matched,
                "reused_from_warehouse": s.reused_from_warehouse,
                "skipped": dict(s.skipped),
                "elapsed_seconds": round(s.elapsed_seconds, 3),
            }
            for s in summary.streams
        ],
    }


def _report(summary: RunSummary) -> None:
    rows = summary_rows(summary)
    for row in rows:
        logger.info("Stream summary", extra=dict(zip(SUMMARY_COLUMNS, row, strict=True)))
    table = Table(title="PatronInfoPoller run")
    for column in SUMMARY_COLUMNS:
        table.add_column(column, justify="left" if column == "stream" else "right")
    for row in rows:
        table.add_row(*row)
    Console(file=sys.stdout, width=100).print(table)
