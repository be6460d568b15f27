"""`patron-info-poller check`: test every dependency the configuration names, one row per
check (name, ok/fail, seconds, reason). Sends no record and changes no state.

Exit codes: 0 every check passed; 1 one or more failed; 2 the configuration does not load.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .. import health_checks
from ..config import load_config
from ..errors import ConfigurationError
from ..health_checks import CheckResult
from ..logs import configure_logging
from . import exits
from .run import add_config_dir

COLUMNS = ("check", "result", "seconds", "reason")


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "check",
        help="test every dependency the configuration names (read-only)",
        description="Test KMS, Sierra, the warehouse, S3, Kinesis, the schema endpoint, "
        "the geocoders and bcrypt with the configuration a run would use; print one row "
        "per check. Sends no record and changes no state (the S3 write test uses a "
        "scratch object that is deleted). Exit 0 when every check passes, 1 otherwise.",
    )
    add_config_dir(parser)
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    parser.add_argument(
        "--timeout",
        type=_positive_seconds,
        default=health_checks.DEFAULT_BUDGET_SECONDS,
        metavar="SECONDS",
        help=f"longest any one check may take (default: {health_checks.DEFAULT_BUDGET_SECONDS:g})",
    )
    parser.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    environment = os.environ.get("ENVIRONMENT")
    try:
        config = load_config(environment, os.environ, args.config_dir)
        encrypted = health_checks.encrypted_variables(environment, args.config_dir)
    except ConfigurationError as exc:
        return exits.fail(str(exc), exc.exit_code)
    configure_logging(config.log_level)
    try:
        results = health_checks.run_checks(config, encrypted=encrypted, budget_seconds=args.timeout)
    except Exception as exc:  # each check catches its own; this is a bug in running them
        exits.exit_now(1, exits.unexpected(exc))
    if args.json:
        print(json.dumps([result.as_dict() for result in results], indent=2))
    elif sys.stdout.isatty():
        Console(file=sys.stdout).print(rich_table(results))
    else:
        print("\n".join(plain_lines(results)))
    code = 0 if all(result.ok for result in results) else 1
    if health_checks.checks_left_running():
        # A check past its budget may hold a thread that exit would wait for.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


def plain_lines(results: Sequence[CheckResult]) -> list[str]:
    """One aligned line per check: name, ok/fail, seconds (right-aligned), reason."""
    rows = [result.row() for result in results]
    if not rows:
        return []
    name_width = max(len(row[0]) for row in rows)
    status_width = max(len(row[1]) for row in rows)
    seconds_width = max(len(row[2]) for row in rows)
    return [
        f"{name:<{name_width}}  {status:<{status_width}}  {seconds:>{seconds_width}}  {reason}"
        for name, status, seconds, reason in rows
    ]


def rich_table(results: Sequence[CheckResult]) -> Table:
    table = Table(title="patron-info-poller check")
    table.add_column(COLUMNS[0])
    table.add_column(COLUMNS[1])
    table.add_column(COLUMNS[2], justify="right")
    table.add_column(COLUMNS[3])
    for result in results:
        name, status, seconds, reason = result.row()
        style = "green" if result.ok else "bold red"
        # A reason is text, never rich markup.
        table.add_row(name, f"[{style}]{status}[/]", seconds, escape(reason))
    return table


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value > 0:
        raise argparse.ArgumentTypeError("must be more than 0 seconds")
    return value
