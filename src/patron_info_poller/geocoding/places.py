"""What a patron's city and state columns say about where to look.

A city that pins a county narrows the search when the ZIP cannot: NYC's borough names and
the USPS city names mail uses in them. "NYC" names all five boroughs and so pins none. A
state column naming another state rules the index out (its counties are all elsewhere).
"""

from __future__ import annotations

import re
from functools import lru_cache

from unidecode import unidecode

NY_STATE_FIPS = "36"

_BOROUGH_PLACES = {
    "061": ("NEW YORK", "MANHATTAN"),
    "005": ("BRONX", "THE BRONX"),
    "047": ("BROOKLYN", "BKLYN"),
    "085": ("STATEN ISLAND",),
    # Queens mail is addressed to neighbourhoods (USPS city names). Left out on purpose:
    # names shared with Nassau County (Floral Park, Bellerose, New Hyde Park).
    "081": (
        "QUEENS",
        "ARVERNE",
        "ASTORIA",
        "BAYSIDE",
        "BREEZY POINT",
        "BRIARWOOD",
        "CAMBRIA HEIGHTS",
        "COLLEGE POINT",
        "CORONA",
        "DOUGLASTON",
        "EAST ELMHURST",
        "ELMHURST",
        "FAR ROCKAWAY",
        "FLUSHING",
        "FOREST HILLS",
        "FRESH MEADOWS",
        "GLEN OAKS",
        "GLENDALE",
        "HOLLIS",
        "HOWARD BEACH",
        "JACKSON HEIGHTS",
        "JAMAICA",
        "KEW GARDENS",
        "LAURELTON",
        "LITTLE NECK",
        "LONG ISLAND CITY",
        "LIC",
        "MASPETH",
        "MIDDLE VILLAGE",
        "OAKLAND GARDENS",
        "OZONE PARK",
        "QUEENS VILLAGE",
        "REGO PARK",
        "RICHMOND HILL",
        "RIDGEWOOD",
        "ROCKAWAY PARK",
        "ROSEDALE",
        "SAINT ALBANS",
        "SOUTH OZONE PARK",
        "SOUTH RICHMOND HILL",
        "SPRINGFIELD GARDENS",
        "SUNNYSIDE",
        "WHITESTONE",
        "WOODHAVEN",
        "WOODSIDE",
    ),
}
_COUNTY_BY_PLACE = {place: county for county, places in _BOROUGH_PLACES.items() for place in places}
# Known names that cover the whole city: they pin no county, but they are not unknown.
_CITYWIDE = frozenset({"NYC", "NEW YORK CITY", "NY", "CITY OF NEW YORK"})

_STATE_FIPS = {
    "AL": "01", "AK": "02", "AZ": "04", "AR": "05", "CA": "06", "CO": "08", "CT": "09",
    "DE": "10", "DC": "11", "FL": "12", "GA": "13", "HI": "15", "ID": "16", "IL": "17",
    "IN": "18", "IA": "19", "KS": "20", "KY": "21", "LA": "22", "ME": "23", "MD": "24",
    "MA": "25", "MI": "26", "MN": "27", "MS": "28", "MO": "29", "MT": "30", "NE": "31",
    "NV": "32", "NH": "33", "NJ": "34", "NM": "35", "NY": "36", "NC": "37", "ND": "38",
    "OH": "39", "OK": "40", "OR": "41", "PA": "42", "RI": "44", "SC": "45", "SD": "46",
    "TN": "47", "TX": "48", "UT": "49", "VT": "50", "VA": "51", "WA": "53", "WV": "54",
    "WI": "55", "WY": "56", "AS": "60", "GU": "66", "MP": "69", "PR": "72", "VI": "78",
}  # fmt: skip
_STATE_NAMES = {
    "ALABAMA": "AL", "ALASKA": "AK", "ARIZONA": "AZ", "ARKANSAS": "AR", "CALIFORNIA": "CA",
    "COLORADO": "CO", "CONNECTICUT": "CT", "DELAWARE": "DE", "DISTRICT OF COLUMBIA": "DC",
    "FLORIDA": "FL", "GEORGIA": "GA", "HAWAII": "HI", "IDAHO": "ID", "ILLINOIS": "IL",
    "INDIANA": "IN", "IOWA": "IA", "KANSAS": "KS", "KENTUCKY": "KY", "LOUISIANA": "LA",
    "MAINE": "ME", "MARYLAND": "MD", "MASSACHUSETTS": "MA", "MICHIGAN": "MI",
    "MINNESOTA": "MN", "MISSISSIPPI": "MS", "MISSOURI": "MO", "MONTANA": "MT",
    "NEBRASKA": "NE", "NEVADA": "NV", "NEW HAMPSHIRE": "NH", "NEW JERSEY": "NJ",
    "NEW MEXICO": "NM", "NEW YORK": "NY", "NEW YORK STATE": "NY", "NYS": "NY", "NYC": "NY",
    "NORTH CAROLINA": "NC", "NORTH DAKOTA": "ND", "OHIO": "OH", "OKLAHOMA": "OK",
    "OREGON": "OR", "PENNSYLVANIA": "PA", "RHODE ISLAND": "RI", "SOUTH CAROLINA": "SC",
    "SOUTH DAKOTA": "SD", "TENNESSEE": "TN", "TEXAS": "TX", "UTAH": "UT", "VERMONT": "VT",
    "VIRGINIA": "VA", "WASHINGTON": "WA", "WEST VIRGINIA": "WV", "WISCONSIN": "WI",
    "WYOMING": "WY", "PUERTO RICO": "PR",
}  # fmt: skip

_NON_WORD = re.compile(r"[^A-Z]+")
# "Brooklyn, NY" in the city column: the state rides along and is dropped.
_TRAILING_STATE = re.compile(r"(?<=\S) (?:NY|N Y|NEW YORK)$")


def place_name(text: str) -> str:
    """Upper-case ASCII words, no punctuation: "St. Albans" -> "ST ALBANS"."""
    if not text.isascii():
        text = unidecode(text)
    return " ".join(_NON_WORD.sub(" ", text.upper().replace("'", "")).split())


def _city_words(city: str) -> str:
    name = place_name(city)
    if name.startswith("ST "):
        name = "SAINT " + name[3:]
    if name in _COUNTY_BY_PLACE or name in _CITYWIDE:
        return name
    return _TRAILING_STATE.sub("", name)


@lru_cache(maxsize=4096)  # few distinct spellings, looked up for every address
def county_of_city(city: str) -> str | None:
    """The 3-digit county FIPS code (in New York State, NY_STATE_FIPS) a city name pins:
    "Brooklyn" -> "047", "Flushing" -> "081"; None if it pins none."""
    return _COUNTY_BY_PLACE.get(_city_words(city))


@lru_cache(maxsize=4096)  # few distinct spellings, looked up for every address
def is_citywide(city: str) -> bool:
    """True for a known name of all of NYC ("NYC", "New York City"): it pins no county."""
    return _city_words(city) in _CITYWIDE


@lru_cache(maxsize=4096)  # few distinct spellings, looked up for every address
def state_fips_for_region(region: str) -> str | None:
    """The 2-digit state FIPS code of a state column ("NY", "N.Y.", "New York"), or None."""
    name = place_name(region)
    code = _STATE_NAMES.get(name, name.replace(" ", ""))
    return _STATE_FIPS.get(code)
