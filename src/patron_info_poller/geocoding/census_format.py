"""The Census batch geocoder's file formats, both ways.

Input: no header, `id,street,city,state,zip`. Reply: one row per input row, in any order;
a match has 12 columns (id, input address, Match, Exact/Non_Exact, matched address,
coordinates, TIGER line id, side, state, county, tract, block), No_Match and Tie rows
have 3. The poller writes inputs whose ids are row numbers; `patron-info-poller geocode`
reads inputs and writes replies, so its output can be compared with the service's.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from .address import Address
from .provider import NO_MATCH, TIE, GeocodeOutcome, MatchStatus, TractMatch

MATCH_COLUMNS = 12


@dataclass
class BatchReply:
    outcomes: dict[int, GeocodeOutcome]  # by row number
    ignored_rows: int


def build_batch_csv(addresses: Sequence[Address]) -> bytes:
    """The header-less `id,street,city,state,zip` file; ids are row numbers."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for row_number, address in enumerate(addresses):
        cleaned = address.cleaned()
        writer.writerow(
            [row_number, cleaned.addr1, cleaned.city, cleaned.region, cleaned.postal_code]
        )
    return buffer.getvalue().encode("utf-8")


def parse_batch_reply(text: str, row_count: int) -> BatchReply:
    """Reads the reply rows (in any order); rows that make no sense are only counted."""
    outcomes: dict[int, GeocodeOutcome] = {}
    ignored = 0
    try:
        for row in csv.reader(io.StringIO(text, newline="")):
            if not row:
                continue
            parsed = _parse_reply_row([value.strip() for value in row], row_count)
            if parsed is None or parsed[0] in outcomes:
                ignored += 1
            else:
                outcomes[parsed[0]] = parsed[1]
    except csv.Error:
        ignored += 1
    return BatchReply(outcomes, ignored)


def _parse_reply_row(row: list[str], row_count: int) -> tuple[int, GeocodeOutcome] | None:
    if not row[0].isdigit() or int(row[0]) >= row_count:
        return None
    row_number = int(row[0])
    if len(row) == 3 and row[2] == MatchStatus.NO_MATCH:
        return row_number, NO_MATCH
    if len(row) == 3 and row[2] == MatchStatus.TIE:
        return row_number, TIE
    if len(row) == MATCH_COLUMNS and row[2] == MatchStatus.MATCH:
        match = TractMatch(
            state=row[8],
            county=row[9],
            tract=row[10],
            block=row[11],
            exact=row[3] == "Exact",
            matched_address=row[4],
            tiger_line_id=row[6],
            side=row[7],
        )
        if match.is_well_formed:
            return row_number, GeocodeOutcome.matched(match)
    return None


@dataclass(frozen=True)
class InputRow:
    row_id: str  # the caller's id, echoed back as is
    address: Address


class InputFormatError(ValueError):
    """A line of a batch input file that is not `id,street,city,state,zip`."""


def read_batch_input(lines: Iterable[str]) -> Iterator[InputRow]:
    """Rows of a batch input file. Raises InputFormatError naming the line number only."""
    for line_number, row in enumerate(csv.reader(lines), start=1):
        if not row or all(not value.strip() for value in row):
            continue
        if len(row) != 5:
            raise InputFormatError(
                f"line {line_number} has {len(row)} columns; the batch format has 5: "
                "id,street,city,state,zip"
            )
        row_id, street, city, state, zip_code = row
        yield InputRow(row_id.strip(), Address.from_row(street, city, state, zip_code))


def reply_row(row_id: str, address: Address, outcome: GeocodeOutcome) -> list[str]:
    """One reply row as the service writes it (12 columns for a match, else 3)."""
    a = address.cleaned()
    echo = f"{a.addr1}, {a.city}, {a.region}, {a.postal_code}"
    match = outcome.match
    if not outcome.is_match or match is None:
        return [row_id, echo, outcome.status.value]
    return [
        row_id,
        echo,
        MatchStatus.MATCH.value,
        "Exact" if match.exact else "Non_Exact",
        match.matched_address,
        "",  # coordinates: an index without geometry has none
        match.tiger_line_id,
        match.side,
        match.state,
        match.county,
        match.tract,
        match.block,
    ]
