"""A patron's first address line split into house number and street name.

Most lines are plain ("123 W 42nd St", "37-12 Main Street, Apt 4B") and a regular
expression splits them in a few microseconds; anything else (a whole address jammed into
the line, a building name first, odd punctuation) goes to usaddress, which is ~20 times
slower. Callers that can tell a wrong split (a street name their data does not know) try
`tagged_street_line` after `plain_street_line`; `parse_street_line` is the one-call form.
"""

from __future__ import annotations

import re
from typing import NamedTuple

import usaddress
from unidecode import unidecode

from .house_numbers import parse_house_number


class StreetLine(NamedTuple):  # a tuple: built for every address, so cheap to build
    house_number: int | None  # comparable value (house_numbers.py); None for no number
    house_text: str  # the number as written, e.g. "37-12" or "12A"
    street: str  # the street name without number or unit, upper case: "W 42ND ST"
    # When the line held the rest of the address too ("..., Queens NY 11354"):
    city: str = ""
    state: str = ""
    zip_code: str = ""
    po_box: bool = False
    tagged: bool = False  # usaddress split it
    # The fast path stops at the first comma (or " - ") after the street and unit; what
    # follows may be more units, a care-of line, or the city, state and ZIP.
    rest: str = ""

    def __repr__(self) -> str:  # address parts never go into a repr (tracebacks, logs)
        return "StreetLine(<redacted>)"


# "$" is Sierra's subfield separator, left in some lines by data migrations.
_LINE_BREAKS = re.compile(r"\s*[$;|]\s*")
_PO_BOX = re.compile(
    r"(?:P\.?\s?O\.?\s?(?:BOX|B\b|\d)|POST\s+OFFICE\s+BOX|BOX\s*#?\d|POB\s*#?\d|G\.?P\.?O\.?\s?BOX)"
)
_UNIT = r"(?:APT|APARTMENT|UNIT|FL|FLR|FLOOR|STE|SUITE|RM|ROOM|PH|BSMT|BASEMENT)\.?\ ?\#?"
_PLAIN = re.compile(
    rf"""
    (?P<number>\d{{1,6}}(?:-\d{{1,2}})?(?:-?[A-DF-MO-RT-VX-Z])?(?:[\ -]1/2)?)
    \ (?P<street>[A-Z0-9][A-Z0-9'.\ -]*?)
    (?:,?\ (?:{_UNIT}|\#)\ ?[A-Z0-9-]{{1,8}})?    # one unit: "APT 4B", "#3", "FL 2"
    \.?
    (?:(?:,|\ -)\ ?(?P<rest>.*))?
    """,
    re.VERBOSE,
)
# What follows the street in a jammed line: "New York, NY 10022", "Bronx NY", "NY 10451".
_CITY_STATE_ZIP = re.compile(
    r"""
    (?:(?P<city>[A-Z][A-Z.'\ ]*?),?\ )?
    (?P<state>[A-Z]{2}|[A-Z]\.[A-Z]\.)
    (?:,?\ (?P<zip>\d{5})(?:[-\ ]?\d{4})?)?
    """,
    re.VERBOSE,
)
_STREET_LABELS = frozenset(
    {
        "StreetNamePreModifier",
        "StreetNamePreDirectional",
        "StreetNamePreType",
        "StreetName",
        "StreetNamePostType",
        "StreetNamePostDirectional",
    }
)


def prepared(line: str) -> str:
    """ASCII, one space between words, separators as commas, no quotes."""
    if not line.isascii():
        line = unidecode(line)  # full-width digits, no-break spaces, en dashes
    if "$" in line or ";" in line or "|" in line:  # cheaper than the regex on every line
        line = _LINE_BREAKS.sub(", ", line)
    if '"' in line:
        line = line.replace('"', " ")
    return " ".join(line.split()).strip(" ,")


def parse_street_line(line: str) -> StreetLine | None:
    """The line split into its parts, or None for an empty line."""
    return plain_street_line(line) or tagged_street_line(line)


def plain_street_line(line: str) -> StreetLine | None:
    """The fast path: None unless the line starts "number street [unit]", then ends or
    goes on after a comma (kept in `rest`)."""
    text = prepared(line).upper()
    if not text[:1].isdigit():
        return StreetLine(None, "", "", po_box=True) if _PO_BOX.match(text) else None
    plain = _PLAIN.fullmatch(text)
    if plain is None:
        return None
    rest = (plain["rest"] or "").strip(" ,")
    tail = _CITY_STATE_ZIP.fullmatch(rest) if rest else None
    if tail is not None and (tail["city"] or tail["zip"]):
        return StreetLine(
            parse_house_number(plain["number"]),
            plain["number"],
            plain["street"],
            city=tail["city"] or "",
            state=tail["state"],
            zip_code=tail["zip"] or "",
            rest=rest,
        )
    return StreetLine(
        parse_house_number(plain["number"]), plain["number"], plain["street"], rest=rest
    )


def tagged_street_line(line: str) -> StreetLine | None:
    """The slow path, through usaddress; None for an empty line."""
    text = prepared(line)
    if not text:
        return None
    if _PO_BOX.match(text.upper()):
        return StreetLine(None, "", "", po_box=True)
    parts = tag_components(text)
    if "AddressNumber" not in parts and ("USPSBoxID" in parts or "USPSBoxType" in parts):
        return StreetLine(None, "", "", po_box=True, tagged=True)
    house_text = parts.get("AddressNumber", "").upper()
    street = " ".join(value for label, value in parts.items() if label in _STREET_LABELS)
    return StreetLine(
        parse_house_number(house_text) if house_text else None,
        house_text,
        street.upper(),
        city=parts.get("PlaceName", ""),
        state=parts.get("StateName", ""),
        zip_code=parts.get("ZipCode", ""),
        tagged=True,
    )


def tag_components(text: str) -> dict[str, str]:
    """usaddress's labels in the line's order; on a repeated label, its first run."""
    try:
        tagged, _kind = usaddress.tag(text)
        return {label: value.strip(" ,;") for label, value in tagged.items()}
    except usaddress.RepeatedLabelError:
        runs: dict[str, list[str]] = {}
        closed: set[str] = set()
        previous = None
        for token, label in usaddress.parse(text):
            if previous is not None and label != previous:
                closed.add(previous)
            if label not in closed:
                runs.setdefault(label, []).append(token.strip(" ,;"))
            previous = label
        return {label: " ".join(filter(None, tokens)) for label, tokens in runs.items()}
