"""House numbers as comparable integers: a patron's "37-12" or "12A", TIGER's range ends.

Queens numbers are hyphenated: "37-12" is the 12th lot on the 37th block, and sorts as
3712. TIGER may store it with or without the hyphen, so both read as 3712 (the part after
the hyphen always has two digits: "37-2" is "37-02"). A letter or a fraction after the
number ("12A", "12-A", "12 1/2") names part of lot 12, which lies where 12 does.
"""

from __future__ import annotations

import re

from unidecode import unidecode

_HOUSE_NUMBER = re.compile(
    r"""
    (?P<lead>\d{1,6})
    (?:\s*-\s*(?P<lot>\d{1,2}))?          # Queens: block-lot
    (?:\s*-?\s*[A-Z]                      # 12A, 12-A, 12 A
      |\s*-?\s*\d/\d                      # 12 1/2, 12-1/2
    )?
    """,
    re.VERBOSE,
)


def parse_house_number(text: str) -> int | None:
    """The comparable value of a house number, or None if it is not one."""
    if text.isdecimal() and text.isascii() and len(text) <= 6:
        return int(text)  # most numbers: no regex needed
    if not text.isascii():
        text = unidecode(text)  # full-width digits, "½", en dashes
    match = _HOUSE_NUMBER.fullmatch(text.strip(" .,").upper())
    if match is None:
        return None
    lead, lot = match["lead"], match["lot"]
    return int(lead) if lot is None else int(lead) * 100 + int(lot)


def is_queens_style(text: str) -> bool:
    """True for a hyphenated block-lot number such as TIGER's "37-12"."""
    if not text.isascii():
        text = unidecode(text)
    match = _HOUSE_NUMBER.fullmatch(text.strip(" .,").upper())
    return match is not None and match["lot"] is not None


def format_house_number(value: int, queens_style: bool) -> str:
    """A parsed number spelled the way the reference data spells its range."""
    return f"{value // 100}-{value % 100:02d}" if queens_style and value >= 100 else str(value)
