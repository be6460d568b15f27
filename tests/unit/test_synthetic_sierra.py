import random
import re
from collections import Counter, defaultdict
from datetime import UTC, datetime
from itertools import pairwise

import pytest

from embedded_stack.gazetteer import STREETS
from embedded_stack.synthetic_sierra import (
    RECORD_ID_BASE,
    AddressRow,
    SierraRows,
    SyntheticSierra,
    Weighted,
)
from tests.unit.local_census import geocode

START = datetime(2024, 3, 1, tzinfo=UTC)
END = datetime(2024, 6, 1, tzinfo=UTC)
ADDRESS_PARTS = ("addr1", "addr2", "addr3", "village", "city", "region", "postal_code", "country")


def generate(seed: int = 7, count: int = 3000, **kwargs) -> SierraRows:
    return SyntheticSierra(seed).generate(count, start=START, end=END, **kwargs)


@pytest.fixture(scope="module")
def rows() -> SierraRows:
    return generate()


def parts(address: AddressRow) -> list[str | None]:
    return [getattr(address, name) for name in ADDRESS_PARTS]


def blank(value: str | None) -> bool:
    return value is None or not value.strip()


def test_same_seed_same_rows_and_other_seed_other_rows():
    assert generate(seed=3, count=500) == generate(seed=3, count=500)
    assert generate(seed=3, count=500) != generate(seed=4, count=500)


def test_ids_are_distinct_and_shaped_like_sierra(rows):
    record_ids = [r.id for r in rows.record_metadata]
    record_nums = [r.record_num for r in rows.record_metadata]
    assert len(set(record_ids)) == len(record_ids) == 3000
    assert len(set(record_nums)) == 3000
    assert all(1_000_000 <= n <= 9_999_999 for n in record_nums)
    assert all(r.id == RECORD_ID_BASE["p"] + r.record_num for r in rows.record_metadata)
    assert [p.id for p in rows.patrons] == record_ids
    barcodes = [p.barcode for p in rows.patrons if p.barcode is not None]
    assert len(set(barcodes)) == len(barcodes) > 2900
    assert all(re.fullmatch(r"\d{14}", b) for b in barcodes)
    address_ids = [a.id for a in rows.addresses]
    assert len(set(address_ids)) == len(address_ids)
    assert {a.patron_record_id for a in rows.addresses} <= set(record_ids)


def test_record_numbers_mostly_follow_creation_order_but_not_all(rows):
    nums = [r.record_num for r in rows.record_metadata]
    in_order = sum(a < b for a, b in pairwise(nums))
    assert 0.7 * len(nums) < in_order < len(nums) - 1


def test_creation_times_fall_in_the_window_and_a_group_shares_one_instant(rows):
    created = [r.creation_date_gmt for r in rows.record_metadata]
    assert created == sorted(created)
    assert all(START <= c < END for c in created)
    assert all(r.record_last_updated_gmt == r.creation_date_gmt for r in rows.record_metadata)
    assert all(c.microsecond == 0 for c in created)
    counts = Counter(created).most_common(2)
    assert counts[0][1] == 300
    assert counts[1][1] < 10


def test_several_shared_instant_groups_shrink_to_fit_a_small_batch():
    small = generate(count=40, same_instant_groups=2, same_instant_size=300)
    sizes = [
        n for _, n in Counter(r.creation_date_gmt for r in small.record_metadata).most_common(2)
    ]
    assert sizes == [13, 13]


def test_patron_fields_include_the_awkward_values(rows):
    libraries = Counter(p.home_library_code for p in rows.patrons)
    assert {"", "none", None} <= set(libraries)
    assert any(code and code != code.strip() for code in libraries)
    assert all(code is None or len(code) <= 5 for code in libraries)
    assert {10, 2, 3, 7, 81, 83} <= {p.ptype_code for p in rows.patrons}
    assert None in {p.pcode3 for p in rows.patrons}
    activity = [(p.activity_gmt, p.record_creation_date_gmt) for p in rows.patrons]
    assert any(a is None for a, _ in activity)
    assert all(created <= a <= END for a, created in activity if a is not None)


def test_addresses_have_the_trouble_real_patron_data_has(rows):
    addresses = rows.addresses
    zip_at_end = re.compile(r"\b\d{5}(-\d{4})?$")
    assert any(not a.addr1.isascii() for a in addresses if a.addr1), "unicode in a street line"
    assert any(not a.city.isascii() for a in addresses if a.city), "unicode in a city"
    assert any(all(blank(p) for p in parts(a)) for a in addresses), "an all-empty address"
    assert any(
        a.addr1 and zip_at_end.search(a.addr1) and blank(a.city) and blank(a.postal_code)
        for a in addresses
    ), "city, state and ZIP jammed into addr1"
    assert any(a.addr1 and '"' in a.addr1 for a in addresses), "quotes in addr1"
    assert any(a.addr1 and "\n" in a.addr1 for a in addresses), "a line break in addr1"
    assert any(
        a.addr1
        and "broadway" in a.addr1.lower()
        and blank(a.city)
        and blank(a.postal_code)
        and not zip_at_end.search(a.addr1)
        for a in addresses
    ), "Broadway with no city or ZIP (a Tie)"
    assert any(len(", ".join(p for p in parts(a)[:7] if p).encode()) > 72 for a in addresses), (
        "an address longer than the geocoder's 72 bytes"
    )
    assert any(a.addr1 and "box" in a.addr1.lower() for a in addresses), "a PO box"
    assert any(a.postal_code and re.fullmatch(r"\d{5}-\d{4}", a.postal_code) for a in addresses)
    assert any(a.postal_code and a.postal_code != a.postal_code.strip() for a in addresses)


