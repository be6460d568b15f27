"""`patron-info-poller state show` and `state set`: see and steer the cursors in S3.

state show
state set --stream new|updated|deleted --at ISO-8601 [--yes] [--force]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from datetime import UTC, datetime
from typing import Any

from .. import parts
from ..config import PollerConfig, load_config
from ..errors import ConfigurationError, PollerError
from ..logs import configure_logging
from ..state import steering
from ..streams import ALL_STREAMS
from . import exits
from .run import add_config_dir

logger = logging.getLogger("patron_info_poller")
STREAMS = {spec.name: spec for spec in ALL_STREAMS}


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "state",
        help="show the cursors in S3, or move one (safely, under the run lock)",
        description="Show or steer the state object at s3://S3_BUCKET/S3_RESOURCE.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    show = actions.add_parser(
        "show", help="print the state as JSON: per stream, cursor, caught-up time, id set"
    )
    add_config_dir(show)
    show.set_defaults(handler=main_show)
    move = actions.add_parser(
        "set",
        help="move one stream's cursor",
        description="Move one stream's cursor. Back: that window is sent again. Forward "
        "past the caught-up time: the changes skipped are never sent, so --force is "
        "needed. The previous state is kept at <S3_RESOURCE>.previous. Example: state set "
        "--stream updated --at 2026-11-30T00:00:00-05:00",
    )
    add_config_dir(move)
    move.add_argument("--stream", choices=sorted(STREAMS), required=True)
    move.add_argument("--at", required=True, help="ISO 8601 with an offset; not in the future")
    move.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    move.add_argument(
        "--force", action="store_true", help="allow moving forward past the caught-up time"
    )
    move.set_defaults(handler=main_set)


def _config(args: argparse.Namespace) -> PollerConfig:
    config = load_config(os.environ.get("ENVIRONMENT"), os.environ, args.config_dir)
    if config.ignore_cache:
        raise ConfigurationError("IGNORE_CACHE is set: there is no state in S3 to show or set")
    configure_logging(config.log_level)
    return config


def main_show(args: argparse.Namespace) -> int:
    try:
        config = _config(args)
        shown = steering.show(parts.s3_state_store(config))
    except PollerError as exc:
        return exits.fail(str(exc), exc.exit_code)
    print(json.dumps(shown, indent=2))
    return 0


def main_set(args: argparse.Namespace) -> int:
    try:
        config = _config(args)
        at = steering.parse_instant(args.at)
        with parts.run_lock(config, "state set"):
            store = parts.s3_state_store(config)
            read = store.read_bytes()
            state = parts.initial_state(config) if read is None else store.parse(read)
            change = steering.plan_change(state, STREAMS[args.stream], at, datetime.now(UTC))
            if change.skips_changes and not args.force:
                return exits.fail(
                    f"{change.describe()} moves past the caught-up time, so the changes in "
                    "between would never be sent; add --force if that is intended",
                    2,
                )
            if change.moves_back:
                print(
                    f"warning: {change.stream.name} changes from {change.after.value} on "
                    "will be sent again by the next run",
                    file=sys.stderr,
                )
            if not args.yes and not _confirmed(change):
                return exits.fail("not changed (no confirmation; use --yes to skip it)", 1)
            kept = steering.apply_change(store, read, state, change)
    except PollerError as exc:
        return exits.fail(str(exc), exc.exit_code)
    logger.info("State changed", extra={"stream": args.stream, "previous_kept_at": kept})
    print(f"{change.describe()}; previous state kept at {kept or '(there was none)'}")
    return 0


def _confirmed(change: steering.CursorChange) -> bool:
    if not sys.stdin.isatty():
        raise ConfigurationError(
            f"{change.describe()} needs confirmation: run it on a terminal or add --yes"
        )
    answer = input(f"{change.describe()}. Write it? [y/N] ")
    return answer.strip().lower() in ("y", "yes")
