import csv
import io

import pytest

from patron_info_poller.errors import ConfigurationError
from patron_info_poller.geocoding.address import Address
from patron_info_poller.geocoding.census import CensusSettings
from patron_info_poller.geocoding.census_format import (
    build_batch_csv,
    parse_batch_reply,
    read_batch_input,
    reply_row,
)
from patron_info_poller.geocoding.provider import (
    NO_MATCH,
    TIE,
    GeocodeOutcome,
    MatchStatus,
    TractMatch,
)

MATCH_ROW = (
    '"{id}","500 W 42nd St, New York, NY, 10036","Match","Exact",'
    '"500 W 42ND ST, NEW YORK, NY, 10036","-73.993,40.758","59653429","L",'
    '"36","061","011400","1000"'
)


def test_reply_rows_in_any_order_with_every_status():
    reply = "\n".join(
        [
            '"2","2600 Broadway, , , ","Tie"',
            MATCH_ROW.format(id=0),
            '"1","1 Nowhere Rd, Bronx, NY, 10451","No_Match"',
        ]
    )
    parsed = parse_batch_reply(reply, row_count=3)
    assert parsed.outcomes[0].geoid == "36061011400"
    assert parsed.outcomes[0].match.block == "1000"
    assert parsed.outcomes[0].match.exact
    assert parsed.outcomes[1] == NO_MATCH
    assert parsed.outcomes[2] == TIE
    assert parsed.ignored_rows == 0


def test_quoted_commas_and_newlines_inside_fields():
    reply = (
        '"0","Apt ""B"", 5 Main St\nsecond line, Queens, NY, 11354","No_Match"\r\n'
        + MATCH_ROW.format(id=1)
        + "\r\n"
    )
    parsed = parse_batch_reply(reply, row_count=2)
    assert parsed.outcomes[0] == NO_MATCH
    assert parsed.outcomes[1].geoid == "36061011400"


def test_rows_that_make_no_sense_are_counted_and_ignored():
    reply = "\n".join(
        [
            MATCH_ROW.format(id=0),
            MATCH_ROW.format(id=0),  # duplicate
            MATCH_ROW.format(id=7),  # not a row we sent
            MATCH_ROW.format(id="x"),
            '"1","5 Main St","Match","Exact"',  # a match too short
            '"1","5 Main St","Maybe"',
            '"1","5 Main St","Match","Exact","m","1,2","3","L","36","61","011400","1000"',
            "<html><body>oops</body></html>",
            "",
            '"2","5 Main St, Queens, NY, 11354","No_Match"',
        ]
    )
    parsed = parse_batch_reply(reply, row_count=3)
    assert set(parsed.outcomes) == {0, 2}
    assert parsed.ignored_rows == 7


def test_html_error_page_yields_no_rows():
    page = "<!DOCTYPE html>\n<html><head><title>Error</title></head>\n<body>503</body></html>\n"
    assert parse_batch_reply(page, row_count=5).outcomes == {}


def test_batch_csv_uses_row_numbers_and_quotes_what_needs_it():
    addresses = [
        Address('5 "Main", St', "Queens", "NY", "11354"),
        Address("=cmd|' /C calc'!A0", "+Bronx", "@NY", "-10451"),
        Address("1 Line\nBreak\tSt\r", "Brooklyn\x00", "NY", "11211"),
        Address("12 Avenida Peñalosa", "San Juan", "PR", "00901"),
        Address("-12 Main St", "", "", ""),
    ]
    data = build_batch_csv(addresses)
    rows = list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))
    assert rows == [
        ["0", '5 "Main", St', "Queens", "NY", "11354"],
        ["1", "cmd|' /C calc'!A0", "Bronx", "NY", "-10451"],  # a number stays
        ["2", "1 Line Break St", "Brooklyn", "NY", "11211"],
        ["3", "12 Avenida Peñalosa", "San Juan", "PR", "00901"],
        ["4", "-12 Main St", "", "", ""],
    ]
    assert data.count(b"\n") == len(addresses)


def test_input_file_rows_and_reply_rows_round_trip():
    lines = [
        "a1,500 W 42nd St,New York,NY,10036\n",
        "\n",
        'a2,"2600 Broadway, Apt 3",,,\n',
    ]
    rows = list(read_batch_input(lines))
    assert [row.row_id for row in rows] == ["a1", "a2"]
    match = TractMatch("36", "061", "011400", "1000", True, "500 W 42ND ST", "5965", "R")
    written = [
        reply_row(rows[0].row_id, rows[0].address, GeocodeOutcome.matched(match)),
        reply_row(rows[1].row_id, rows[1].address, TIE),
    ]
    assert written[0] == [
        "a1", "500 W 42nd St, New York, NY, 10036", "Match", "Exact", "500 W 42ND ST",
        "", "5965", "R", "36", "061", "011400", "1000",
    ]  # fmt: skip
    assert written[1] == ["a2", "2600 Broadway, Apt 3, , , ", "Tie"]
    buffer = io.StringIO()
    csv.writer(buffer).writerows(written)
    parsed = parse_batch_reply(buffer.getvalue().replace("a1", "0").replace("a2", "1"), 2)
    assert parsed.outcomes[0].geoid == "36061011400"
    assert parsed.outcomes[1].status is MatchStatus.TIE


def test_an_input_line_without_five_columns_is_named_by_number_only():
    with pytest.raises(ValueError, match="line 2 has 3 columns") as raised:
        list(read_batch_input(["a,1 Main St,Queens,NY,11354\n", "b,9 Secret Rd,Bronx\n"]))
    assert "Secret" not in str(raised.value)


@pytest.mark.parametrize(
    "override",
    [
        {"batch_size": 0},
        {"batch_size": 10_001},
        {"concurrency": 0},
        {"max_attempts": 0},
        {"timeout_seconds": 0},
        {"max_reasks": -1},
    ],
)
def test_settings_out_of_range_are_refused(override):
    with pytest.raises(ConfigurationError):
        CensusSettings(url="http://x", benchmark="b", vintage="v", **override)


def test_settings_repr_hides_the_api_key():
    settings = CensusSettings(url="http://x", benchmark="b", vintage="v", api_key="s3cret")
    assert "s3cret" not in repr(settings)
