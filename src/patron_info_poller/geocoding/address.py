"""A patron's address as sent to the Census geocoder, and the second try at it.

Address parts are private: they go to the geocoder and nowhere else, so `Address`
never shows them in its repr (a repr can end up in a traceback or a log line).
"""

from __future__ import annotations

import re
from dataclasses import astuple, dataclass

from unidecode import unidecode

from .street_line import tag_components

_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# A cell starting with one of these is a formula to a spreadsheet; "-12" is still a number.
_FORMULA_LEAD = re.compile(r"^(?:[=+@ ]|-(?!\d))+")

# The usaddress labels that make up the street line the geocoder wants; occupancy
# (apartment, floor, suite) only keeps an address from matching.
_STREET_LABELS = (
    "AddressNumber",
    "StreetNamePreModifier",
    "StreetNamePreDirectional",
    "StreetNamePreType",
    "StreetName",
    "StreetNamePostType",
    "StreetNamePostDirectional",
)
_ZIP5 = re.compile(r"\d{5}")
# "$" is Sierra's subfield separator, left in some lines by data migrations.
_LINE_BREAKS = re.compile(r"\s*[$;|]\s*")


def csv_safe(text: str) -> str:
    """One line of plain text that no spreadsheet would read as a formula."""
    text = " ".join(_CONTROL_CHARACTERS.sub(" ", text).split())
    return _FORMULA_LEAD.sub("", text)


@dataclass(frozen=True, slots=True, repr=False)
class Address:
    """Trimmed address parts; a NULL column is ""."""

    addr1: str
    city: str
    region: str
    postal_code: str

    @classmethod
    def from_row(
        cls, addr1: str | None, city: str | None, region: str | None, postal_code: str | None
    ) -> Address:
        return cls(*((part or "").strip() for part in (addr1, city, region, postal_code)))

    @property
    def is_empty(self) -> bool:
        return not (self.addr1 or self.city or self.region or self.postal_code)

    def cleaned(self) -> Address:
        """The parts as they may go into the geocoder's CSV file."""
        return Address(
            csv_safe(self.addr1),
            csv_safe(self.city),
            csv_safe(self.region),
            csv_safe(self.postal_code),
        )

    def __repr__(self) -> str:
        return "Address(<redacted>)"


def reformat(address: Address) -> Address | None:
    """Re-split an address the geocoder could not match, or None if that gains nothing.

    Patrons often type the whole address into the first line ("123 Main St Apt 4, Queens
    NY 11354") or add a unit number; usaddress splits the line into its parts again.
    """
    cleaned = address.cleaned()
    if cleaned.is_empty:
        return None
    ascii_parts = Address(*(_plain(part) for part in astuple(cleaned)))
    state_and_zip = f"{ascii_parts.region} {ascii_parts.postal_code}".strip()
    line = ", ".join(part for part in (ascii_parts.addr1, ascii_parts.city, state_and_zip) if part)
    components = tag_components(line)
    zip_code = _ZIP5.match(components.get("ZipCode", ""))
    result = Address(
        addr1=" ".join(components[label] for label in _STREET_LABELS if label in components),
        city=components.get("PlaceName") or ascii_parts.city,
        region=components.get("StateName") or ascii_parts.region,
        postal_code=zip_code.group() if zip_code else ascii_parts.postal_code,
    ).cleaned()
    # Without a street line the geocoder has nothing to match.
    if not result.addr1 or result == cleaned:
        return None
    return result


def _plain(part: str) -> str:
    return csv_safe(_LINE_BREAKS.sub(", ", unidecode(part)).replace('"', " ")).strip(" ,")