def test_most_addresses_are_gazetteer_streets_spelled_several_ways(rows):
    lines = [(a.addr1 or "").lower() for a in rows.addresses]
    spelled_out = sum(bool(re.search(r"\b(street|avenue|boulevard|west|east)\b", x)) for x in lines)
    abbreviated = sum(bool(re.search(r"\b(st|ave|av|blvd|w|e)\b", x)) for x in lines)
    upper_case = sum(a.addr1 is not None and a.addr1.isupper() for a in rows.addresses)
    gazetteer_zips = {street.zip_code for street in STREETS}
    with_gazetteer_zip = sum(
        (a.postal_code or "").strip()[:5] in gazetteer_zips for a in rows.addresses
    )
    assert spelled_out > 0.15 * len(lines)
    assert abbreviated > 0.3 * len(lines)
    assert upper_case > 0.05 * len(lines)
    assert with_gazetteer_zip > 0.7 * len(lines)


def test_some_patrons_have_several_addresses_or_none(rows):
    by_patron = defaultdict(list)
    for address in rows.addresses:
        by_patron[address.patron_record_id].append(address)
    assert len(by_patron) < len(rows.patrons), "some patrons have no address"
    several = [group for group in by_patron.values() if len(group) > 1]
    assert len(several) > 100
    for group in several:
        slots = [(a.display_order, a.patron_record_address_type_id) for a in group]
        assert len(set(slots)) == len(slots)

    def kept(group: list[AddressRow]) -> AddressRow:
        return min(group, key=lambda a: (a.display_order, a.patron_record_address_type_id))

    # The poller's rule is needed: the first row, or the lowest type, is often not it.
    assert any(kept(group).id != min(a.id for a in group) for group in several)
    assert any(
        kept(group).patron_record_address_type_id
        != min(a.patron_record_address_type_id for a in group)
        for group in several
    )


def test_weighted_never_picks_a_zero_weight_value():
    rng = random.Random(1)
    weighted = Weighted(("never", 0), ("a", 1), ("b", 3))
    picks = Counter(weighted.pick(rng) for _ in range(4000))
    assert "never" not in picks
    assert 2 < picks["b"] / picks["a"] < 4


def test_times_must_be_timezone_aware():
    with pytest.raises(ValueError, match="timezone-aware"):
        SyntheticSierra().generate(1, start=datetime(2024, 1, 1), end=END)


@pytest.fixture(scope="module")
def geocoded(rows):
    """Each address with a street line, and the local Census geocoder's answer to it."""
    addresses = [a for a in rows.addresses if not blank(a.addr1)]
    asked = [
        ((a.addr1 or "").replace("\n", " "), a.city or "", a.region or "", a.postal_code or "")
        for a in addresses
    ]
    return list(zip(addresses, geocode(*asked), strict=True))


def test_addresses_carry_the_traps_of_tiger_geocoding(rows, geocoded):
    lines = [a.addr1 for a in rows.addresses if a.addr1]
    queens = [line for line in lines if re.match(r"\d{2,3}-\d{2}\b", line)]
    assert len(queens) > 50, "Queens numbers written 35-10"
    alphanumeric = [line for line in lines if re.match(r"\d+(-\d+)?(-?[A-Da-d]| 1/2) ", line)]
    assert len(alphanumeric) > 20, "house numbers like 12A, 12-A, 12 1/2"
    assert any(re.match(r"\d{2,3}-\d{2}-?[A-Da-d] ", line) for line in lines), "35-10A"
    spellings = Counter(
        match.group(0).lower().rstrip(".")
        for line in lines
        if (match := re.search(r"\b(Fort|Ft\.?|Saint|St\.?)(?= (Washington|Nicholas))", line, re.I))
    )
    assert {"fort", "ft", "saint", "st"} <= set(spellings), spellings
    for alternate in ("malcolm x", "avenue of the americas", "8th ave"):
        assert any(alternate in line.lower() for line in lines), alternate

    matched = [(a, answer) for a, answer in geocoded if answer.status == "Match"]
    # Both sides of each tract-boundary street, in their two tracts.
    for boundary in (s for s in STREETS if s.is_tract_boundary):
        sides = {
            int(answer.matched_address.split()[0]) % 2: answer.geoid
            for _, answer in matched
            if boundary.name in answer.matched_address and answer.geoid[2:5] == boundary.county_fips
        }
        assert set(sides) == {0, 1} and sides[0] != sides[1], boundary.name
    # A wrong ZIP with the right city, and no ZIP at all, still match exactly.
    city_of = {s.zip_code: s.city for s in STREETS}
    wrong_zip = [
        a
        for a, answer in matched
        if (zip5 := (a.postal_code or "").strip()[:5]) in city_of
        and zip5 != answer.matched_address[-5:]
        and (a.city or "").lower() == city_of[answer.matched_address[-5:]].lower()
    ]
    assert len(wrong_zip) > 20
    no_zip = [a for a, answer in matched if blank(a.postal_code) and answer.exactness == "Exact"]
    assert len(no_zip) > 20
    # One name in several boroughs: found in each with a city or ZIP, a Tie without.
    broadway_counties = {
        answer.geoid[2:5] for _, answer in matched if "BROADWAY" in answer.matched_address
    }
    assert broadway_counties == {"061", "047", "081"}
    assert any(answer.status == "Tie" for _, answer in geocoded)
