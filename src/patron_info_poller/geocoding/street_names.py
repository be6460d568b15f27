"""One street-name key for the index build and for lookups alike.

A patron's "West 42nd Street" and TIGER's "W 42nd St" must meet on the same key, so both
sides go through `street_key` and nothing else. The key is upper case ASCII words with
suffixes, directionals and ordinals in one spelling each; it is only ever compared, never
shown, so any spelling works as long as it is the same on both sides.
"""

from __future__ import annotations

import re
from functools import lru_cache

from unidecode import unidecode

# Street types, USPS abbreviations (TIGER's FULLNAME uses these).
_STREET_TYPES = {
    "ALLEY": "ALY",
    "ALY": "ALY",
    "AVENUE": "AVE",
    "AVE": "AVE",
    "AV": "AVE",
    "AVN": "AVE",
    "AVEN": "AVE",
    "BOULEVARD": "BLVD",
    "BLVD": "BLVD",
    "BOUL": "BLVD",
    "BLV": "BLVD",
    "BRIDGE": "BRG",
    "BRG": "BRG",
    "CIRCLE": "CIR",
    "CIR": "CIR",
    "CONC": "CONCOURSE",
    "CONCOURSE": "CONCOURSE",
    "COURT": "CT",
    "CT": "CT",
    "CRESCENT": "CRES",
    "CRES": "CRES",
    "DRIVE": "DR",
    "DR": "DR",
    "DRV": "DR",
    "EXPRESSWAY": "EXPY",
    "EXPY": "EXPY",
    "EXPWY": "EXPY",
    "GARDENS": "GDNS",
    "GDNS": "GDNS",
    "HEIGHTS": "HTS",
    "HTS": "HTS",
    "HIGHWAY": "HWY",
    "HWY": "HWY",
    "LANE": "LN",
    "LN": "LN",
    "PARKWAY": "PKWY",
    "PKWY": "PKWY",
    "PKY": "PKWY",
    "PARKWY": "PKWY",
    "PKWAY": "PKWY",
    "PLACE": "PL",
    "PL": "PL",
    "PLAZA": "PLZ",
    "PLZ": "PLZ",
    "PLZA": "PLZ",
    "ROAD": "RD",
    "RD": "RD",
    "SQUARE": "SQ",
    "SQ": "SQ",
    "STREET": "ST",
    "STR": "ST",
    "TERRACE": "TER",
    "TER": "TER",
    "TERR": "TER",
    "TURNPIKE": "TPKE",
    "TPKE": "TPKE",
    "TURNPK": "TPKE",
}
_DIRECTIONALS = {
    "NORTH": "N",
    "SOUTH": "S",
    "EAST": "E",
    "WEST": "W",
    "NORTHEAST": "NE",
    "NORTHWEST": "NW",
    "SOUTHEAST": "SE",
    "SOUTHWEST": "SW",
}
_ORDINAL_WORDS = {
    "FIRST": "1",
    "SECOND": "2",
    "THIRD": "3",
    "FOURTH": "4",
    "FIFTH": "5",
    "SIXTH": "6",
    "SEVENTH": "7",
    "EIGHTH": "8",
    "NINTH": "9",
    "TENTH": "10",
    "ELEVENTH": "11",
    "TWELFTH": "12",
}
_PREFIX_WORDS = {
    "FORT": "FT",
    "MOUNT": "MT",
    # NYC's own abbreviations of Broadway.
    "BWAY": "BROADWAY",
    "BDWY": "BROADWAY",
    "BRDWY": "BROADWAY",
}
_WORDS = {
    **_STREET_TYPES,
    **_DIRECTIONALS,
    **{short: short for short in _DIRECTIONALS.values()},
    **_ORDINAL_WORDS,
    **_PREFIX_WORDS,
}
_SAINT = "SAINT"
_DIRECTIONAL_WORDS = frozenset(_DIRECTIONALS) | frozenset(_DIRECTIONALS.values())
_ORDINAL = re.compile(r"(\d+)(?:ST|ND|RD|TH|D)?")
# Apostrophes vanish ("O'Brien" is one word); every other non-alphanumeric splits words.
_APOSTROPHES = re.compile(r"['`\u2019]")
_SEPARATORS = re.compile(r"[^A-Z0-9]+")


@lru_cache(maxsize=65_536)
def street_key(name: str) -> str:
    """The comparable key of a street name: "West 42nd Street" -> "W 42 ST"."""
    text = name if name.isascii() else unidecode(name)
    words = _SEPARATORS.sub(" ", _APOSTROPHES.sub("", text.upper())).split()
    return " ".join(_key_word(words, position) for position in range(len(words)))


def _key_word(words: list[str], position: int) -> str:
    word = words[position]
    # Any spelling that keys to ST ("STR", "STREET") follows the same rule, so that a key
    # keys to itself.
    if word == _SAINT or _WORDS.get(word, word) == "ST":
        # "St Nicholas Ave" is Saint; "W 42nd St" and "Main St E" are Street: ST is a
        # prefix exactly when a name word (not just a directional) follows it.
        follows = words[position + 1 :]
        if word == _SAINT or any(later not in _DIRECTIONAL_WORDS for later in follows):
            return _SAINT
        return "ST"
    ordinal = _ORDINAL.fullmatch(word)
    if ordinal:
        # No int(): a digit run of any length keeps its value without leading zeros.
        return ordinal[1].lstrip("0") or "0"
    return _WORDS.get(word, word)
