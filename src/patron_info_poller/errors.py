"""Error tiers. Callers decide by tier, never by message text.

Messages carry counts, stream names and obfuscated ids only: never a plaintext patron
id, address part, salt or password. Raise with `from exc` so the cause stays chained.
"""

import traceback
from pathlib import Path


class PollerError(Exception):
    """Base of every error the poller raises on purpose."""

    exit_code = 1


class FatalError(PollerError):
    """The run cannot go on: the state is left at the last fully sent batch."""


class ConfigurationError(FatalError):
    """Configuration is missing or malformed; raised before any work is done."""

    exit_code = 2


class StateError(FatalError):
    """The cursor state in S3 is unreadable, corrupt or has unknown keys."""

    exit_code = 3


class RunInProgressError(FatalError):
    """Another run holds the run lock: this one did nothing and changed nothing."""

    exit_code = 5


class StateConflictError(RunInProgressError):
    """A conditional state write lost to another writer; nothing was overwritten."""


class RetriableError(PollerError):
    """A transient failure (5xx, throttling, a dropped connection) worth another try."""


class RetriesExhaustedError(FatalError):
    """A retriable failure that kept happening past its bounded number of tries."""

    exit_code = 4


class GeocoderUnavailableError(RetriesExhaustedError):
    """The Census geocoder stayed down for a batch, even after splitting it."""


class KinesisSendError(RetriesExhaustedError):
    """Some records could not be put on the Kinesis stream within the allowed tries."""


class SourceUnavailableError(RetriesExhaustedError):
    """Sierra or the warehouse could not be reached or queried."""


class SkippedRow(PollerError):
    """One row cannot be turned into a record; it is counted with its reason.

    `reason` must be a fixed phrase (e.g. "ptype_code out of range"), never row data.
    """

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class RunInterrupted(PollerError):
    """SIGTERM or SIGINT: the run stopped between batches; the state is consistent."""

    def __init__(self, message: str, signal_number: int):
        super().__init__(message)
        self.exit_code = 128 + signal_number


class TigerSourceError(FatalError):
    """A TIGER/Line county file could not be downloaded or read (named in the message)."""


def unexpected(exc: BaseException) -> str:
    """An unexpected error's message may quote a value: name only its type and place."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = f"{Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else "unknown place"
    return f"unexpected {type(exc).__name__} at {where}"
