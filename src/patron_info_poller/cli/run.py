"""`patron-info-poller [run]`: one run, or one run after another (`--every`), reported on
the terminal or in log lines, with metrics where METRICS says."""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import re
import signal
import time
from pathlib import Path
from typing import Any

from ..config import PollerConfig, load_config
from ..errors import ConfigurationError, PollerError, RunInterrupted
from ..logs import configure_logging
from ..metrics.publish import MetricsPublisher, ReportedCounts
from ..pipeline import RunSummary, ShutdownRequest
from ..runner import run_once
from ..sinks.spec import KINESIS, SinkSpec, parse_sink
from . import exits
from .progress import stream_progress
from .summary import report, summary_document

logger = logging.getLogger("patron_info_poller")

_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smh]?)")
_SECONDS_PER = {"": 1, "s": 1, "m": 60, "h": 3600}


def add_config_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config-dir",
        type=Path,
        default=Path("config"),
        help="folder of <ENVIRONMENT>.yaml files (default: config)",
    )


def add_sink(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--sink",
        type=parse_sink,
        default=KINESIS,
        help="kinesis (default), avro-file:PATH or jsonl:PATH; a file sink never moves the "
        "live state",
    )


def duration(text: str) -> float:
    """`15m`, `30s`, `1h` or plain seconds."""
    match = _DURATION.fullmatch(text.strip())
    if match is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration such as 15m, 30s or 1h")
    return float(match[1]) * _SECONDS_PER[match[2]]


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "run",
        help="send what changed since the last run (the default command)",
        description="Send Sierra patron changes to Kinesis as PatronInfo records, once (or "
        "every interval with --every). Reads config/<ENVIRONMENT>.yaml; variables set in "
        "the environment win.",
    )
    add_config_dir(parser)
    add_sink(parser)
    parser.add_argument(
        "--summary-json",
        type=Path,
        help="also write the run summary (counts and timings only) to this file",
    )
    parser.add_argument(
        "--every",
        type=duration,
        help="loop mode, for hosts without a scheduler: a run every interval (e.g. 15m), "
        "never two at once; SIGTERM ends the loop after the current batch",
    )
    parser.add_argument(
        "--jitter",
        type=duration,
        default=0.0,
        help="with --every, wait up to this much longer (random) between runs (e.g. 30s)",
    )
    parser.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    environment = os.environ.get("ENVIRONMENT") or "unnamed"
    try:
        config = load_config(os.environ.get("ENVIRONMENT"), os.environ, args.config_dir)
    except ConfigurationError as exc:
        return exits.fail(str(exc), exc.exit_code)
    configure_logging(config.log_level)
    publisher = MetricsPublisher(
        config.metrics, environment, pushgateway_url=config.pushgateway_url
    )
    shutdown = ShutdownRequest()
    stop_on_signals(shutdown)
    if args.every is not None:
        return _loop(config, args, publisher, shutdown)
    try:
        summary = _run(config, args.sink, publisher, shutdown)
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


def _run(
    config: PollerConfig, sink: SinkSpec, publisher: MetricsPublisher, shutdown: ShutdownRequest
) -> RunSummary:
    """One run; its metrics are published whether it succeeds or not."""
    logger.info("Run starting", extra={"geocoder": ",".join(config.geocoder), "sink": str(sink)})
    started = time.monotonic()
    with stream_progress() as on_batch:
        counts = ReportedCounts(then=on_batch)
        try:
            summary = run_once(config, sink=sink, on_batch=counts.on_batch, shutdown=shutdown)
        except BaseException:
            publisher.publish(
                list(counts.streams.values()),
                caught_up_as_of={},
                duration_seconds=time.monotonic() - started,
                succeeded=False,
            )
            raise
    publisher.publish(
        summary.streams,
        caught_up_as_of=summary.caught_up_as_of,
        duration_seconds=summary.elapsed_seconds,
        succeeded=True,
    )
    return summary


def _loop(
    config: PollerConfig,
    args: argparse.Namespace,
    publisher: MetricsPublisher,
    shutdown: ShutdownRequest,
) -> int:
    """Runs one after another, never overlapping. A failed run is logged and retried at the
    next tick; a configuration error ends the loop (exit 2); SIGTERM ends it after the
    current batch (exit 143), or at once between runs."""
    if config.metrics_port:
        publisher.serve_on(config.metrics_port)
        logger.info("Serving /metrics", extra={"port": config.metrics_port})
    runs = 0
    while not shutdown.is_set():
        tick = time.monotonic()
        runs += 1
        try:
            summary = _run(config, args.sink, publisher, shutdown)
            report(summary, title=f"PatronInfoPoller run {runs}")
        except RunInterrupted:
            break
        except ConfigurationError as exc:
            return exits.fail(str(exc), exc.exit_code)
        except PollerError as exc:
            logger.error(
                "Run failed; retrying at the next tick",
                extra={"error": str(exc), "error_type": type(exc).__name__},
            )
        except Exception as exc:
            logger.error(
                "Run failed unexpectedly; retrying at the next tick",
                extra={"error": exits.unexpected(exc)},
            )
        wait = args.every + random.uniform(0, args.jitter) - (time.monotonic() - tick)
        logger.info("Next run", extra={"in_seconds": round(max(0.0, wait), 1)})
        shutdown.wait(max(0.0, wait))
    logger.warning("Loop stopped by a signal", extra={"runs": runs})
    return 128 + shutdown.signal_number


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
