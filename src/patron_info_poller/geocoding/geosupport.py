"""NYC's Geosupport (Department of City Planning) as a provider, through the optional
`python-geosupport` package: local, like the TIGER index, for deployments that have
Geosupport Desktop Edition installed. Thin on purpose: it can be tested here only with a
fake, so it only turns an address into Function 1B's inputs and its output into a tract.

Function 1B's "2020 Census Tract" is six characters: a four-digit base and a two-digit
suffix. python-geosupport strips blanks, so "31" (tract 31) and "3101" (tract 31.01, or
3101?) cannot always be told apart; only unambiguous forms are read (zero-filled six
digits, or base.suffix), and anything else is no match, counted as `tract_unreadable`.
A wrong tract is worse than none.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from patron_info_poller.errors import ConfigurationError

from .address import Address
from .places import county_of_city
from .provider import NO_MATCH, GeocodeOutcome, ProviderReply, TractMatch
from .street_line import parse_street_line

NY_STATE_FIPS = "36"
# Geosupport's borough codes and the counties they are.
BOROUGH_COUNTIES = {"1": "061", "2": "005", "3": "047", "4": "081", "5": "085"}
_ZERO_FILLED = re.compile(r"\d{6}")
_DECIMAL = re.compile(r"(\d{1,4})\.(\d{2})")

GeosupportCall = Callable[..., dict[str, Any]]


class GeosupportGeocoder:
    name = "geosupport"

    def __init__(self, call: GeosupportCall, error_type: type[Exception]):
        """`call(function=..., **inputs)` is `geosupport.Geosupport().call`; `error_type`
        is `geosupport.GeosupportError` (raised for addresses it cannot place)."""
        self._call = call
        self._error_type = error_type

    @classmethod
    def load(cls) -> GeosupportGeocoder:
        try:
            from geosupport import Geosupport, GeosupportError  # type: ignore[import-not-found]

            library = Geosupport()
        except Exception as exc:  # ImportError, or the library not finding Geosupport
            raise ConfigurationError(
                "GEOCODER names geosupport, but python-geosupport could not load NYC's "
                f"Geosupport ({type(exc).__name__}): install Geosupport Desktop Edition and "
                "`pip install python-geosupport`, or remove geosupport from GEOCODER"
            ) from exc
        return cls(library.call, GeosupportError)

    def geocode(self, addresses: Sequence[Address]) -> ProviderReply:
        events: Counter[str] = Counter()
        return ProviderReply([self._geocode_one(a, events) for a in addresses], events)

    def _geocode_one(self, address: Address, events: Counter[str]) -> GeocodeOutcome:
        line = parse_street_line(address.addr1)
        if line is None or line.house_number is None:
            return NO_MATCH
        inputs: dict[str, Any] = {"house_number": line.house_text, "street_name": line.street}
        zip_code = address.postal_code[:5]
        county = county_of_city(address.city)
        if zip_code.isdigit() and len(zip_code) == 5:
            inputs["zip_code"] = zip_code
        elif county is not None:
            inputs["borough_code"] = next(b for b, c in BOROUGH_COUNTIES.items() if c == county)
        else:
            return NO_MATCH  # Geosupport needs a borough or a ZIP to place an address
        try:
            result = self._call(function="1B", **inputs)
        except self._error_type:
            return NO_MATCH
        borough = str(result.get("BOROUGH BLOCK LOT (BBL)", {}).get("Borough Code", "")).strip()
        tract = readable_tract(str(result.get("2020 Census Tract", "")))
        if borough not in BOROUGH_COUNTIES or tract is None:
            events["tract_unreadable"] += 1
            return NO_MATCH
        block = str(result.get("2020 Census Block", "")).strip()
        return GeocodeOutcome.matched(
            TractMatch(
                state=NY_STATE_FIPS,
                county=BOROUGH_COUNTIES[borough],
                tract=tract,
                block=block if block.isdigit() and len(block) == 4 else "",
                exact=True,
            )
        )

    def close(self) -> None:
        """Geosupport holds nothing open between calls."""


def readable_tract(value: str) -> str | None:
    """The 6-digit tract code, or None when the value is ambiguous or malformed."""
    value = value.strip()
    if _ZERO_FILLED.fullmatch(value):
        return value
    decimal = _DECIMAL.fullmatch(value)
    if decimal:
        return decimal[1].zfill(4) + decimal[2]
    return None
