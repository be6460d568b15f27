"""The three change streams, declared once: one shape, three declarations."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime


@dataclass(frozen=True)
class StreamSpec:
    name: str
    # A constant column of sierra_view.record_metadata, never user input.
    cursor_column: str
    state_value_key: str
    state_id_key: str
    cursor_is_date: bool
    # New and updated patrons are the ones not deleted; the deleted stream owns those.
    takes_deleted: bool

    def parse_value(self, text: str) -> datetime | date:
        if self.cursor_is_date:
            return date.fromisoformat(text[:10])
        value = datetime.fromisoformat(text)
        if value.tzinfo is None:
            raise ValueError("timestamp without a UTC offset")
        return value


NEW = StreamSpec("new", "creation_date_gmt", "creation_dt", "creation_id", False, False)
UPDATED = StreamSpec("updated", "record_last_updated_gmt", "update_dt", "update_id", False, False)
DELETED = StreamSpec("deleted", "deletion_date_gmt", "deletion_date", "deletion_id", True, True)

ALL_STREAMS = (NEW, UPDATED, DELETED)
