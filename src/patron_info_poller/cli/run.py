"""`patron-info-poller [run]`: load the configuration, run once, report."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
from pathlib import Path
from typing import Any

from ..config import load_config
from ..errors import ConfigurationError, PollerError, RunInterrupted
from ..logs import configure_logging
from ..pipeline import ShutdownRequest
from ..runner import run_once
from . import exits
from .progress import stream_progress
from .summary import report, summary_document

logger = logging.getLogger("patron_info_poller")


def add_config_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config-dir",
        type=Path,
        default=Path("config"),
        help="folder of <ENVIRONMENT>.yaml files (default: config)",
    )


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "run",
        help="send what changed since the last run (the default command)",
        description="Send Sierra patron changes to Kinesis as PatronInfo records, once. "
        "Reads config/<ENVIRONMENT>.yaml; variables set in the environment win.",
    )
    add_config_dir(parser)
    parser.add_argument(
        "--summary-json",
        type=Path,
        help="also write the run summary (counts and timings only) to this file",
    )
    parser.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    try:
        config = load_config(os.environ.get("ENVIRONMENT"), os.environ, args.config_dir)
    except ConfigurationError as exc:
        return exits.fail(str(exc), exc.exit_code)
    configure_logging(config.log_level)
    logger.info(
        "Run starting",
        extra={"environment": os.environ.get("ENVIRONMENT"), "geocoder": ",".join(config.geocoder)},
    )
    shutdown = ShutdownRequest()
    stop_on_signals(shutdown)
    try:
        with stream_progress() as on_batch:
            summary = run_once(config, on_batch=on_batch, shutdown=shutdown)
    except RunInterrupted as exc:
        logger.warning("Run interrupted", extra={"error": str(exc)})
        exits.exit_now(exc.exit_code, str(exc))
    except PollerError as exc:
        logger.error("Run failed", extra={"error": str(exc), "error_type": type(exc).__name__})
        exits.exit_now(exc.exit_code, f"{type(exc).__name__}: {exc}")
    except Exception as exc:
        message = exits.unexpected(exc)
        logger.error("Run failed unexpectedly", extra={"error": message})
        exits.exit_now(1, f"{message}; the state stands after the last sent batch")
    report(summary)
    if args.summary_json:
        try:
            args.summary_json.write_text(json.dumps(summary_document(summary), indent=2))
        except OSError as exc:
            return exits.fail(f"cannot write {args.summary_json} ({exc.strerror})", 1)
    return 0


def stop_on_signals(shutdown: ShutdownRequest) -> None:
    """SIGTERM (ECS stopping the task) or Ctrl-C: finish the batch being sent, then stop.
    A second signal stops at once; the state is still consistent, as after SIGKILL."""

    def handle(signal_number: int, frame: object) -> None:
        if shutdown.is_set():
            os._exit(128 + signal_number)
        logger.warning("Signal received; stopping after the batch being sent")
        shutdown.request(signal_number)

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)
