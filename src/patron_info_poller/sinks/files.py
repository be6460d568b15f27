"""What the dry-run file sinks share: each record's datum decoded with the schema, and a
file that appears whole or not at all.

Records are written to a hidden partial file beside the target,
`.<name>.<random>.partial`, and `close()` renames it onto the target (replacing an older
file at once). The partial file is removed instead, and the target left as it was
(absent, or the previous file), when:

- `abort()` is called (the run failed elsewhere: the caller knows, the sink does not);
- a `with` block around the sink is left by an exception;
- `close()` follows a `send()` that raised (the file would miss records).

Only a process killed outright (SIGKILL, or `os._exit` before `abort()`) can leave the
hidden partial file behind; it never leaves a half-written target.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import threading
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import fastavro

from ..decoding import decode_datum
from ..errors import ConfigurationError, FatalError
from . import EncodedRecord

logger = logging.getLogger(__name__)


class FileSink:
    """Base of AvroFileSink and JsonLinesSink: a RecordSink with `abort()` and `with`."""

    def __init__(self, path: Path, schema: dict[str, Any]):
        self.path = Path(path)
        self.records_written = 0
        self.records_retried = 0  # a file write is all or nothing: nothing is ever resent
        self._schema = schema
        self._parsed = fastavro.parse_schema(schema)
        self._lock = threading.Lock()
        self._state = "open"  # then "failed" (a send raised), "closed" or "aborted"
        self._partial, self._handle = _create_partial(self.path)
        try:
            self._start(self._handle)
        except BaseException:
            self._discard()
            raise

    # What a kind of file writes; records arrive decoded, in the order sent.
    def _start(self, handle: IO[bytes]) -> None:
        """Writes the file's header, if it has one."""

    def _write(self, records: list[dict[str, Any]]) -> None:
        raise NotImplementedError

    def _finish(self) -> None:
        """Writes whatever the kind of file still buffers."""

    def send(self, records: Sequence[EncodedRecord]) -> int:
        """Writes every record or raises FatalError; returns the number written."""
        with self._lock:
            if self._state != "open":
                raise RuntimeError(f"send() on a file sink that is {self._state}")
            try:
                self._write([decode_datum(self._parsed, record.data) for record in records])
            except OSError as exc:
                self._state = "failed"
                raise FatalError(f"cannot write {self._partial} ({exc.strerror})") from exc
            except BaseException:
                self._state = "failed"
                raise
            self.records_written += len(records)
        return len(records)

    def close(self) -> None:
        """Finishes the file and moves it onto the target. After a failed send(), removes
        the partial file instead. A second call does nothing."""
        with self._lock:
            if self._state == "failed":
                logger.warning(
                    "A send to the file failed; the partial file is removed",
                    extra={"path": str(self.path)},
                )
                self._discard()
                return
            if self._state != "open":
                return
            try:
                self._finish()
                self._handle.flush()
                os.fsync(self._handle.fileno())
                self._handle.close()
                os.replace(self._partial, self.path)
            except OSError as exc:
                self._discard()
                raise FatalError(f"cannot write {self.path} ({exc.strerror})") from exc
            except BaseException:
                self._discard()
                raise
            self._state = "closed"

    def abort(self) -> None:
        """Removes the partial file; the target stays as it was. Does nothing once closed."""
        with self._lock:
            if self._state != "closed":
                self._discard()

    def _discard(self) -> None:
        self._state = "aborted"
        # A flush that fails on a file about to be removed changes nothing.
        with contextlib.suppress(OSError):
            self._handle.close()
        self._partial.unlink(missing_ok=True)

    def __enter__(self) -> FileSink:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r})"


def _create_partial(target: Path) -> tuple[Path, IO[bytes]]:
    """A new hidden file beside the target, created with the umask's permissions (as the
    target would be), never one that already exists."""
    if target.is_dir():
        raise ConfigurationError(f"{target} is a directory, not a file to write")
    folder = target.parent
    if not folder.is_dir():
        raise ConfigurationError(f"{folder} does not exist: no file can be written in it")
    while True:
        partial = folder / f".{target.name}.{secrets.token_hex(4)}.partial"
        try:
            descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        except OSError as exc:
            raise ConfigurationError(f"cannot write in {folder} ({exc.strerror})") from exc
        return partial, os.fdopen(descriptor, "wb")
