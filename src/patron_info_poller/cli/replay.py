"""`patron-info-poller replay`: send one stream's window again (e.g. a day the warehouse
is missing), without reading or moving the live state.

    replay --stream new|updated|deleted --since ISO --until ISO [--sink ...]
"""

from __future__ import annotations

import argparse
import logging
import os
from typing import Any

from ..config import load_config
from ..errors import PollerError, RunInterrupted
from ..logs import configure_logging
from ..pipeline import ShutdownRequest
from ..runner import replay
from ..state import steering
from ..streams import ALL_STREAMS
from . import exits
from .progress import stream_progress
from .run import add_config_dir, add_sink, stop_on_signals
from .summary import report

logger = logging.getLogger("patron_info_poller")
STREAMS = {spec.name: spec for spec in ALL_STREAMS}


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "replay",
        help="resend one stream's changes in [since, until); the live state is untouched",
        description="Resend one stream's changes in [--since, --until), e.g. a day the "
        "warehouse alarm flagged. The live state is never read or written. Example: replay "
        "--stream updated --since 2026-11-29T00:00:00-05:00 --until 2026-11-30T00:00:00-05:00",
    )
    add_config_dir(parser)
    add_sink(parser)
    parser.add_argument("--stream", choices=sorted(STREAMS), required=True)
    parser.add_argument("--since", required=True, help="ISO 8601 with an offset (inclusive)")
    parser.add_argument("--until", required=True, help="ISO 8601 with an offset (exclusive)")
    parser.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    try:
        config = load_config(os.environ.get("ENVIRONMENT"), os.environ, args.config_dir)
        since = steering.parse_instant(args.since)
        until = steering.parse_instant(args.until)
    except PollerError as exc:
        return exits.fail(str(exc), exc.exit_code)
    if since >= until:
        return exits.fail("--since must be before --until", 2)
    configure_logging(config.log_level)
    shutdown = ShutdownRequest()
    stop_on_signals(shutdown)
    logger.info("Replay starting", extra={"stream": args.stream, "sink": str(args.sink)})
    try:
        with stream_progress() as on_batch:
            summary = replay(
                config,
                stream=STREAMS[args.stream],
                since=since,
                until=until,
                sink=args.sink,
                on_batch=on_batch,
                shutdown=shutdown,
            )
    except RunInterrupted as exc:
        exits.exit_now(exc.exit_code, "replay stopped by a signal between batches")
    except PollerError as exc:
        exits.exit_now(exc.exit_code, f"{type(exc).__name__}: {exc}")
    except Exception as exc:
        exits.exit_now(1, exits.unexpected(exc))
    report(summary, title=f"PatronInfoPoller replay of the {args.stream} stream")
    return 0
