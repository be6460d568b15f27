"""A small NYC gazetteer shared by the synthetic Sierra (which draws addresses from it),
the local Census geocoder (which matches addresses against it) and the TIGER/Line county
files (which describe it the way the Census Bureau ships a county): it is the one source
of truth for where an address lies.

Each street has a range of house numbers; every block of 100 numbers (counted from the
street's first number) is one TIGER edge and lies in one census block of one tract, so a
matched address has a deterministic 15-digit GEOID (state 2 + county 3 + tract 6 +
block 4). The traps real NYC data has are here too:
- a street may have alternate names (Lenox Ave is also Malcolm X Blvd), matched by either;
- a tract-boundary street has its odd side in one tract and its even side in another, so
  the tract depends on the house number's parity;
- the Census spells a name upper case and abbreviated ("FT WASHINGTON AVE", "W 42ND ST"),
  TIGER's FULLNAME mixed case ("Fort Washington Ave", "W 42nd St");
- one name in several boroughs (Broadway), one street in several ZIP codes (Fort
  Washington Ave), edges digitised from the high numbers to the low.
"""

from __future__ import annotations

import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

NY_STATE_FIPS = "36"

# Borough -> (Census city name used by the postal service, county FIPS).
BOROUGHS = {
    "Manhattan": ("New York", "061"),
    "Bronx": ("Bronx", "005"),
    "Brooklyn": ("Brooklyn", "047"),
    "Queens": ("Queens", "081"),
    "Staten Island": ("Staten Island", "085"),
}
COUNTY_FIPS = tuple(sorted(county for _city, county in BOROUGHS.values()))

EDGE_LENGTH = 100  # house numbers per edge (and per census block)
# Where each county's streets are drawn (longitude, latitude of the first street's start);
# streets run east, one above the other.
_COUNTY_ORIGINS = {
    "061": (-74.000, 40.700),
    "005": (-73.920, 40.820),
    "047": (-74.000, 40.600),
    "081": (-73.880, 40.700),
    "085": (-74.160, 40.560),
}
_STREET_SPACING = 0.004  # degrees of latitude between two streets
_EDGE_DEGREES = 0.001  # degrees of longitude per edge
FACE_DEPTH = 0.0015  # degrees of latitude a face reaches away from its street
_POINT_OFFSET = 0.00005  # a geocoded point sits this far off the street, on its side


def tiger_fullname(census_name: str) -> str:
    """TIGER's FULLNAME for a name spelled the Census way: "W 42ND ST" -> "W 42nd St",
    "FT WASHINGTON AVE" -> "Fort Washington Ave", "ST NICHOLAS AVE" -> "St Nicholas Ave",
    "AVENUE OF THE AMERICAS" -> "Avenue of the Americas"."""
    words = []
    for position, word in enumerate(census_name.split()):
        if word in ("N", "S", "E", "W"):
            words.append(word)
        elif word == "FT":
            words.append("Fort")  # TIGER spells Fort out; Saint stays "St"
        elif position > 0 and word in ("OF", "THE", "AND"):
            words.append(word.lower())
        else:
            words.append(word.capitalize())  # "42ND" -> "42nd", "AVE" -> "Ave"
    return " ".join(words)


