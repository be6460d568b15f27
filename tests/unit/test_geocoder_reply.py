import csv
import io

import pytest

from patron_info_poller.address import Address
from patron_info_poller.errors import ConfigurationError
from patron_info_poller.geocoder import (
    GeocoderSettings,
    GeocodeStats,
    MatchStatus,
    RowOutcome,
    build_batch_csv,
    parse_batch_reply,
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
    assert parsed.outcomes == {
        0: RowOutcome(MatchStatus.MATCH, "36061011400"),
        1: RowOutcome(MatchStatus.NO_MATCH),
        2: RowOutcome(MatchStatus.TIE),
    }
    assert parsed.ignored_rows == 0


def test_quoted_commas_and_newlines_inside_fields():
    reply = (
        '"0","Apt ""B"", 5 Main St\nsecond line, Queens, NY, 11354","No_Match"\r\n'
        + MATCH_ROW.format(id=1)
        + "\r\n"
    )
    parsed = parse_batch_reply(reply, row_count=2)
    assert parsed.outcomes[0] == RowOutcome(MatchStatus.NO_MATCH)
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


def test_stats_add_up():
    total = GeocodeStats(requested=3, matched=2, requests=1) + GeocodeStats(
        requested=1, failed_requests=2, requests=3
    )
    assert (total.requested, total.matched, total.requests, total.failed_requests) == (4, 2, 4, 2)
    assert total.unmatched == 2


@pytest.mark.parametrize(
    "override",
    [
        {"batch_size": 0},
        {"batch_size": 10_001},
        {"concurrency": 0},
        {"max_attempts": 0},
        {"timeout_seconds": 0},
    ],
)
def test_settings_out_of_range_are_refused(override):
    with pytest.raises(ConfigurationError):
        GeocoderSettings(url="http://x", benchmark="b", vintage="v", **override)


def test_settings_repr_hides_the_api_key():
    settings = GeocoderSettings(url="http://x", benchmark="b", vintage="v", api_key="s3cret")
    assert "s3cret" not in repr(settings)
