"""Where the cursors live between runs: a JSON object in S3, or memory (IGNORE_CACHE).

The JSON keeps the deployed poller's keys (`creation_dt`, `update_dt`, `deletion_date`)
and adds the id of the last row read per stream (`creation_id`, `update_id`,
`deletion_id`). Those ids are patron identifiers: never logged.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from .cursor import Cursor
from .errors import RetriesExhaustedError, StateError
from .streams import ALL_STREAMS, DELETED, NEW, UPDATED, StreamSpec

KNOWN_KEYS = frozenset(
    key for spec in ALL_STREAMS for key in (spec.state_value_key, spec.state_id_key)
)


@dataclass(frozen=True)
class PollerState:
    new: Cursor
    updated: Cursor
    deleted: Cursor

    @classmethod
    def starting_at(cls, creation: datetime, update: datetime, deletion: date) -> PollerState:
        return cls(Cursor(creation), Cursor(update), Cursor(deletion))

    def cursor(self, stream: StreamSpec) -> Cursor:
        return getattr(self, stream.name)

    def with_cursor(self, stream: StreamSpec, cursor: Cursor) -> PollerState:
        return replace(self, **{stream.name: cursor})

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {}
        for spec in ALL_STREAMS:
            cursor = self.cursor(spec)
            document[spec.state_value_key] = cursor.value.isoformat()
            document[spec.state_id_key] = cursor.last_id
        return document

    @classmethod
    def from_json(cls, document: Any) -> PollerState:
        if not isinstance(document, dict):
            raise StateError("state is not a JSON object")
        unknown = sorted(set(document) - KNOWN_KEYS)
        if unknown:
            raise StateError(f"state has unknown keys: {', '.join(unknown)}")
        cursors = {}
        problems = []
        for spec in (NEW, UPDATED, DELETED):
            text, last_id = document.get(spec.state_value_key), document.get(spec.state_id_key)
            try:
                if not isinstance(text, str):
                    raise ValueError
                value = spec.parse_value(text)
            except ValueError:
                problems.append(f"{spec.state_value_key} is missing or not an ISO 8601 value")
                continue
            if last_id is not None and (isinstance(last_id, bool) or not isinstance(last_id, int)):
                problems.append(f"{spec.state_id_key} is not an integer")
                continue
            cursors[spec.name] = Cursor(value, last_id)
        if problems:
            raise StateError("state is corrupt: " + "; ".join(problems))
        return cls(**cursors)


class StateStore(Protocol):
    location: str

    def load(self) -> PollerState | None: ...

    def save(self, state: PollerState) -> None: ...


class MemoryStateStore:
    location = "memory"

    def __init__(self, initial: PollerState | None = None):
        self.state = initial

    def load(self) -> PollerState | None:
        return self.state

    def save(self, state: PollerState) -> None:
        self.state = state


class S3StateStore:
    def __init__(self, s3_client: Any, bucket: str, key: str):
        self._s3 = s3_client
        self._bucket = bucket
        self._key = key
        self.location = f"s3://{bucket}/{key}"

    def load(self) -> PollerState | None:
        try:
            body = self._s3.get_object(Bucket=self._bucket, Key=self._key)["Body"].read()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            if exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) >= 500:
                raise RetriesExhaustedError(
                    f"S3 kept failing to read the state at {self.location}: {_code(exc)}"
                ) from exc
            raise StateError(f"cannot read the state at {self.location}: {_code(exc)}") from exc
        except BotoCoreError as exc:
            # botocore has already retried; S3 is unreachable, the state is not at fault.
            raise RetriesExhaustedError(
                f"cannot reach S3 to read the state at {self.location}: {type(exc).__name__}"
            ) from exc
        try:
            document = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise StateError(f"the state at {self.location} is not JSON") from None
        return PollerState.from_json(document)

    def save(self, state: PollerState) -> None:
        body = json.dumps(state.to_json(), sort_keys=True).encode()
        try:
            self._s3.put_object(
                Bucket=self._bucket, Key=self._key, Body=body, ContentType="application/json"
            )
        except (ClientError, BotoCoreError) as exc:
            raise RetriesExhaustedError(
                f"could not write the state to {self.location} after a sent batch "
                f"({_code(exc)}); the next run resends that batch"
            ) from exc


def _code(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        return exc.response.get("Error", {}).get("Code", "ClientError")
    return type(exc).__name__
