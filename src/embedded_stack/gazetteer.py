"""A small NYC gazetteer shared by the synthetic Sierra (which draws addresses from it)
and the local Census geocoder (which matches addresses against it).

Each street has a range of house numbers; every block of 100 numbers lies in its own
census block of one tract, so a matched address has a deterministic 15-digit GEOID
(state 2 + county 3 + tract 6 + block 4)."""

from __future__ import annotations

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


@dataclass(frozen=True)
class GazetteerStreet:
    """A street segment: `name` is how the Census spells it (upper case, abbreviated)."""

    name: str
    borough: str
    zip_code: str
    low: int
    high: int
    tract_base: int

    @property
    def city(self) -> str:
        return BOROUGHS[self.borough][0]

    @property
    def county_fips(self) -> str:
        return BOROUGHS[self.borough][1]

    def tract_and_block(self, house_number: int) -> tuple[str, str]:
        hundred = (house_number - self.low) // 100
        tract = f"{self.tract_base + 100 * (hundred // 4):06d}"
        block = f"{1000 + hundred % 4:04d}"
        return tract, block


# Broadway appears in three boroughs on purpose: without a city or ZIP it is a Tie.
STREETS: tuple[GazetteerStreet, ...] = (
    GazetteerStreet("W 42ND ST", "Manhattan", "10036", 1, 699, 11300),
    GazetteerStreet("E 42ND ST", "Manhattan", "10017", 1, 399, 9200),
    GazetteerStreet("5TH AVE", "Manhattan", "10022", 400, 999, 10200),
    GazetteerStreet("BROADWAY", "Manhattan", "10025", 2500, 2999, 19100),
    GazetteerStreet("AMSTERDAM AVE", "Manhattan", "10024", 300, 799, 16500),
    GazetteerStreet("W 125TH ST", "Manhattan", "10027", 1, 499, 22200),
    GazetteerStreet("LENOX AVE", "Manhattan", "10026", 1, 599, 21800),
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
)
