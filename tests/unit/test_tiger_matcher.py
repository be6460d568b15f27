"""The matcher on a tiny NYC (tiger_fixtures.py), one test per trap of real TIGER data."""

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from patron_info_poller.errors import ConfigurationError
from patron_info_poller.geocoding.address import Address
from patron_info_poller.geocoding.places import (
    county_of_city,
    is_citywide,
    state_fips_for_region,
)
from patron_info_poller.geocoding.provider import MatchStatus
from patron_info_poller.geocoding.street_line import (
    parse_street_line,
    plain_street_line,
    tagged_street_line,
)
from patron_info_poller.geocoding.tiger import TigerGeocoder
from patron_info_poller.geocoding.tiger_build import build_index
from patron_info_poller.geocoding.tiger_index import TigerIndex
from patron_info_poller.geocoding.tiger_matcher import TigerMatcher, lookups_per_second

from .tiger_fixtures import NYC_COUNTIES, YEAR, write_nyc


@pytest.fixture(scope="module")
def index_path(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiger")
    build_index(
        year=YEAR, counties=NYC_COUNTIES, output=root / "index.sqlite", source=str(write_nyc(root))
    )
    return root / "index.sqlite"


@pytest.fixture(scope="module")
def matcher(index_path):
    return TigerMatcher(TigerIndex.open(index_path))


def match(matcher, addr1, city="", region="", postal_code="", events=None):
    return matcher.match(Address(addr1, city, region, postal_code), events)


def geoid(matcher, *parts):
    outcome = match(matcher, *parts)
    return outcome.geoid if outcome.is_match else outcome.status.value


# --- Traps -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    ["500 W 42nd St", "500 West 42nd Street", "500 W. 42 St.", "500 west 42ND street"],
)
def test_street_names_normalised_alike_on_both_sides(matcher, line):
    outcome = match(matcher, line, "New York", "NY", "10036")
    assert outcome.geoid == "36061011500"
    assert outcome.match.matched_address == "500 W 42nd St, 10036"  # TIGER's spelling


@pytest.mark.parametrize(
    ("line", "postal_code", "expected"),
    [
        ("1050 Saint Nicholas Avenue", "10033", "36061026900"),  # TIGER: St Nicholas Ave
        ("1050 St. Nicholas Av", "10033", "36061026900"),
        ("150 Ft. Washington Avenue", "10032", "36061026100"),  # TIGER: Fort Washington Ave
        ("4010 Ft Hamilton Parkway", "11219", "36047022000"),  # TIGER: Fort Hamilton Pkwy
        ("450 Fifth Avenue", "10022", "36061015100"),  # TIGER: 5th Ave
    ],
)
def test_saint_fort_and_ordinal_words(matcher, line, postal_code, expected):
    assert geoid(matcher, line, "", "", postal_code) == expected


def test_descending_range(matcher):
    # Edge 5002 was digitised from its high numbers: its left side runs 698 down to 600.
    outcome = match(matcher, "650 W 42nd St", "", "", "10036")
    assert outcome.geoid == "36061011900"
    assert (outcome.match.tiger_line_id, outcome.match.side) == ("5002", "L")
    assert geoid(matcher, "601 W 42nd St", "", "", "10036") == "36061011900"
    assert geoid(matcher, "699 W 42nd St", "", "", "10036") == "36061011900"


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        # TIGER writes this edge's range "37-00".."37-98"...
        ("37-12 Main St", "36081085300"),
        ("3712 Main St", "36081085300"),
        ("37-12A Main St", "36081085300"),
        # ... and the next one's "3800".."3898".
        ("38-12 Main St", "36081085500"),
        ("3812 Main St", "36081085500"),
    ],
)
def test_hyphenated_queens_numbers_either_way(matcher, line, expected):
    assert geoid(matcher, line, "Flushing", "NY", "11354") == expected


def test_queens_matched_address_keeps_the_hyphen(matcher):
    outcome = match(matcher, "3712 Main St", "", "", "11354")
    assert outcome.match.matched_address == "37-12 Main St, 11354"
    assert match(matcher, "38-12 Main St", "", "", "11354").match.matched_address == (
        "3812 Main St, 11354"
    )


@pytest.mark.parametrize("line", ["150 Lenox Ave", "150 Malcolm X Blvd", "150 Malcolm X Boulevard"])
def test_a_range_under_alternate_names_is_found_by_either_and_is_no_tie(matcher, line):
    # Malcolm X Blvd's row is in ADDRFEAT twice, besides Lenox Ave's: still one tract.
    outcome = match(matcher, line, "", "", "10026")
    assert outcome.geoid == "36061021800"
    assert outcome.match.block == "1010"
    assert outcome.match.tiger_line_id == "5005"


