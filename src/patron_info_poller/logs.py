"""Logging for operators: readable on a terminal, JSON lines otherwise.

Library loggers are held at WARNING whatever LOG_LEVEL says: at DEBUG botocore prints
request and response bodies (a KMS plaintext, the state's record ids) and HTTP clients
print what they send.
"""

from __future__ import annotations

import logging
import sys
from typing import TextIO

from pythonjsonlogger.json import JsonFormatter
from rich.console import Console
from rich.logging import RichHandler

LIBRARY_LOGGERS = (
    "boto3",
    "botocore",
    "s3transfer",
    "urllib3",
    "httpx",
    "httpcore",
    "psycopg",
    "tenacity",
    "fastavro",
    "usaddress",
    "werkzeug",
    "asyncio",
)


_STANDARD_FIELDS = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class _MessageWithFields(logging.Formatter):
    """On a terminal: the message, then its structured fields as key=value."""

    def format(self, record: logging.LogRecord) -> str:
        fields = {k: v for k, v in vars(record).items() if k not in _STANDARD_FIELDS}
        message = record.getMessage()
        if not fields:
            return message
        return message + " " + " ".join(f"{key}={value}" for key, value in fields.items())


_consoles: dict[int, Console] = {}


def terminal_console(stream: TextIO) -> Console:
    """One console per stream, shared by log lines and the progress display, so that log
    lines print above the progress lines instead of through them."""
    return _consoles.setdefault(id(stream), Console(file=stream))


def configure_logging(level: str, stream: TextIO | None = None) -> None:
    stream = stream or sys.stderr
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler: logging.Handler
    if stream.isatty():
        handler = RichHandler(
            console=terminal_console(stream), show_path=False, rich_tracebacks=False, markup=False
        )
        handler.setFormatter(_MessageWithFields())
    else:
        handler = logging.StreamHandler(stream)
        handler.setFormatter(
            JsonFormatter(
                "{asctime}{levelname}{name}{message}",
                style="{",
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            )
        )
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in LIBRARY_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
