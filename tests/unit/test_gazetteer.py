"""The gazetteer: one source of truth for the local Census geocoder and the TIGER files."""

from collections import Counter

import pytest

from embedded_stack.gazetteer import (
    STREETS,
    all_edges,
    streets_named,
    tiger_fullname,
)

# The streets the gazetteer had before tract-boundary streets and alternate names: every
# address on them keeps the tract and block it had (tests and stored records rely on it).
ORIGINAL_STREETS = STREETS[:29]


def original_tract_and_block(street, house_number):
    hundred = (house_number - street.low) // 100
    return f"{street.tract_base + 100 * (hundred // 4):06d}", f"{1000 + hundred % 4:04d}"


def street(name, borough):
    (found,) = (s for s in STREETS if s.name == name and s.borough == borough)
    return found


def test_original_streets_keep_every_tract_and_block():
    assert ORIGINAL_STREETS[0].name == "W 42ND ST" and ORIGINAL_STREETS[-1].name == "HYLAN BLVD"
    for s in ORIGINAL_STREETS:
        assert not s.is_tract_boundary
        for number in range(s.low, s.high + 1):
            assert s.tract_and_block(number) == original_tract_and_block(s, number), (s, number)


@pytest.mark.parametrize(
    ("name", "borough", "number", "geoid"),
    [
        ("W 42ND ST", "Manhattan", 500, "36061011400"),
        ("W 42ND ST", "Manhattan", 350, "36061011300"),
        ("BROADWAY", "Manhattan", 2600, "36061019100"),
        ("MAIN ST", "Queens", 3510, "36081085300"),
        ("SOUTHERN BLVD", "Bronx", 800, "36005012900"),
        ("W 125TH ST", "Manhattan", 100, "36061022200"),
    ],
)
def test_addresses_pinned_by_other_tests_keep_their_tract(name, borough, number, geoid):
    assert street(name, borough).geoid(number) == geoid


def test_a_boundary_street_puts_its_two_sides_in_different_tracts():
    boundaries = [s for s in STREETS if s.is_tract_boundary]
    assert {s.borough for s in boundaries} == {
        "Manhattan", "Bronx", "Brooklyn", "Queens", "Staten Island"
    }  # fmt: skip
    for s in boundaries:
        for edge in s.edges:
            odd, even = edge.numbers(1)[0], edge.numbers(0)[0]
            odd_tract, odd_block = s.tract_and_block(odd)
            even_tract, even_block = s.tract_and_block(even)
            assert odd_tract != even_tract, (s.name, edge.index)
            assert odd_block[0] == "1" and even_block[0] == "2"  # block groups differ too
            # Every number on one side of the edge is in that side's tract and block.
            assert {s.tract_and_block(n) for n in range(odd, edge.high + 1, 2)} == {
                (odd_tract, odd_block)
            }
            assert {s.tract_and_block(n) for n in range(even, edge.high + 1, 2)} == {
                (even_tract, even_block)
            }


def test_northern_blvd_tracts_by_parity():
    northern = street("NORTHERN BLVD", "Queens")
    assert northern.geoid(8211) == "36081027100"
    assert northern.geoid(8210) == "36081030900"
    assert northern.tract_and_block(8210) == ("030900", "2002")


def test_alternate_names_are_the_same_street():
    assert streets_named("MALCOLM X BLVD") == streets_named("LENOX AVE")
    assert streets_named("AVENUE OF THE AMERICAS") == streets_named("6TH AVE")
    (douglass,) = streets_named("8TH AVE")
    assert douglass.name == "FREDERICK DOUGLASS BLVD" and douglass.is_tract_boundary
    lenox = street("LENOX AVE", "Manhattan")
    assert lenox.names == ("LENOX AVE", "MALCOLM X BLVD")
    assert lenox.tiger_names == ("Lenox Ave", "Malcolm X Blvd")


@pytest.mark.parametrize(
    ("census", "tiger"),
    [
        ("W 42ND ST", "W 42nd St"),
        ("GRAND CONCOURSE", "Grand Concourse"),
        ("ST NICHOLAS AVE", "St Nicholas Ave"),
        ("BROADWAY", "Broadway"),
        ("FT WASHINGTON AVE", "Fort Washington Ave"),
        ("AVENUE OF THE AMERICAS", "Avenue of the Americas"),
        ("W 125TH ST", "W 125th St"),
        ("E FORDHAM RD", "E Fordham Rd"),
    ],
)
def test_tiger_spelling(census, tiger):
    assert tiger_fullname(census) == tiger


def test_one_name_in_several_boroughs_and_one_street_in_several_zips():
    assert {s.borough for s in streets_named("BROADWAY")} == {"Manhattan", "Brooklyn", "Queens"}
    fort = streets_named("FT WASHINGTON AVE")
    assert [(s.zip_code, s.low, s.high) for s in fort] == [
        ("10032", 100, 699),
        ("10033", 700, 1199),
    ]
    # Main St is only in Queens: "35-10 Main St, Flushing" is found by name alone.
    assert len(streets_named("MAIN ST")) == 1


def test_edges_cover_every_house_number_once():
    for s in STREETS:
        covered = Counter(n for edge in s.edges for n in range(edge.low, edge.high + 1))
        assert set(covered) == set(range(s.low, s.high + 1))
        assert set(covered.values()) == {1}
        for number in (s.low, s.high, (s.low + s.high) // 2):
            edge = s.edge(number)
            assert edge.low <= number <= edge.high
            assert edge.street is s


def test_edges_have_distinct_ids_and_some_are_digitised_backwards():
    edges = list(all_edges())
    assert len({edge.tlid for edge in edges}) == len(edges)
    faces = [face for edge in edges for face in (edge.left_face, edge.right_face)]
    assert len(set(faces)) == len(faces)
    backwards = [edge for edge in edges if edge.reversed]
    assert 0.1 * len(edges) < len(backwards) < 0.5 * len(edges)
    for edge in backwards:
        assert edge.start == edge.east and edge.end == edge.west
        odd = edge.numbers(1)[0]
        assert edge.side(odd) == "R" and edge.side(odd + 1) == "L"
    forward = next(edge for edge in edges if not edge.reversed)
    odd = forward.numbers(1)[0]
    assert forward.side(odd) == "L" and forward.face(odd) == forward.left_face


def test_a_point_lies_on_its_side_of_its_edge():
    for edge in list(all_edges())[::7]:
        for number in (edge.low, edge.high):
            longitude, latitude = edge.point(number)
            assert edge.west[0] < longitude < edge.east[0]
            assert (latitude > edge.west[1]) is (number % 2 == 1)
