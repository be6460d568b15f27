"""The command line: `patron-info-poller` and `python3 main.py` are the same program.

One module per command; each parses its options and calls the library. With no command,
the program does one run, exactly as the deployed poller always has.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from . import backfill, check, decode, geocode, replay, run, state, tiger_index

COMMANDS = {
    "run": run,
    "check": check,
    "state": state,
    "replay": replay,
    "decode": decode,
    "tiger-index": tiger_index,
    "geocode": geocode,
    "backfill": backfill,
}


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if not arguments or arguments[0] not in (*COMMANDS, "-h", "--help"):
        arguments.insert(0, "run")  # `python3 main.py [--config-dir ...]` runs once
    parser = argparse.ArgumentParser(
        prog="patron-info-poller",
        description="Send Sierra patron changes to Kinesis as privacy-safe PatronInfo "
        "records, and the tools to operate it. With no command: one run.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in COMMANDS.values():
        module.add_parser(commands)
    args = parser.parse_args(arguments)
    return args.handler(args)


__all__ = ["main"]
