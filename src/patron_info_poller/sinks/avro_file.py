"""A dry run's records in an Avro object container file: the schema in its header, the
records in deflate-compressed blocks. `fastavro.reader`, `avro-tools tojson` or
`patron-info-poller decode FILE.avro` read it back.

The file appears whole when the sink is closed, or not at all (see `files.py`).
"""

from __future__ import annotations

from pathlib import Path
from typing import IO, Any

from fastavro.write import Writer

from .files import FileSink

CODEC = "deflate"


class AvroFileSink(FileSink):
    def __init__(self, path: Path, schema: dict[str, Any]):
        self._writer: Writer | None = None
        super().__init__(path, schema)

    def _start(self, handle: IO[bytes]) -> None:
        self._writer = Writer(handle, self._parsed, codec=CODEC)  # writes the header

    def _write(self, records: list[dict[str, Any]]) -> None:
        assert self._writer is not None
        for record in records:
            self._writer.write(record)

    def _finish(self) -> None:
        assert self._writer is not None
        self._writer.flush()  # the last block
