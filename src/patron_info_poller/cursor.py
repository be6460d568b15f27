"""The keyset cursor: pure logic, no I/O.

A cursor is the (stream column value, record id) of the last row read. The next batch
starts strictly after it, so any number of patrons sharing one timestamp are paged
through without stalling or repeating. A cursor without an id (a state written by the
old poller) means "from this value, inclusive".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import TypeAlias

CursorValue: TypeAlias = datetime | date


@dataclass(frozen=True)
class Cursor:
    value: CursorValue
    last_id: int | None = field(default=None, repr=False)  # a patron identifier

    def admits(self, value: CursorValue, record_id: int) -> bool:
        """True when a row at (value, record_id) lies after this cursor."""
        if self.last_id is None:
            return value >= self.value
        return (value, record_id) > (self.value, self.last_id)

    def sql_lower_bound(self) -> tuple[CursorValue, int]:
        # Sierra record ids are positive, so -1 sorts before every id at `value`: the
        # inclusive start of an id-less cursor becomes one row-value comparison.
        return self.value, -1 if self.last_id is None else self.last_id


@dataclass(frozen=True)
class CursorWindow:
    """The rows one run of a stream read: after `start`, up to and including `end`."""

    start: Cursor
    end: Cursor

    def contains(self, value: CursorValue | None, record_id: int) -> bool:
        if value is None or self.end.last_id is None:
            return False  # nothing was read: `end` is still an id-less start
        return self.start.admits(value, record_id) and (value, record_id) <= (
            self.end.value,
            self.end.last_id,
        )


@dataclass(frozen=True)
class RunBounds:
    """The run's frozen "now": rows at or after it wait for the next run."""

    timestamp_upper: datetime
    deletion_date_upper: date

    @classmethod
    def from_sierra_clock(cls, sierra_now: datetime, commit_lag: timedelta) -> RunBounds:
        # Sierra's clock, not the host's: host skew cannot move the bound. The lag leaves
        # room for a transaction that commits late with an earlier timestamp.
        upper = sierra_now - commit_lag
        # deletion_date_gmt is a date: only days that are over are complete.
        return cls(upper, upper.astimezone(UTC).date())

    def capped_at(self, until: datetime) -> RunBounds:
        """These bounds, ending earlier if `until` is earlier (a replay's window)."""
        return RunBounds(
            min(self.timestamp_upper, until),
            min(self.deletion_date_upper, until.astimezone(UTC).date()),
        )

    def upper_instant(self, is_date: bool) -> datetime:
        """The bound as an instant: a date bound is its midnight, UTC."""
        if is_date:
            return datetime.combine(self.deletion_date_upper, time(), UTC)
        return self.timestamp_upper