@pytest.mark.parametrize(
    ("number", "tract", "side"), [(501, "011300", "L"), (500, "011500", "R"), (599, "011300", "L")]
)
def test_on_a_tract_boundary_the_parity_picks_the_side(matcher, number, tract, side):
    outcome = match(matcher, f"{number} W 42nd St", "", "", "10036")
    assert outcome.match.tract == tract
    assert outcome.match.side == side


def test_parity_left_blank_in_tiger_is_inferred_from_the_ends(matcher):
    assert geoid(matcher, "2501 Steinway St", "Astoria", "", "11103") == "36081011500"
    assert geoid(matcher, "2502 Steinway St", "Astoria", "", "11103") == "No_Match"


@pytest.mark.parametrize(
    ("city", "postal_code"),
    [
        ("New York", ""),  # no ZIP: the city's county
        ("Manhattan", "10017"),  # a wrong ZIP, known here: the city's county
        ("", ""),  # nothing: every county (W 42nd St is only in Manhattan)
        ("NYC", "10099"),  # all of NYC: every county
    ],
)
def test_missing_or_wrong_zip_falls_back(matcher, city, postal_code):
    outcome = match(matcher, "500 W 42nd St", city, "NY", postal_code)
    assert outcome.geoid == "36061011500"
    assert outcome.match.exact is False


def test_the_zip_that_confirms_makes_it_exact(matcher):
    assert match(matcher, "500 W 42nd St", "", "", "10036").match.exact is True
    assert match(matcher, "500 W 42nd St", "", "", "10036-1234").match.exact is True


def test_fallback_candidates_in_two_tracts_are_a_tie(matcher):
    # Canal St's edges 1..99 and 51..149 overlap; 75 lies on both, in two tracts.
    assert geoid(matcher, "75 Canal St", "New York", "NY", "") == "Tie"
    assert geoid(matcher, "75 Canal St", "", "", "10013") == "Tie"  # the ZIP does not help
    assert geoid(matcher, "25 Canal St", "New York", "NY", "") == "36061004100"
    assert geoid(matcher, "125 Canal St", "New York", "NY", "") == "36061004500"


@pytest.mark.parametrize(
    ("city", "postal_code", "expected"),
    [
        ("", "", "Tie"),  # Broadway is in three counties; only Manhattan's holds 2600
        ("NYC", "", "Tie"),
        ("New York", "", "36061019100"),
        ("", "10025", "36061019100"),
        ("Brooklyn", "", "No_Match"),  # Brooklyn's Broadway stops at 899
        ("Brooklyn", "10025", "36061019100"),  # the ZIP confirms Manhattan's: it wins
    ],
)
def test_a_street_name_in_several_boroughs(matcher, city, postal_code, expected):
    assert geoid(matcher, "2600 Broadway", city, "", postal_code) == expected


def test_each_borough_s_broadway(matcher):
    assert geoid(matcher, "810 Broadway", "Brooklyn", "NY", "") == "36047038900"
    assert geoid(matcher, "3010 Broadway", "Astoria", "NY", "") == "36081006100"
    assert geoid(matcher, "3010 Broadway", "", "", "11106") == "36081006100"


# --- No match --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "parts",
    [
        ("PO Box 123", "New York", "NY", "10036"),
        ("P.O. Box 5", "", "", ""),
        ("W 42nd St", "New York", "NY", "10036"),  # no house number
        ("", "New York", "NY", "10036"),
        ("   ", "", "", ""),
        ("900 W 42nd St", "New York", "NY", "10036"),  # past the street's last number
        ("12 Maple Ln", "New York", "NY", "10036"),  # no such street
        ("100 Washington St", "Hoboken", "NJ", "07030"),  # another state
        ("10 Washington St", "", "NJ", ""),
        ("10 Washington St", "", "", "07030"),  # a ZIP far from every indexed one
        ("10 Washington St", "Hoboken", "", ""),  # a city the index cannot vouch for
        ("北京市朝阳区建国路88号", "北京", "", "100022"),
    ],
)
def test_no_match(matcher, parts):
    assert match(matcher, *parts).status is MatchStatus.NO_MATCH


def test_washington_st_with_nothing_to_doubt_matches(matcher):
    assert geoid(matcher, "10 Washington St", "", "", "") == "36061001300"
    assert geoid(matcher, "10 Washington St", "New York", "NY", "") == "36061001300"


