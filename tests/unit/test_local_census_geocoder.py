"""The local Census geocoder's matching on the traps real NYC addresses have."""

import pytest

from embedded_stack.gazetteer import STREETS
from tests.unit.local_census import geocode, geocode_one


def street(name, borough):
    (found,) = (s for s in STREETS if s.name == name and s.borough == borough)
    return found


def test_queens_hyphenated_numbers_are_the_number_without_the_hyphen():
    hyphen, plain = geocode(
        ("35-10 Main St", "Queens", "NY", "11354"), ("3510 Main St", "Queens", "NY", "11354")
    )
    assert hyphen == plain
    assert hyphen.status == "Match" and hyphen.geoid == "36081085300"
    assert hyphen.matched_address == "3510 MAIN ST, QUEENS, NY, 11354"
    # Found by its name alone, as the product's HTTP test expects.
    assert geocode_one("35-10 Main St", "Flushing", "NY").exactness == "Non_Exact"


@pytest.mark.parametrize("written", ["12A", "12-A", "12 1/2", "12b", "12-d"])
def test_a_letter_or_a_half_after_the_number_is_dropped(written):
    plain = geocode_one("12 W 42nd St", "New York", "NY", "10036")
    answer = geocode_one(f"{written} W 42nd St", "New York", "NY", "10036")
    assert answer.status == "Match"
    assert answer[2:] == plain[2:]
    assert answer.matched_address.startswith("12 W 42ND ST,")


def test_a_queens_number_with_a_letter():
    answer = geocode_one("82-11A Northern Blvd", "Queens", "NY", "11372")
    assert answer.geoid == street("NORTHERN BLVD", "Queens").geoid(8211)


def test_numbers_that_are_not_house_numbers_do_not_match():
    assert geocode_one("12AB W 42nd St", "New York", "NY", "10036").status == "No_Match"
    assert geocode_one("A12 W 42nd St", "New York", "NY", "10036").status == "No_Match"
    assert geocode_one("W 42nd St", "New York", "NY", "10036").status == "No_Match"


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("100 Malcolm X Boulevard", "100 Lenox Avenue"),
        ("455 Avenue of the Americas", "455 6th Ave"),
        ("455 AVENUE OF THE AMERICAS", "455 6 Avenue"),
        ("2102 8th Ave", "2102 Frederick Douglass Blvd"),
        ("2103 8 Ave", "2103 Frederick Douglass Boulevard"),
    ],
)
def test_an_alternate_name_finds_the_same_place(one, other):
    a, b = geocode((one, "New York", "NY", ""), (other, "New York", "NY", ""))
    assert a.status == b.status == "Match"
    assert (a.geoid, a.block, a.tiger_line_id, a.side) == (
        b.geoid,
        b.block,
        b.tiger_line_id,
        b.side,
    )
    assert a.matched_address != b.matched_address  # each under the name it was asked by


@pytest.mark.parametrize(
    "written",
    [
        "800 Fort Washington Avenue",
        "800 Ft. Washington Ave",
        "800 FT WASHINGTON AVE",
        "800 fort washington av",
    ],
)
def test_fort_spelled_out_or_not(written):
    answer = geocode_one(written, "New York", "NY", "10033")
    assert answer.status == "Match" and answer.exactness == "Exact"
    assert answer.geoid == "36061027300"
    assert answer.matched_address == "800 FT WASHINGTON AVE, NEW YORK, NY, 10033"


@pytest.mark.parametrize(
    "written", ["1200 Saint Nicholas Avenue", "1200 St. Nicholas Ave", "1200 ST NICHOLAS AVE"]
)
def test_saint_spelled_out_or_not(written):
    answer = geocode_one(written, "Manhattan", "NY")
    assert answer.geoid == "36061026900"
    assert answer.matched_address == "1200 ST NICHOLAS AVE, NEW YORK, NY, 10033"


def test_a_street_in_two_zip_codes_is_matched_by_the_segment_holding_the_number():
    lower, upper = geocode(
        ("300 Fort Washington Ave", "", "", "10032"), ("900 Fort Washington Ave", "", "", "10033")
    )
    assert lower.geoid == "36061025100" and lower.matched_address.endswith("10032")
    assert upper.geoid == "36061027300" and upper.matched_address.endswith("10033")


def test_a_wrong_zip_with_the_right_city_still_matches_exactly():
    answer = geocode_one("500 W 42nd St", "New York", "NY", "10001")
    assert (answer.status, answer.exactness, answer.geoid) == ("Match", "Exact", "36061011400")
    assert answer.matched_address.endswith("10036")  # the gazetteer's ZIP, not the patron's
    fort = geocode_one("800 Fort Washington Ave", "New York", "NY", "10032")
    assert fort.geoid == "36061027300" and fort.exactness == "Exact"


def test_a_missing_zip_with_the_city_matches_exactly():
    answer = geocode_one("1300 Coney Island Ave", "Brooklyn", "NY", "")
    assert (answer.status, answer.exactness) == ("Match", "Exact")
    assert answer.geoid == street("CONEY ISLAND AVE", "Brooklyn").geoid(1300)


@pytest.mark.parametrize(
    ("name", "borough", "written", "city"),
    [
        ("FREDERICK DOUGLASS BLVD", "Manhattan", "Frederick Douglass Blvd", "New York"),
        ("JEROME AVE", "Bronx", "Jerome Avenue", "Bronx"),
        ("CONEY ISLAND AVE", "Brooklyn", "Coney Island Ave", "Brooklyn"),
        ("NORTHERN BLVD", "Queens", "Northern Boulevard", "Queens"),
        ("FOREST AVE", "Staten Island", "Forest Ave", "Staten Island"),
    ],
)
def test_the_two_sides_of_a_boundary_street_are_in_different_tracts(name, borough, written, city):
    s = street(name, borough)
    for edge in s.edges:
        odd, even = edge.numbers(1)[0], edge.numbers(0)[0]
        odd_answer, even_answer = geocode(
            (f"{odd} {written}", city, "NY", s.zip_code), (f"{even} {written}", city, "NY", "")
        )
        assert odd_answer.geoid == s.geoid(odd) and even_answer.geoid == s.geoid(even)
        assert odd_answer.geoid != even_answer.geoid
        assert odd_answer.tiger_line_id == even_answer.tiger_line_id == str(edge.tlid)
        assert {odd_answer.side, even_answer.side} == {"L", "R"}
        assert odd_answer.side == ("R" if edge.reversed else "L")


def test_broadway_is_a_tie_without_a_city_and_found_in_each_borough_with_one():
    tie, manhattan, brooklyn, queens = geocode(
        ("800 Broadway", "", "NY", ""),
        ("2600 Broadway", "New York", "NY", ""),
        ("800 Broadway", "Brooklyn", "NY", ""),
        ("30-10 Broadway", "Queens", "NY", ""),
    )
    assert tie.status == "Tie"
    assert manhattan.geoid == "36061019100"
    assert brooklyn.geoid == street("BROADWAY", "Brooklyn").geoid(800)
    assert queens.geoid == street("BROADWAY", "Queens").geoid(3010)
    assert len({manhattan.geoid[:5], brooklyn.geoid[:5], queens.geoid[:5]}) == 3


def test_ordinals_suffixes_and_directions_spelled_every_way():
    answers = geocode(
        ("500 West 42nd Street", "New York", "NY", "10036"),
        ("500 W. 42 St.", "New York", "NY", "10036"),
        ("500 w 42nd st", "new york", "ny", ""),
        ("500 WEST 42ND STREET", "", "", "10036"),
    )
    assert {(a.status, a.geoid) for a in answers} == {("Match", "36061011400")}
