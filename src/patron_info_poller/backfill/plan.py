"""A backfill's plan: a fixed list of chunks, half-open ranges [lo, hi) of
`record_metadata.id` over the patrons created in the window, balanced by row count.

The boundaries come from one query (`ntile` over the window's patrons in id order, each
tile's lowest id; the last chunk ends after the highest id), not from arithmetic on ids,
which are sparse. Every patron of the window lies in exactly one chunk, and chunks differ
by at most one row.

Chunk boundaries are record ids, that is patron identifiers: the plan holds them sealed
(sealed_ids.py), each bound to its plan, chunk and end, and everything else knows a chunk
by its number. A plan object never holds a plaintext id; `chunk_range` opens one chunk's
bounds, in memory, where the chunk runs.

Chunk size: a chunk should take one to five minutes at the configured bcrypt cost. The
hash rate of one worker thread is measured when the plan is made, and a chunk gets about
`TARGET_CHUNK_SECONDS` of one thread's hashing (two hashes per patron). Small backfills get
at least one chunk per worker thread, in whole waves, so that every core has work.
"""

from __future__ import annotations

import math
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import bcrypt

from .. import __version__
from ..config import BCRYPT_SALT_PATTERN
from ..databases.connection import ReconnectingDatabase
from ..errors import StateError
from ..state.sealed_ids import IdSealer, UnsealableId, is_sealed

PLAN_FORMAT = 1
HASHES_PER_PATRON = 2  # patron_id and address_hash
TARGET_CHUNK_SECONDS = 150.0  # inside the 1 to 5 minutes a chunk should take
MIN_CHUNK_ROWS = 100

# One statement: the window's patrons in id order, cut into `ntile` tiles of (almost)
# equal row counts. The tile count is ceil(rows / chunk_rows), rounded up to a multiple of
# `slots` (worker threads) and at most one tile per row: `chunk_count` below, in SQL.
BOUNDARY_QUERY = """
WITH window_patrons AS MATERIALIZED (
    SELECT rm.id
    FROM sierra_view.record_metadata rm
    WHERE rm.record_type_code = 'p'
      AND rm.deletion_date_gmt IS NULL
      AND rm.creation_date_gmt >= %(since)s
      AND rm.creation_date_gmt < %(upper)s
),
tiles AS (
    SELECT id, ntile((
        SELECT least(
            count(*),
            ceil(ceil(count(*) / %(chunk_rows)s::numeric) / %(slots)s) * %(slots)s
        )::int
        FROM window_patrons
    )) OVER (ORDER BY id) AS tile
    FROM window_patrons
)
SELECT tile, min(id) AS lo, max(id) AS last_id, count(*) AS rows
FROM tiles
GROUP BY tile
ORDER BY tile
"""


@dataclass(frozen=True)
class Tile:
    """One tile of the boundary query. Plaintext ids: memory only (repr hides them)."""

    number: int  # 0-based
    lo: int = field(repr=False)  # its lowest patron id
    last: int = field(repr=False)  # its highest patron id
    rows: int


def plan_tiles(
    db: ReconnectingDatabase, since: datetime, upper: datetime, chunk_rows: int, slots: int
) -> list[Tile]:
    """The window's patrons [since, upper) in balanced tiles, by one query."""
    params = {"since": since, "upper": upper, "chunk_rows": chunk_rows, "slots": max(1, slots)}
    rows = db.read(lambda cur: cur.execute(BOUNDARY_QUERY, params).fetchall())
    return [Tile(row["tile"] - 1, row["lo"], row["last_id"], row["rows"]) for row in rows]


def chunk_count(rows: int, chunk_rows: int, slots: int = 1) -> int:
    """How many tiles the boundary query cuts `rows` patrons into (the same formula)."""
    if rows <= 0:
        return 0
    slots = max(1, slots)
    return min(rows, math.ceil(math.ceil(rows / chunk_rows) / slots) * slots)


def chunk_ranges(tiles: Sequence[Tile]) -> list[tuple[int, int]]:
    """[lo, hi) per tile: each tile's lowest id up to the next tile's; the last one ends
    just after the highest id. Together they cover [lowest, highest] without overlap."""
    ranges = []
    for index, tile in enumerate(tiles):
        hi = tiles[index + 1].lo if index + 1 < len(tiles) else tile.last + 1
        if not tile.lo < hi:
            raise ValueError("tiles must be in ascending id order")
        ranges.append((tile.lo, hi))
    return ranges


def bcrypt_cost(salt: str) -> int:
    """The cost of a salt the configuration accepted (`$2b$07$...`: 7)."""
    parsed = BCRYPT_SALT_PATTERN.match(salt)
    if parsed is None:
        raise ValueError("not a bcrypt salt")
    return int(parsed.group(1))


def measure_hash_rate(cost: int, seconds: float = 1.0) -> float:
    """bcrypt hashes per second on one thread at `cost`. A throwaway salt of that cost
    hashes exactly as fast as the real one, so no secret is needed (this runs on a worker)."""
    salt = bcrypt.gensalt(rounds=cost)
    done = 0
    started = time.perf_counter()
    while True:
        bcrypt.hashpw(b"backfill-rate-%d" % done, salt)
        done += 1
        elapsed = time.perf_counter() - started
        if elapsed >= seconds and done >= 3:
            return done / elapsed


def chunk_rows_for(hashes_per_second: float, target_seconds: float = TARGET_CHUNK_SECONDS) -> int:
    """Patrons per chunk so that one thread hashes a chunk in about `target_seconds`."""
    return max(MIN_CHUNK_ROWS, int(target_seconds * hashes_per_second / HASHES_PER_PATRON))


