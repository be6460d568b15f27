"""Synthetic Sierra patrons: realistic rows for sierra_view's record_metadata, patron_view
and patron_record_address, with the trouble real patron data has (odd spellings, jammed or
empty addresses, unicode, shared creation instants), written with COPY.

Everything is drawn from one random.Random(seed), so a seed and a sequence of calls give
the same rows. The rows are synthetic but are still never logged."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import NamedTuple

import psycopg
from psycopg import sql

from .synthetic_addresses import AddressMaker, Weighted

# Sierra packs the record type into an id's high bits: a patron's id is ord('p') << 32
# plus its record number (481036337152 + record_num).
RECORD_ID_BASE = {code: ord(code) << 32 for code in "biop"}
FIRST_RECORD_NUM = 1_000_000
LAST_RECORD_NUM = 9_999_999
# (display_order, patron_record_address_type_id) of a patron's addresses; type 1 is
# Sierra's primary ('a') address, 2 the alternate ('h').
ADDRESS_SLOTS = ((0, 1), (0, 2), (1, 1), (1, 2), (2, 1))

UpdateTime = datetime | Callable[[int], datetime]


class RecordMetadataRow(NamedTuple):
    id: int
    record_type_code: str
    record_num: int
    creation_date_gmt: datetime
    deletion_date_gmt: date | None
    campus_code: str
    agency_code_num: int
    num_revisions: int
    record_last_updated_gmt: datetime
    previous_last_updated_gmt: datetime | None


class PatronRow(NamedTuple):
    id: int
    record_type_code: str
    record_num: int
    barcode: str | None
    ptype_code: int | None
    home_library_code: str | None
    expiration_date_gmt: datetime | None
    pcode1: str | None
    pcode2: str | None
    pcode3: int | None
    pcode4: int | None
    activity_gmt: datetime | None
    birth_date_gmt: date | None
    record_creation_date_gmt: datetime


class AddressRow(NamedTuple):
    id: int
    patron_record_id: int
    patron_record_address_type_id: int
    display_order: int
    addr1: str | None
    addr2: str | None
    addr3: str | None
    village: str | None
    city: str | None
    region: str | None
    postal_code: str | None
    country: str | None


@dataclass
class SierraRows:
    record_metadata: list[RecordMetadataRow] = field(default_factory=list)
    patrons: list[PatronRow] = field(default_factory=list)
    addresses: list[AddressRow] = field(default_factory=list)


PTYPE_CODES = Weighted(
    (10, 55), (2, 10), (3, 10), (7, 8), (81, 7), (83, 5), (6, 2), (78, 2), (120, 1),
)  # fmt: skip
PCODE3_VALUES = Weighted[int | None](
    (1, 25), (2, 20), (3, 15), (4, 12), (5, 8), (0, 8), (None, 12),
)  # fmt: skip
HOME_LIBRARY_CODES = Weighted[str | None](
    ("sasb", 14), ("mu", 12), ("hp", 10), ("bc", 9), ("ea", 8), ("lm", 8), ("sn", 7),
    ("gd", 6), ("jm", 6), ("ml", 5), ("tg", 4), ("wb", 3), ("", 3), ("none", 2),
    (None, 3), (" hp", 1), ("mu ", 1), (" bc ", 1),
)  # fmt: skip
PCODE1_VALUES = Weighted(("-", 80), ("a", 10), ("s", 10))
PCODE2_VALUES = Weighted[str | None](("-", 85), ("b", 10), (None, 5))
PCODE4_VALUES = Weighted[int | None]((0, 90), (1, 5), (None, 5))
REVISIONS = Weighted(
    ("ptype", 25), ("library", 25), ("pcode3", 15), ("activity", 25), ("renewal", 10)
)
ADDRESS_COUNTS = Weighted((0, 4), (1, 86), (2, 8), (3, 2))
NEW_ADDRESS_COUNTS = Weighted((1, 90), (2, 8), (3, 2))


class SyntheticSierra:
    """Generates and writes synthetic Sierra patrons; `generate` is pure, the rest write."""

    def __init__(self, seed: int = 0):
        self.rng = random.Random(seed)
        self._addresses = AddressMaker(self.rng)
        self._barcodes: set[str] = set()

    def generate(
        self,
        count: int,
        *,
        start: datetime,
        end: datetime,
        first_record_num: int = FIRST_RECORD_NUM,
        first_address_id: int = 1,
        same_instant_groups: int = 1,
        same_instant_size: int = 300,
    ) -> SierraRows:
        """`count` new patrons created in [start, end), in creation order. Up to
        `same_instant_groups` groups of `same_instant_size` share one creation instant."""
        if first_record_num + count - 1 > LAST_RECORD_NUM:
            raise ValueError("record numbers would exceed 7 digits")
        creations = self._creation_times(
            count, _utc(start), _utc(end), same_instant_groups, same_instant_size
        )
        record_nums = self._record_nums(first_record_num, count)
        rows = SierraRows()
        next_address_id = first_address_id
        for created, record_num in zip(creations, record_nums, strict=True):
            record = _new_record("p", record_num, created)
            rows.record_metadata.append(record)
            rows.patrons.append(self._patron(record.id, record_num, created, _utc(end)))
            addresses = self._patron_addresses(record.id, next_address_id)
            next_address_id += len(addresses)
            rows.addresses.extend(addresses)
        return rows

    def create_patrons(
        self,
        conn: psycopg.Connection,
        count: int,
        *,
        start: datetime,
        end: datetime,
        same_instant_groups: int = 1,
        same_instant_size: int = 300,
    ) -> list[int]:
        """Inserts `count` new patrons in one transaction; returns their record ids."""
        with conn.transaction():
            first_record_num, first_address_id = _next_ids(conn, "p")
            rows = self.generate(
                count,
                start=start,
                end=end,
                first_record_num=first_record_num,
                first_address_id=first_address_id,
                same_instant_groups=same_instant_groups,
                same_instant_size=same_instant_size,
            )
            _copy(conn, _sierra("record_metadata"), RecordMetadataRow._fields, rows.record_metadata)
            _copy(conn, _sierra("patron_view"), PatronRow._fields, rows.patrons)
            _copy(conn, _sierra("patron_record_address"), AddressRow._fields, rows.addresses)
        return [row.id for row in rows.record_metadata]

    def create_other_records(
        self,
        conn: psycopg.Connection,
        count: int,
        *,
        start: datetime,
        end: datetime,
        record_type_codes: str = "bio",
    ) -> list[int]:
        """Bib, item and order records: record_metadata holds every record type, so a
        poller that forgets `record_type_code = 'p'` picks these up."""
        rows: list[RecordMetadataRow] = []
        with conn.transaction():
            for index, code in enumerate(record_type_codes):
                first_record_num, _ = _next_ids(conn, code)
                n = count // len(record_type_codes) + (index < count % len(record_type_codes))
                creations = self._creation_times(n, _utc(start), _utc(end), 0, 0)
                rows.extend(
                    _new_record(code, first_record_num + offset, created)
                    for offset, created in enumerate(creations)
                )
            _copy(conn, _sierra("record_metadata"), RecordMetadataRow._fields, rows)
        return [row.id for row in rows]

    def update_patrons(
        self,
        conn: psycopg.Connection,
        ids: Sequence[int],
        at: UpdateTime,
        *,
        change_address_fraction: float = 0.5,
    ) -> None:
        """Bumps record_last_updated_gmt (num_revisions, previous_last_updated_gmt too) to
        `at`, or `at(i)` for the i-th id. A fraction of patrons get new addresses, the rest
        a new ptype, home library, pcode3, expiration or activity date. One `at` for many
        ids is a mass update at one instant."""
        if len(set(ids)) != len(ids):
            raise ValueError("patron ids to update must be distinct")
        times = [_utc(at(i) if callable(at) else at) for i in range(len(ids))]
        with conn.transaction():
            current = _patron_rows(conn, ids)
            _, next_address_id = _next_ids(conn, "p")
            revised: list[PatronRow] = []
            readdressed: list[int] = []
            addresses: list[AddressRow] = []
            for record_id, when in zip(ids, times, strict=True):
                patron = current.get(record_id)
                if patron is None:
                    continue  # purged after deletion: only record_metadata changes
                if self.rng.random() < change_address_fraction:
                    readdressed.append(record_id)
                    new = self._patron_addresses(record_id, next_address_id, allow_none=False)
                    next_address_id += len(new)
                    addresses.extend(new)
                else:
                    revised.append(self._revise(patron, when))
            _bump_metadata(conn, ids, times)
            _replace_patrons(conn, revised)
            conn.execute(
                "DELETE FROM sierra_view.patron_record_address WHERE patron_record_id = ANY(%s)",
                (readdressed,),
            )
            _copy(conn, _sierra("patron_record_address"), AddressRow._fields, addresses)

    def delete_patrons(
        self,
        conn: psycopg.Connection,
        ids: Sequence[int],
        on: date,
        *,
        purge_fraction: float = 0.5,
    ) -> None:
        """Sets deletion_date_gmt to `on` and record_last_updated_gmt to a time that day.
        As in Sierra, the patron_view and address rows may stay; a fraction are removed."""
        if len(set(ids)) != len(ids):
            raise ValueError("patron ids to delete must be distinct")
        midnight = datetime.combine(on, time(), UTC)
        times = [midnight + timedelta(seconds=self.rng.randrange(86_400)) for _ in ids]
        purged = [record_id for record_id in ids if self.rng.random() < purge_fraction]
        with conn.transaction():
            _bump_metadata(conn, ids, times, deletion_date=on)
            conn.execute("DELETE FROM sierra_view.patron_view WHERE id = ANY(%s)", (purged,))
            conn.execute(
                "DELETE FROM sierra_view.patron_record_address WHERE patron_record_id = ANY(%s)",
                (purged,),
            )

    def _creation_times(
        self, count: int, start: datetime, end: datetime, groups: int, size: int
    ) -> list[datetime]:
        span = int((end - start).total_seconds())
        if span <= 0:
            raise ValueError("end must be after start")
        # Sierra keeps whole seconds, so ties happen anyway; batch loads make big ones.
        times = [start + timedelta(seconds=self.rng.randrange(span)) for _ in range(count)]
        group_size = min(size, count // (groups + 1)) if groups > 0 else 0
        if group_size > 1:
            members = self.rng.sample(range(count), groups * group_size)
            for g in range(groups):
                instant = start + timedelta(seconds=self.rng.randrange(span))
                for i in members[g * group_size : (g + 1) * group_size]:
                    times[i] = instant
        return sorted(times)

    def _record_nums(self, first: int, count: int) -> list[int]:
        # Sierra hands out numbers roughly in creation order (it reuses purged records'
        # numbers), so a tenth are shuffled: paging by id alone would miss patrons.
        nums = list(range(first, first + count))
        moved = self.rng.sample(range(count), count // 10)
        values = [nums[i] for i in moved]
        self.rng.shuffle(values)
        for i, value in zip(moved, values, strict=True):
            nums[i] = value
        return nums

    def _barcode(self) -> str | None:
        if self.rng.random() < 0.01:
            return None
        while (barcode := f"2{self.rng.randrange(10**13):013d}") in self._barcodes:
            pass
        self._barcodes.add(barcode)
        return barcode

    def _patron(
        self, record_id: int, record_num: int, created: datetime, end: datetime
    ) -> PatronRow:
        rng = self.rng
        activity: datetime | None = None
        if rng.random() >= 0.15:
            # Some time after creation, within 90 days and not after `end`.
            window = min(90 * 86_400, int((end - created).total_seconds()))
            activity = created + timedelta(seconds=rng.randrange(window) if window > 0 else 0)
            activity = created if rng.random() < 0.1 else activity
        birth = None if rng.random() < 0.1 else date(1930, 1, 1) + timedelta(rng.randrange(33_000))
        return PatronRow(
            id=record_id,
            record_type_code="p",
            record_num=record_num,
            barcode=self._barcode(),
            ptype_code=PTYPE_CODES.pick(rng),
            home_library_code=HOME_LIBRARY_CODES.pick(rng),
            expiration_date_gmt=created + timedelta(days=3 * 365),
            pcode1=PCODE1_VALUES.pick(rng),
            pcode2=PCODE2_VALUES.pick(rng),
            pcode3=PCODE3_VALUES.pick(rng),
            pcode4=PCODE4_VALUES.pick(rng),
            activity_gmt=activity,
            birth_date_gmt=birth,
            record_creation_date_gmt=created,
        )

    def _revise(self, patron: PatronRow, when: datetime) -> PatronRow:
        change = REVISIONS.pick(self.rng)
        if change == "ptype":
            return patron._replace(ptype_code=PTYPE_CODES.pick(self.rng))
        if change == "library":
            return patron._replace(home_library_code=HOME_LIBRARY_CODES.pick(self.rng))
        if change == "pcode3":
            return patron._replace(pcode3=PCODE3_VALUES.pick(self.rng))
        if change == "activity":
            return patron._replace(activity_gmt=when)
        return patron._replace(expiration_date_gmt=when + timedelta(days=3 * 365))

    def _patron_addresses(
        self, record_id: int, first_id: int, *, allow_none: bool = True
    ) -> list[AddressRow]:
        how_many = (ADDRESS_COUNTS if allow_none else NEW_ADDRESS_COUNTS).pick(self.rng)
        # Distinct (display_order, type) pairs in shuffled row order, so neither the
        # address id nor one sort key alone finds the address the poller must keep.
        if how_many == 1 and self.rng.random() < 0.9:
            slots = [(0, 1)]
        else:
            slots = self.rng.sample(ADDRESS_SLOTS, how_many)
        return [
            AddressRow(first_id + i, record_id, type_id, order, *self._addresses.make())
            for i, (order, type_id) in enumerate(slots)
        ]


def _new_record(code: str, record_num: int, created: datetime) -> RecordMetadataRow:
    return RecordMetadataRow(
        id=RECORD_ID_BASE[code] + record_num,
        record_type_code=code,
        record_num=record_num,
        creation_date_gmt=created,
        deletion_date_gmt=None,
        campus_code="",
        agency_code_num=0,
        num_revisions=1,
        record_last_updated_gmt=created,
        previous_last_updated_gmt=None,
    )


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("synthetic Sierra times must be timezone-aware")
    return moment.astimezone(UTC)


def _next_ids(conn: psycopg.Connection, record_type_code: str) -> tuple[int, int]:
    """The next free record_num of a record type and the next free address id."""
    row = conn.execute(
        "SELECT (SELECT coalesce(max(record_num) + 1, %s) FROM sierra_view.record_metadata"
        "        WHERE record_type_code = %s),"
        "       (SELECT coalesce(max(id) + 1, 1) FROM sierra_view.patron_record_address)",
        (FIRST_RECORD_NUM, record_type_code),
    ).fetchone()
    assert row is not None
    return row[0], row[1]


def _sierra(table: str) -> sql.Identifier:
    return sql.Identifier("sierra_view", table)


def _copy(
    conn: psycopg.Connection, table: sql.Identifier, columns: Sequence[str], rows: Iterable[tuple]
) -> None:
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        table, sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    with conn.cursor() as cur, cur.copy(statement) as copy:
        for row in rows:
            copy.write_row(row)


def _patron_rows(conn: psycopg.Connection, ids: Sequence[int]) -> dict[int, PatronRow]:
    query = sql.SQL("SELECT {} FROM sierra_view.patron_view WHERE id = ANY(%s)").format(
        sql.SQL(", ").join(map(sql.Identifier, PatronRow._fields))
    )
    with conn.cursor() as cur:
        return {row[0]: PatronRow(*row) for row in cur.execute(query, (list(ids),))}


def _bump_metadata(
    conn: psycopg.Connection,
    ids: Sequence[int],
    times: Sequence[datetime],
    *,
    deletion_date: date | None = None,
) -> None:
    conn.execute("DROP TABLE IF EXISTS pg_temp.synthetic_touch")
    conn.execute("CREATE TEMP TABLE synthetic_touch (id bigint PRIMARY KEY, at timestamptz)")
    _copy(
        conn,
        sql.Identifier("pg_temp", "synthetic_touch"),
        ("id", "at"),
        zip(ids, times, strict=True),
    )
    conn.execute(
        "UPDATE sierra_view.record_metadata m"
        " SET previous_last_updated_gmt = m.record_last_updated_gmt,"
        "     record_last_updated_gmt = t.at,"
        "     num_revisions = m.num_revisions + 1,"
        "     deletion_date_gmt = coalesce(%s, m.deletion_date_gmt)"
        " FROM pg_temp.synthetic_touch t WHERE m.id = t.id",
        (deletion_date,),
    )
    conn.execute("DROP TABLE pg_temp.synthetic_touch")


def _replace_patrons(conn: psycopg.Connection, patrons: Sequence[PatronRow]) -> None:
    conn.execute("DROP TABLE IF EXISTS pg_temp.synthetic_patron")
    conn.execute("CREATE TEMP TABLE synthetic_patron (LIKE sierra_view.patron_view)")
    _copy(conn, sql.Identifier("pg_temp", "synthetic_patron"), PatronRow._fields, patrons)
    changed = [name for name in PatronRow._fields if name != "id"]
    conn.execute(
        sql.SQL(
            "UPDATE sierra_view.patron_view p SET ({}) = ({})"
            " FROM pg_temp.synthetic_patron u WHERE p.id = u.id"
        ).format(
            sql.SQL(", ").join(map(sql.Identifier, changed)),
            sql.SQL(", ").join(sql.Identifier("u", name) for name in changed),
        )
    )
    conn.execute("DROP TABLE pg_temp.synthetic_patron")
