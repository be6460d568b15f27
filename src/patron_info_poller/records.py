"""Builds PatronInfo records from Sierra rows: pure functions, no I/O.

Field rules per stream are in the README's table; "warehouse" below means the
warehouse's row for this patron (a dict of the record's fields) or None.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from .databases.sierra import PatronRow
from .errors import SkippedRow

EASTERN = ZoneInfo("America/New_York")
# The PatronInfo record's fields; the warehouse table has a column of each name.
PATRON_INFO_FIELDS = (
    "patron_id",
    "address_hash",
    "postal_code",
    "geoid",
    "creation_date_et",
    "deletion_date_et",
    "circ_active_date_et",
    "ptype_code",
    "pcode3",
    "patron_home_library_code",
    "initial_patron_home_library_code",
)
AVRO_INT_RANGE = range(-(2**31), 2**31)

Record = dict[str, Any]


def et_date(timestamp: datetime | None) -> str | None:
    """`YYYY-MM-DD` of the instant in New York (DST-aware)."""
    if timestamp is None:
        return None
    try:
        return timestamp.astimezone(EASTERN).date().isoformat()
    except OverflowError:
        # Within hours of year 1 or 9999 New York time does not exist; the UTC date does.
        return timestamp.date().isoformat()


def clean(value: str | None) -> str | None:
    """Trimmed text, or None when nothing is left."""
    if value is None:
        return None
    value = value.strip()
    return value or None


def postal_code(value: str | None) -> str | None:
    cleaned = clean(value)
    return cleaned[:5] if cleaned else None


def home_library_code(value: str | None) -> str | None:
    cleaned = clean(value)
    return None if cleaned is None or cleaned.lower() == "none" else cleaned


def address_hash_input(row: PatronRow) -> str:
    a = row.address
    return f"{row.record_id}_{a.addr1}_{a.city}_{a.region}_{a.postal_code}"


def _avro_int(value: int | None, name: str) -> int | None:
    if value is not None and value not in AVRO_INT_RANGE:
        raise SkippedRow(f"{name} outside the Avro int range")
    return value


def active_record(
    row: PatronRow,
    patron_id: str,
    address_hash: str,
    geoid: str | None,
    warehouse_by_hash: Record | None = None,
    warehouse_by_id: Record | None = None,
) -> Record:
    """A new or updated patron. For a new patron, pass no warehouse rows."""
    current_library = home_library_code(row.home_library_code)
    initial_library = None
    for known in (warehouse_by_hash, warehouse_by_id):
        if known is not None and known.get("initial_patron_home_library_code"):
            initial_library = known["initial_patron_home_library_code"]
            break
    return {
        "patron_id": patron_id,
        "address_hash": address_hash,
        "postal_code": postal_code(row.address.postal_code),
        # A known address keeps the warehouse's geoid, even a null one.
        "geoid": warehouse_by_hash["geoid"] if warehouse_by_hash is not None else geoid,
        "creation_date_et": et_date(row.creation_date_gmt),
        "deletion_date_et": None,
        "circ_active_date_et": et_date(row.activity_gmt),
        "ptype_code": _avro_int(row.ptype_code, "ptype_code"),
        "pcode3": _avro_int(row.pcode3, "pcode3"),
        "patron_home_library_code": current_library,
        "initial_patron_home_library_code": initial_library or current_library,
    }


def deleted_record(row: PatronRow, patron_id: str, warehouse: Record | None) -> Record:
    deletion: date | None = row.deletion_date_gmt
    known = warehouse or {}
    return {
        "patron_id": patron_id,
        "address_hash": known.get("address_hash"),
        "postal_code": known.get("postal_code"),
        "geoid": known.get("geoid"),
        "creation_date_et": known.get("creation_date_et") or et_date(row.creation_date_gmt),
        "deletion_date_et": deletion.isoformat() if deletion else None,
        "circ_active_date_et": known.get("circ_active_date_et"),
        "ptype_code": known.get("ptype_code"),
        "pcode3": known.get("pcode3"),
        "patron_home_library_code": known.get("patron_home_library_code"),
        "initial_patron_home_library_code": known.get("initial_patron_home_library_code"),
    }