def new_plan_id(now: datetime) -> str:
    """Sortable by creation time; the random suffix keeps two plans of one second apart."""
    return f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def boundary_context(plan_id: str, number: int, end: str) -> str:
    """What a boundary token is bound to: a token copied elsewhere does not open."""
    return f"backfill {plan_id} chunk {number} {end}"


@dataclass(frozen=True)
class PlannedChunk:
    number: int
    lo: str  # sealed record id
    hi: str  # sealed record id
    rows: int  # patrons in the chunk when the plan was made


@dataclass(frozen=True)
class BackfillPlan:
    plan_id: str
    created_at: datetime
    since: datetime  # inclusive
    until: datetime  # exclusive: --until, or the frozen bound when none was given
    until_given: bool  # --until was given (a later run resumes only the same window)
    frozen_bound: datetime  # Sierra's clock minus the commit lag when the plan was made
    bcrypt_cost: int
    code_version: str
    chunk_rows: int  # the size asked for (--chunk-size, or from the hash rate)
    hashes_per_second: float | None  # one worker thread's, measured; None with --chunk-size
    chunks: tuple[PlannedChunk, ...]

    @property
    def upper(self) -> datetime:
        """The window's real end: rows created at or after it are not in the plan."""
        return min(self.until, self.frozen_bound)

    @property
    def rows(self) -> int:
        return sum(chunk.rows for chunk in self.chunks)

    @property
    def chunk_count(self) -> int:
        return len(self.chunks)

    def chunk_range(self, number: int, sealer: IdSealer) -> tuple[int, int]:
        """Chunk `number`'s [lo, hi), opened in memory (raises UnsealableId)."""
        chunk = self.chunks[number]
        return (
            sealer.open(chunk.lo, boundary_context(self.plan_id, number, "lo")),
            sealer.open(chunk.hi, boundary_context(self.plan_id, number, "hi")),
        )

    def opens_with(self, sealer: IdSealer) -> bool:
        """False when the plan was sealed under another BCRYPT_SALT."""
        try:
            if self.chunks:
                self.chunk_range(0, sealer)
        except UnsealableId:
            return False
        return True

    def window_text(self) -> str:
        return f"[{self.since.isoformat()}, {self.upper.isoformat()})"

    def to_json(self) -> dict[str, Any]:
        return {
            "format": PLAN_FORMAT,
            "plan_id": self.plan_id,
            "created_at": self.created_at.isoformat(),
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "until_given": self.until_given,
            "frozen_bound": self.frozen_bound.isoformat(),
            "bcrypt_cost": self.bcrypt_cost,
            "code_version": self.code_version,
            "chunk_rows": self.chunk_rows,
            "hashes_per_second": self.hashes_per_second,
            "rows": self.rows,
            "chunk_count": self.chunk_count,
            "chunks": [
                {"chunk": chunk.number, "lo": chunk.lo, "hi": chunk.hi, "rows": chunk.rows}
                for chunk in self.chunks
            ],
        }

    @classmethod
    def from_json(cls, document: Any, where: str) -> BackfillPlan:
        """Raises StateError naming `where` when the document is not a plan."""
        try:
            if not isinstance(document, dict) or document.get("format") != PLAN_FORMAT:
                raise ValueError("not a plan of this format")
            chunks = tuple(
                PlannedChunk(int(c["chunk"]), str(c["lo"]), str(c["hi"]), int(c["rows"]))
                for c in document["chunks"]
            )
            if [c.number for c in chunks] != list(range(len(chunks))):
                raise ValueError("chunks out of order")
            if not all(is_sealed(c.lo) and is_sealed(c.hi) for c in chunks):
                raise ValueError("a boundary is not sealed")
            rate = document.get("hashes_per_second")
            return cls(
                plan_id=str(document["plan_id"]),
                created_at=_instant(document["created_at"]),
                since=_instant(document["since"]),
                until=_instant(document["until"]),
                until_given=bool(document["until_given"]),
                frozen_bound=_instant(document["frozen_bound"]),
                bcrypt_cost=int(document["bcrypt_cost"]),
                code_version=str(document["code_version"]),
                chunk_rows=int(document["chunk_rows"]),
                hashes_per_second=None if rate is None else float(rate),
                chunks=chunks,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise StateError(f"the backfill plan at {where} is corrupt ({exc})") from None


def make_plan(
    *,
    tiles: Sequence[Tile],
    since: datetime,
    until: datetime,
    until_given: bool,
    frozen_bound: datetime,
    bcrypt_cost: int,
    chunk_rows: int,
    hashes_per_second: float | None,
    sealer: IdSealer,
    now: datetime,
    plan_id: str | None = None,
) -> BackfillPlan:
    """The plan of these tiles, its boundaries sealed."""
    plan_id = plan_id or new_plan_id(now)
    chunks = tuple(
        PlannedChunk(
            number,
            sealer.seal(lo, boundary_context(plan_id, number, "lo")),
            sealer.seal(hi, boundary_context(plan_id, number, "hi")),
            tile.rows,
        )
        for number, (tile, (lo, hi)) in enumerate(zip(tiles, chunk_ranges(tiles), strict=True))
    )
    return BackfillPlan(
        plan_id=plan_id,
        created_at=now,
        since=since,
        until=until,
        until_given=until_given,
        frozen_bound=frozen_bound,
        bcrypt_cost=bcrypt_cost,
        code_version=__version__,
        chunk_rows=chunk_rows,
        hashes_per_second=hashes_per_second,
        chunks=chunks,
    )


def _instant(text: Any) -> datetime:
    moment = datetime.fromisoformat(str(text))
    if moment.tzinfo is None:
        raise ValueError("a timestamp without a UTC offset")
    return moment