@dataclass(frozen=True)
class GazetteerStreet:
    """A street segment. `name` is how the Census spells it (upper case, abbreviated);
    `alternate_names` are other names of the same segment, spelled the same way.
    `even_tract_base`, when set, makes it a tract-boundary street: its even side lies in
    tracts counted from there, its odd side in tracts counted from `tract_base`."""

    name: str
    borough: str
    zip_code: str
    low: int
    high: int
    tract_base: int
    alternate_names: tuple[str, ...] = ()
    even_tract_base: int | None = None

    @property
    def city(self) -> str:
        return BOROUGHS[self.borough][0]

    @property
    def county_fips(self) -> str:
        return BOROUGHS[self.borough][1]

    @property
    def names(self) -> tuple[str, ...]:
        """Every name of the segment, the primary one first (Census spelling)."""
        return (self.name, *self.alternate_names)

    @property
    def tiger_name(self) -> str:
        return tiger_fullname(self.name)

    @property
    def tiger_names(self) -> tuple[str, ...]:
        return tuple(tiger_fullname(name) for name in self.names)

    @property
    def is_tract_boundary(self) -> bool:
        return self.even_tract_base is not None and self.even_tract_base != self.tract_base

    def __contains__(self, house_number: int) -> bool:
        return self.low <= house_number <= self.high

    def tract_and_block(self, house_number: int) -> tuple[str, str]:
        """The tract (6 digits) and block (4 digits) of a house number on this street:
        on a tract-boundary street, the even side is in other tracts (block group 2)."""
        hundred = (house_number - self.low) // EDGE_LENGTH
        base, block_group = self.tract_base, 1
        if house_number % 2 == 0 and self.even_tract_base is not None:
            base, block_group = self.even_tract_base, 2
        tract = f"{base + 100 * (hundred // 4):06d}"
        block = f"{block_group * 1000 + hundred % 4:04d}"
        return tract, block

    def geoid(self, house_number: int) -> str:
        """The 11-digit tract GEOID (state + county + tract) the PatronInfo record carries."""
        return NY_STATE_FIPS + self.county_fips + self.tract_and_block(house_number)[0]

    def edge(self, house_number: int) -> Edge:
        return EDGES_BY_STREET[self][(house_number - self.low) // EDGE_LENGTH]

    @property
    def edges(self) -> tuple[Edge, ...]:
        return EDGES_BY_STREET[self]


@dataclass(frozen=True)
class Edge:
    """One TIGER edge of a street: house numbers `low`..`high` (both parities), odd ones
    on the north side, even ones on the south. Streets run east; a `reversed` edge was
    digitised westward, from its high numbers to its low ones, so its ranges descend and
    its even side is on the left."""

    street: GazetteerStreet
    index: int  # position along the street, from its low numbers
    tlid: int
    left_face: int  # TFIDL
    right_face: int  # TFIDR
    low: int
    high: int
    reversed: bool
    west: tuple[float, float]  # (longitude, latitude) of the low-number end
    east: tuple[float, float]

    @property
    def start(self) -> tuple[float, float]:
        """Where the edge was digitised from."""
        return self.east if self.reversed else self.west

    @property
    def end(self) -> tuple[float, float]:
        return self.west if self.reversed else self.east

    def numbers(self, parity: int) -> tuple[int, int]:
        """The lowest and highest house number of a parity (1 odd, 0 even) on the edge."""
        first = self.low if self.low % 2 == parity else self.low + 1
        last = self.high if self.high % 2 == parity else self.high - 1
        return first, last

    def left_parity(self) -> int:
        return 0 if self.reversed else 1

    def side(self, house_number: int) -> str:
        """The side of the edge, as digitised, the house number is on: "L" or "R"."""
        return "L" if house_number % 2 == self.left_parity() else "R"

    def face(self, house_number: int) -> int:
        return self.left_face if self.side(house_number) == "L" else self.right_face

    def point(self, house_number: int) -> tuple[float, float]:
        """A point for the house number, a little off the street on its side."""
        (west_lon, latitude), (east_lon, _) = self.west, self.east
        fraction = (house_number - self.low + 0.5) / (self.high - self.low + 1)
        offset = _POINT_OFFSET if house_number % 2 else -_POINT_OFFSET
        return west_lon + fraction * (east_lon - west_lon), latitude + offset


# Broadway appears in three boroughs on purpose: without a city or ZIP it is a Tie; Main St
# is only in Queens (tests find "35-10 Main St, Flushing" by its name alone). The streets
# after Hylan Blvd came with the TIGER/Line files: Fort Washington Ave in two segments and
# two ZIP codes, 6th Ave (Avenue of the Americas), and a tract-boundary street per borough.
# Tests pick house numbers from `low` upward, so keep every range at least 240 numbers.
STREETS: tuple[GazetteerStreet, ...] = (
    GazetteerStreet("W 42ND ST", "Manhattan", "10036", 1, 699, 11300),
    GazetteerStreet("E 42ND ST", "Manhattan", "10017", 1, 399, 9200),
    GazetteerStreet("5TH AVE", "Manhattan", "10022", 400, 999, 10200),
    GazetteerStreet("BROADWAY", "Manhattan", "10025", 2500, 2999, 19100),
    GazetteerStreet("AMSTERDAM AVE", "Manhattan", "10024", 300, 799, 16500),
    GazetteerStreet("W 125TH ST", "Manhattan", "10027", 1, 499, 22200),
    GazetteerStreet(
        "LENOX AVE", "Manhattan", "10026", 1, 599, 21800, alternate_names=("MALCOLM X BLVD",)
    ),
    GazetteerStreet("ST NICHOLAS AVE", "Manhattan", "10033", 1000, 1599, 26900),
    GazetteerStreet("CANAL ST", "Manhattan", "10013", 1, 499, 4100),
    GazetteerStreet("GRAND CONCOURSE", "Bronx", "10451", 1, 999, 6300),
    GazetteerStreet("E FORDHAM RD", "Bronx", "10458", 1, 699, 39900),
    GazetteerStreet("SOUTHERN BLVD", "Bronx", "10459", 700, 1299, 12900),
    GazetteerStreet("WHITE PLAINS RD", "Bronx", "10467", 3000, 3599, 37800),
    GazetteerStreet("FLATBUSH AVE", "Brooklyn", "11226", 600, 1199, 79400),
    GazetteerStreet("ATLANTIC AVE", "Brooklyn", "11217", 1, 799, 3300),
    GazetteerStreet("BEDFORD AVE", "Brooklyn", "11211", 1, 499, 51300),
    GazetteerStreet("BROADWAY", "Brooklyn", "11206", 700, 1199, 38900),
    GazetteerStreet("OCEAN PKWY", "Brooklyn", "11218", 1, 599, 49400),
    GazetteerStreet("4TH AVE", "Brooklyn", "11215", 100, 699, 13100),
    GazetteerStreet("NOSTRAND AVE", "Brooklyn", "11225", 500, 999, 32500),
    GazetteerStreet("QUEENS BLVD", "Queens", "11373", 8000, 8599, 46800),
    GazetteerStreet("ROOSEVELT AVE", "Queens", "11372", 7400, 7999, 28700),
    GazetteerStreet("MAIN ST", "Queens", "11354", 3500, 4099, 85300),
    GazetteerStreet("BROADWAY", "Queens", "11106", 3000, 3499, 6100),
    GazetteerStreet("JAMAICA AVE", "Queens", "11432", 15000, 15599, 44600),
    GazetteerStreet("STEINWAY ST", "Queens", "11103", 2500, 3099, 11500),
    GazetteerStreet("VICTORY BLVD", "Staten Island", "10301", 1, 599, 8100),
    GazetteerStreet("RICHMOND AVE", "Staten Island", "10314", 1500, 2099, 27702),
    GazetteerStreet("HYLAN BLVD", "Staten Island", "10305", 1, 599, 7000),
    GazetteerStreet("FT WASHINGTON AVE", "Manhattan", "10032", 100, 699, 25100),
    GazetteerStreet("FT WASHINGTON AVE", "Manhattan", "10033", 700, 1199, 27300),
    GazetteerStreet(
        "6TH AVE", "Manhattan", "10011", 400, 899, 8100, alternate_names=("AVENUE OF THE AMERICAS",)
    ),
    GazetteerStreet(
        "FREDERICK DOUGLASS BLVD",
        "Manhattan",
        "10027",
        2100,
        2699,
        21900,
        alternate_names=("8TH AVE",),
        even_tract_base=22700,
    ),
    GazetteerStreet("JEROME AVE", "Bronx", "10468", 2500, 3099, 26500, even_tract_base=40500),
    GazetteerStreet(
        "CONEY ISLAND AVE", "Brooklyn", "11230", 1000, 1599, 53000, even_tract_base=53800
    ),
    GazetteerStreet("NORTHERN BLVD", "Queens", "11372", 8000, 8599, 27100, even_tract_base=30900),
    GazetteerStreet("FOREST AVE", "Staten Island", "10310", 300, 899, 13300, even_tract_base=20700),
)


def streets_named(name: str) -> tuple[GazetteerStreet, ...]:
    """Streets with `name` (Census spelling) as their primary or an alternate name."""
    return tuple(street for street in STREETS if name in street.names)


def _edges() -> dict[GazetteerStreet, tuple[Edge, ...]]:
    edges: dict[GazetteerStreet, tuple[Edge, ...]] = {}
    rows: Counter[str] = Counter()  # streets drawn so far in each county
    serial = 0
    for position, street in enumerate(STREETS):
        west_lon, south_lat = _COUNTY_ORIGINS[street.county_fips]
        latitude = round(south_lat + _STREET_SPACING * rows[street.county_fips], 6)
        rows[street.county_fips] += 1
        built = []
        for index, low in enumerate(range(street.low, street.high + 1, EDGE_LENGTH)):
            serial += 1
            key = f"{street.name}|{street.borough}|{street.low}|{index}".encode()
            west = round(west_lon + index * _EDGE_DEGREES, 6)
            built.append(
                Edge(
                    street=street,
                    index=index,
                    tlid=59_600_000 + 1_000 * position + index,
                    left_face=210_000_000 + 2 * serial,
                    right_face=210_000_001 + 2 * serial,
                    low=low,
                    high=min(low + EDGE_LENGTH - 1, street.high),
                    # About one edge in four, and never a street's first.
                    reversed=index > 0 and zlib.crc32(key) % 4 == 0,
                    west=(west, latitude),
                    east=(round(west + _EDGE_DEGREES, 6), latitude),
                )
            )
        edges[street] = tuple(built)
    return edges


EDGES_BY_STREET = _edges()


def all_edges() -> Iterator[Edge]:
    for edges in EDGES_BY_STREET.values():
        yield from edges
