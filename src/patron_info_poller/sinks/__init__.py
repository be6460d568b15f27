"""Where encoded PatronInfo records go: the Kinesis stream (`kinesis.py`), the one that
feeds the warehouse, or a file for dry runs. A file sink never moves the live state.

Every sink takes the same thing: records already Avro-encoded, one datum each, with the
partition key Kinesis would use (the obfuscated patron_id).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class EncodedRecord:
    partition_key: str  # the obfuscated patron_id
    data: bytes  # one schemaless Avro datum

    @property
    def size(self) -> int:
        return len(self.data) + len(self.partition_key.encode())


class RecordSink(Protocol):
    records_retried: int  # resent after a partial failure, over the sink's lifetime

    def send(self, records: Sequence[EncodedRecord]) -> int:
        """Delivers every record or raises; returns how many were delivered."""
        ...

    def close(self) -> None:
        """The run succeeded: keep what was delivered."""
        ...

    def abort(self) -> None:
        """The run failed: a file sink leaves no file; Kinesis cannot take records back."""
        ...
