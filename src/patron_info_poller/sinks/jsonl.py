"""A dry run's records as JSON lines: one PatronInfo record per line, its keys in the
schema's field order, nulls written as null. For reading by eye or with `jq`.

The file appears whole when the sink is closed, or not at all (see `files.py`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .files import FileSink


class JsonLinesSink(FileSink):
    def __init__(self, path: Path, schema: dict[str, Any]):
        self._fields = tuple(field["name"] for field in schema["fields"])
        super().__init__(path, schema)

    def _write(self, records: list[dict[str, Any]]) -> None:
        lines = [
            json.dumps({name: record.get(name) for name in self._fields}, ensure_ascii=False)
            for record in records
        ]
        self._handle.write("".join(f"{line}\n" for line in lines).encode("utf-8"))