# --- Messy lines -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        "500 W 42nd St Apt 4B",
        "500 W 42nd St, Apt. 4B",
        "500 W 42nd St #3",
        "500 W 42nd St, Fl 2",
        "500 W 42nd St Apartment 12C",
        "500 W 42nd St., Apt 4B, Rear",
        "500 W 42nd St., Apartment 29A, c/o The Management Office, Rear Building Entrance",
        "500 W 42nd St$Apt 4",
        "500 W 42nd St;Apt 4B",
        '"500 W 42nd St"',
        "500\u00a0W 42nd St \u2013 Rear",
        "\uff15\uff10\uff10 W 42nd St",
        "O'Neill House, 500 W 42nd St",
    ],
)
def test_units_and_punctuation(matcher, line):
    assert geoid(matcher, line, "New York", "NY", "10036") == "36061011500"


@pytest.mark.parametrize(
    "line",
    [
        "500 W 42nd St, New York, NY 10036",
        "500 W 42nd St Apt 4, New York NY 10036",
        "500 W 42nd St New York NY 10036",
        "500 W 42nd St, Manhattan, NY",
    ],
)
def test_a_whole_address_in_the_first_line(matcher, line):
    outcome = match(matcher, line)
    assert outcome.geoid == "36061011500"


def test_the_columns_win_over_a_jammed_line(matcher):
    # The line says Brooklyn, the columns say Manhattan's ZIP: the columns are used.
    assert geoid(matcher, "2600 Broadway, Brooklyn, NY", "", "", "10025") == "36061019100"
    # A city or ZIP only in the line is taken from it.
    assert geoid(matcher, "2600 Broadway, New York, NY", "", "NY", "") == "36061019100"
    assert geoid(matcher, "2600 Broadway, NY 10025") == "36061019100"


# --- Parsing street lines and places ---------------------------------------------------


@pytest.mark.parametrize(
    ("line", "number", "text", "street"),
    [
        ("123 W 42nd St", 123, "123", "W 42ND ST"),
        ("37-12 Main Street, Fl 2", 3712, "37-12", "MAIN STREET"),
        ("12A Main St", 12, "12A", "MAIN ST"),
        ("12 1/2 Main St #4", 12, "12 1/2", "MAIN ST"),
    ],
)
def test_plain_lines_take_the_fast_path(line, number, text, street):
    parsed = plain_street_line(line)
    assert (parsed.house_number, parsed.house_text, parsed.street) == (number, text, street)
    assert parse_street_line(line) == parsed


@pytest.mark.parametrize("line", ["O'Neill House, 12 Main St", "Apt 4, 12 Main St", "12W 42 St"])
def test_other_lines_go_to_usaddress(line):
    assert plain_street_line(line) is None
    assert parse_street_line(line).tagged is True


def test_the_fast_path_reads_a_city_state_and_zip_after_the_street():
    parsed = plain_street_line("3600 Main St Apt 4, Queens NY 11354-0001")
    assert (parsed.house_number, parsed.street) == (3600, "MAIN ST")
    assert (parsed.city, parsed.state, parsed.zip_code) == ("QUEENS", "NY", "11354")
    # Anything else after a comma is kept, unread, for the matcher to judge.
    parsed = plain_street_line("3600 Main St, c/o Management Office, Rear")
    assert (parsed.street, parsed.city, parsed.zip_code) == ("MAIN ST", "", "")
    assert parsed.rest == "C/O MANAGEMENT OFFICE, REAR"


def test_usaddress_takes_city_state_and_zip_from_the_line():
    parsed = tagged_street_line("3600 Main St Apt 4, Queens NY 11354")
    assert (parsed.house_number, parsed.street) == (3600, "MAIN ST")
    assert (parsed.city, parsed.state, parsed.zip_code) == ("Queens", "NY", "11354")


@pytest.mark.parametrize(
    "line", ["PO Box 12", "P.O. Box 5", "Post Office Box 9", "BOX 12", "Pob 3"]
)
def test_po_boxes(line):
    assert parse_street_line(line).po_box is True


def test_a_parsed_line_never_shows_its_parts():
    parsed = parse_street_line("500 W 42nd St")
    assert repr(parsed) == "StreetLine(<redacted>)"
    assert "42" not in f"{parsed!r} {parsed!s}"


