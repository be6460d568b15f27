"""Where the cursors live between runs: a JSON object in S3, or memory (IGNORE_CACHE).

The JSON keeps the deployed poller's keys (`creation_dt`, `update_dt`, `deletion_date`),
which the old poller still reads, and adds per stream the id of the last row read
(`creation_id`, `update_id`, `deletion_id`) and `caught_up_as_of`: the frozen bound up to
which a run drained each stream. Those ids are patron identifiers, so they are stored
sealed (sealed_ids.py); plaintext ids written by the previous version are still read.

Every S3 write is conditional on the version that was read (If-Match on its ETag, or
If-None-Match: * when there was none), so a writer that lost a race fails instead of
overwriting the winner.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from ..aws_errors import CONDITION_FAILED_CODES, NOT_FOUND_CODES, error_code, http_status
from ..cursor import Cursor
from ..errors import RetriesExhaustedError, StateConflictError, StateError
from ..streams import ALL_STREAMS, DELETED, NEW, UPDATED, StreamSpec
from .sealed_ids import IdSealer, UnsealableId, is_sealed

CAUGHT_UP_KEY = "caught_up_as_of"
KNOWN_KEYS = frozenset(
    key for spec in ALL_STREAMS for key in (spec.state_value_key, spec.state_id_key)
) | {CAUGHT_UP_KEY}


@dataclass(frozen=True)
class PollerState:
    new: Cursor
    updated: Cursor
    deleted: Cursor
    # Stream name -> the run's frozen upper bound, when that run drained the stream to it.
    caught_up_as_of: dict[str, datetime] = field(default_factory=dict)

    @classmethod
    def starting_at(cls, creation: datetime, update: datetime, deletion: date) -> PollerState:
        return cls(Cursor(creation), Cursor(update), Cursor(deletion))

    def cursor(self, stream: StreamSpec) -> Cursor:
        return getattr(self, stream.name)

    def with_cursor(self, stream: StreamSpec, cursor: Cursor) -> PollerState:
        return replace(self, **{stream.name: cursor})

    def with_caught_up(self, stream: StreamSpec, as_of: datetime) -> PollerState:
        return replace(self, caught_up_as_of={**self.caught_up_as_of, stream.name: as_of})

    def to_json(self, sealer: IdSealer) -> dict[str, Any]:
        document: dict[str, Any] = {}
        for spec in ALL_STREAMS:
            cursor = self.cursor(spec)
            document[spec.state_value_key] = cursor.value.isoformat()
            document[spec.state_id_key] = (
                None if cursor.last_id is None else sealer.seal(cursor.last_id, spec.state_id_key)
            )
        document[CAUGHT_UP_KEY] = {
            name: moment.isoformat() for name, moment in sorted(self.caught_up_as_of.items())
        }
        return document

    @classmethod
    def from_json(cls, document: Any, sealer: IdSealer) -> PollerState:
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
            try:
                cursors[spec.name] = Cursor(value, _record_id(last_id, spec, sealer))
            except (StateError, UnsealableId) as exc:
                problems.append(str(exc))
        caught_up = _caught_up(document.get(CAUGHT_UP_KEY), problems)
        if problems:
            raise StateError("state is corrupt: " + "; ".join(problems))
        return cls(**cursors, caught_up_as_of=caught_up)

    def describe(self) -> dict[str, Any]:
        """What `state show` prints: never an id, only whether one is set."""
        return {
            spec.name: {
                "cursor": self.cursor(spec).value.isoformat(),
                "id_set": self.cursor(spec).last_id is not None,
                "caught_up_as_of": (
                    self.caught_up_as_of[spec.name].isoformat()
                    if spec.name in self.caught_up_as_of
                    else None
                ),
            }
            for spec in ALL_STREAMS
        }


def _record_id(value: Any, spec: StreamSpec, sealer: IdSealer) -> int | None:
    if value is None:
        return None
    if is_sealed(value):
        return sealer.open(value, spec.state_id_key)
    # The previous version wrote plaintext ids; they are read, and sealed on the next write.
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise StateError(f"{spec.state_id_key} is neither a sealed id nor an integer")


def _caught_up(value: Any, problems: list[str]) -> dict[str, datetime]:
    if value is None:
        return {}
    names = {spec.name for spec in ALL_STREAMS}
    if not isinstance(value, dict) or not set(value) <= names:
        problems.append(f"{CAUGHT_UP_KEY} must map stream names to ISO 8601 timestamps")
        return {}
    caught_up = {}
    for name, text in value.items():
        try:
            moment = datetime.fromisoformat(text) if isinstance(text, str) else None
        except ValueError:
            moment = None
        if moment is None or moment.tzinfo is None:
            problems.append(f"{CAUGHT_UP_KEY}.{name} is not an ISO 8601 timestamp with offset")
        else:
            caught_up[name] = moment
    return caught_up


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
    """The state object; remembers the ETag it read so its writes are conditional."""

    def __init__(self, s3_client: Any, bucket: str, key: str, sealer: IdSealer):
        self._s3 = s3_client
        self._bucket = bucket
        self._key = key
        self._sealer = sealer
        self._etag: str | None = None  # of the version read or last written; None: absent
        self.location = f"s3://{bucket}/{key}"

    def load(self) -> PollerState | None:
        body = self.read_bytes()
        return None if body is None else self.parse(body)

    def parse(self, body: bytes) -> PollerState:
        try:
            document = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise StateError(f"the state at {self.location} is not JSON") from None
        return PollerState.from_json(document, self._sealer)

    def read_bytes(self) -> bytes | None:
        """The object as stored (None when absent); later writes are conditional on it."""
        try:
            response = self._s3.get_object(Bucket=self._bucket, Key=self._key)
            body = response["Body"].read()
        except ClientError as exc:
            if error_code(exc) in NOT_FOUND_CODES:
                self._etag = None
                return None
            if http_status(exc) >= 500:
                raise RetriesExhaustedError(
                    f"S3 kept failing to read the state at {self.location}: {error_code(exc)}"
                ) from exc
            raise StateError(
                f"cannot read the state at {self.location}: {error_code(exc)}"
            ) from exc
        except BotoCoreError as exc:
            # botocore has already retried; S3 is unreachable, the state is not at fault.
            raise RetriesExhaustedError(
                f"cannot reach S3 to read the state at {self.location}: {type(exc).__name__}"
            ) from exc
        self._etag = response["ETag"]
        return body

    def save(self, state: PollerState) -> None:
        body = json.dumps(state.to_json(self._sealer), sort_keys=True).encode()
        self._etag = self._put(self._key, body, self._etag)

    def keep_previous(self, body: bytes) -> str:
        """Writes `body` (the state as read) to `<key>.previous`; returns where."""
        key = f"{self._key}.previous"
        try:
            self._s3.put_object(
                Bucket=self._bucket, Key=key, Body=body, ContentType="application/json"
            )
        except (ClientError, BotoCoreError) as exc:
            raise RetriesExhaustedError(
                f"could not keep the previous state at s3://{self._bucket}/{key} "
                f"({error_code(exc)}); nothing was changed"
            ) from exc
        return f"s3://{self._bucket}/{key}"

    def _put(self, key: str, body: bytes, expected_etag: str | None) -> str:
        condition = {"IfMatch": expected_etag} if expected_etag else {"IfNoneMatch": "*"}
        try:
            response = self._s3.put_object(
                Bucket=self._bucket,
                Key=key,
                Body=body,
                ContentType="application/json",
                **condition,
            )
        except ClientError as exc:
            if error_code(exc) in CONDITION_FAILED_CODES:
                raise StateConflictError(
                    f"the state at {self.location} was changed by another writer since this "
                    "run read it; nothing was overwritten (was another run or `state set` "
                    "active?). The next run resumes from the other writer's state"
                ) from exc
            raise RetriesExhaustedError(
                f"could not write the state to {self.location} after a sent batch "
                f"({error_code(exc)}); the next run resends that batch"
            ) from exc
        except BotoCoreError as exc:
            raise RetriesExhaustedError(
                f"could not write the state to {self.location} after a sent batch "
                f"({type(exc).__name__}); the next run resends that batch"
            ) from exc
        return response["ETag"]
