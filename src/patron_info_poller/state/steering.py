"""Steering the live state by hand, safely: what `state show` and `state set` do.

`state set` validates the new cursor, keeps the state as it was at `<S3_RESOURCE>.previous`,
and writes conditionally under the run lock, so it can never race a run. Moving a cursor
back resends that window (harmless: the warehouse upserts by patron_id); moving it forward
past the caught-up time skips changes for good, so that needs `force`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from ..cursor import Cursor
from ..errors import ConfigurationError
from ..streams import StreamSpec
from .store import PollerState, S3StateStore


@dataclass(frozen=True)
class CursorChange:
    stream: StreamSpec
    before: Cursor
    after: Cursor
    caught_up_as_of: datetime | None

    @property
    def moves_back(self) -> bool:
        return _instant(self.after.value) < _instant(self.before.value)

    @property
    def skips_changes(self) -> bool:
        """Forward past what was delivered: the changes in between would never be sent."""
        delivered_up_to = self.caught_up_as_of or _instant(self.before.value)
        return _instant(self.after.value) > delivered_up_to

    def describe(self) -> str:
        return (
            f"{self.stream.name} stream: cursor {self.before.value.isoformat()} -> "
            f"{self.after.value.isoformat()}"
        )


def show(store: S3StateStore) -> dict[str, object]:
    """The state as `state show` prints it: timestamps and flags, never an id."""
    state = store.load()
    return {
        "location": store.location,
        "exists": state is not None,
        "streams": state.describe() if state is not None else None,
    }


def parse_instant(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ConfigurationError(
            f"{text!r} is not an ISO 8601 timestamp, e.g. 2026-11-30T00:00:00-05:00"
        ) from None
    if moment.tzinfo is None:
        raise ConfigurationError(f"{text!r} needs a UTC offset, e.g. 2026-11-30T00:00:00-05:00")
    return moment


def plan_change(
    state: PollerState, stream: StreamSpec, at: datetime, now: datetime
) -> CursorChange:
    if at > now:
        raise ConfigurationError(f"{at.isoformat()} is in the future; a cursor cannot be there")
    value: datetime | date = at.astimezone(UTC).date() if stream.cursor_is_date else at
    # No id: "from this instant, inclusive", as a state written by the old poller means.
    return CursorChange(
        stream, state.cursor(stream), Cursor(value), state.caught_up_as_of.get(stream.name)
    )


def apply_change(
    store: S3StateStore, read: bytes | None, state: PollerState, change: CursorChange
) -> str | None:
    """Keeps the state as read at `<key>.previous`, then writes the changed state,
    conditionally on the version read. Returns where the previous state was kept."""
    kept = store.keep_previous(read) if read is not None else None
    store.save(state.with_cursor(change.stream, change.after))
    return kept


def _instant(value: datetime | date) -> datetime:
    if isinstance(value, datetime):
        return value
    return datetime(value.year, value.month, value.day, tzinfo=UTC)