@pytest.mark.parametrize(
    ("city", "county"),
    [
        ("New York", "061"),
        ("Manhattan", "061"),
        ("New York, NY", "061"),
        ("Bronx", "005"),
        ("The Bronx", "005"),
        ("Brooklyn", "047"),
        ("BROOKLYN NY 11201", "047"),
        ("Queens", "081"),
        ("Flushing", "081"),
        ("Long Island City", "081"),
        ("St. Albans", "081"),
        ("Staten Island", "085"),
        ("NYC", None),
        ("New York City", None),
        ("Hoboken", None),
        ("", None),
    ],
)
def test_cities_that_pin_a_county(city, county):
    assert county_of_city(city) == county


def test_citywide_names_pin_none_but_are_known():
    assert is_citywide("NYC") and is_citywide("New York City") and is_citywide("nyc, ny")
    assert not is_citywide("Hoboken") and not is_citywide("Brooklyn")


@pytest.mark.parametrize(
    ("region", "state"),
    [("NY", "36"), ("N.Y.", "36"), (" ny ", "36"), ("New York", "36"), ("NJ", "34"), ("QC", None)],
)
def test_state_columns(region, state):
    assert state_fips_for_region(region) == state


# --- Invariants ------------------------------------------------------------------------

_DIRECTIONS = ("W", "W.", "West", "WEST", "west")
_SUFFIXES = ("St", "St.", "Street", "STREET")
_UNITS = ("", " Apt 4B", ", Apt 4B", " #3", ", Fl 2")


@settings(max_examples=150, deadline=None)
@given(
    st.integers(500, 699),
    st.sampled_from(_DIRECTIONS),
    st.sampled_from(("42nd", "42", "42ND")),
    st.sampled_from(_SUFFIXES),
    st.sampled_from(_UNITS),
    st.sampled_from(("10036", "", "10036-0001")),
)
def test_the_tract_depends_on_the_number_not_the_spelling(
    matcher, number, direction, ordinal, suffix, unit, postal_code
):
    outcome = match(matcher, f"{number} {direction} {ordinal} {suffix}{unit}", "", "", postal_code)
    # 600..699 is the descending edge, both sides in one tract; below, a tract boundary.
    expected = "011900" if number >= 600 else "011300" if number % 2 else "011500"
    assert outcome.match.tract == expected


_ADDRESS_TEXT = st.one_of(
    st.text(max_size=60),
    st.sampled_from(["500 W 42nd St", "37-12 Main St", "2600 Broadway", "PO Box 1", ""]),
)


@settings(max_examples=200, deadline=None)
@given(_ADDRESS_TEXT, _ADDRESS_TEXT, _ADDRESS_TEXT, _ADDRESS_TEXT)
def test_any_address_gets_an_outcome(matcher, addr1, city, region, postal_code):
    outcome = match(matcher, addr1, city, region, postal_code)
    assert outcome.status in set(MatchStatus)
    assert outcome.is_match == (outcome.match is not None)
    if outcome.is_match:
        assert outcome.match.is_well_formed


# --- The provider ----------------------------------------------------------------------

_KNOWN_EVENTS = {
    "usaddress",
    "po_box",
    "no_house_number",
    "unknown_street",
    "unknown_city",
    "outside_index_state",
    "outside_index_zip",
    "city_county_fallback",
    "street_in_several_counties",
}


def test_provider_answers_every_address_in_order_with_counted_events(index_path):
    addresses = [
        Address("500 W 42nd St", "New York", "NY", "10036"),
        Address("2600 Broadway", "", "", ""),
        Address("PO Box 1", "", "", ""),
        Address("O'Neill House, 500 W 42nd St", "New York", "NY", "10036"),
        Address("", "", "", ""),
    ]
    with TigerGeocoder.from_path(index_path) as geocoder:
        assert geocoder.name == "tiger"
        assert geocoder.meta.counties == NYC_COUNTIES
        reply = geocoder.geocode(addresses)
    assert [o.status.value for o in reply.outcomes] == [
        "Match",
        "Tie",
        "No_Match",
        "Match",
        "No_Match",
    ]
    assert set(reply.events) <= _KNOWN_EVENTS
    assert reply.events["usaddress"] == 1
    assert reply.events["po_box"] == 1
    assert all(isinstance(count, int) for count in reply.events.values())


def test_provider_names_an_unusable_index(tmp_path):
    with pytest.raises(ConfigurationError, match="tiger-index build"):
        TigerGeocoder.from_path(tmp_path / "missing.sqlite")


def test_lookups_per_second_measures(matcher):
    events: Counter[str] = Counter()
    addresses = [Address(f"{n} W 42nd St", "", "", "10036") for n in range(500, 700)]
    rate = lookups_per_second(matcher, addresses, seconds=0.05)
    assert rate > 100
    assert not events
    with pytest.raises(ValueError):
        lookups_per_second(matcher, [], seconds=0.05)
