"""From an address to its census tract, on the TIGER index, the way the Census geocoder
does it: the street line's number and name, the address ranges of that name holding the
number on a side of the right parity, that side's face, the face's tract.

A wrong tract is worse than none, so an address matches only when its candidates agree:
1. with a 5-digit ZIP, the candidates are the ranges whose side has that ZIP;
2. with no ZIP, or none of the candidates having it, the city's county (places.py) if the
   city pins one, else every county; the candidates must all lie in one tract, else Tie;
3. when neither ZIP nor city narrowed the search and the street name is in more than one
   county, it is a Tie even if only one county's ranges hold the number ("2600 Broadway"
   with no city or ZIP), as the Census service answers;
4. no candidate, no house number, a PO box: No_Match.
Where rule 2 would have to guess, it does not: a state column naming a state outside the
index, a ZIP whose 3-digit prefix no indexed range has, or a city that is neither blank
nor known (places.py) leave only the ZIP-confirmed candidates of rule 1, since such an
address most likely lies outside the indexed counties ("10 Washington St, Hoboken").
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Sequence

from unidecode import unidecode

from .address import Address
from .house_numbers import format_house_number
from .places import NY_STATE_FIPS, county_of_city, is_citywide, state_fips_for_region
from .provider import NO_MATCH, TIE, GeocodeOutcome, TractMatch
from .street_line import StreetLine, plain_street_line, tagged_street_line
from .street_names import street_key
from .tiger_index import AddressRange, StreetRanges, TigerIndex

_ZIP = re.compile(r"(\d{5})(?:[- ]?\d{4})?")
# Events of callers that do not count them: a few keys whose counts nobody reads.
_UNCOUNTED: Counter[str] = Counter()


class TigerMatcher:
    def __init__(self, index: TigerIndex):
        self._index = index
        self._streets = index.streets

    def match(self, address: Address, events: Counter[str] | None = None) -> GeocodeOutcome:
        """The outcome for one address; `events` (if given) counts what happened, by name.

        The parts are used as given (the chain passes them cleaned); control characters
        or stray punctuation only send a line down the slow path."""
        if events is None:
            events = _UNCOUNTED
        addr1, city, postal_code = address.addr1.strip(), address.city, address.postal_code
        if not addr1:
            return NO_MATCH
        line, street = self._street(addr1, bool(city.strip() and postal_code.strip()), events)
        if line is None or street is None:
            return NO_MATCH
        if line.house_number is None:
            events["no_house_number"] += 1
            return NO_MATCH
        state = state_fips_for_region(address.region or line.state)
        if state is not None and state not in self._index.states:
            events["outside_index_state"] += 1
            return NO_MATCH
        return self._decide(
            line.house_number,
            street,
            _zip5(postal_code or line.zip_code),
            city.strip() or line.city,
            events,
        )

    def _street(
        self, addr1: str, columns_complete: bool, events: Counter[str]
    ) -> tuple[StreetLine | None, StreetRanges | None]:
        """The parsed line and the ranges of its street. usaddress splits the line only
        when the fast path cannot, or when its split may be wrong (a street the index
        does not know, though it knows the first words of it) or incomplete (the line
        goes on after the street, in no form the fast path reads, while the city or ZIP
        column is empty)."""
        line = plain_street_line(addr1)
        if line is not None:
            if line.po_box:
                events["po_box"] += 1
                return None, None
            street = self._streets.get(street_key(line.street))
            if street is not None and (
                columns_complete or not line.rest or line.city or line.zip_code
            ):
                return line, street
            if street is None and not line.rest and not self._starts_with_street(line.street):
                events["unknown_street"] += 1
                return None, None
        events["usaddress"] += 1
        tagged = tagged_street_line(addr1)
        if tagged is None:
            return None, None
        if tagged.po_box:
            events["po_box"] += 1
            return None, None
        street = self._streets.get(street_key(tagged.street))
        if street is None:
            events["unknown_street"] += 1
        return tagged, street

    def _starts_with_street(self, name: str) -> bool:
        """True if the first words of `name` are a street the index knows ("MAIN ST" of
        "MAIN ST QUEENS NY"): then the fast path took too much for the street."""
        words = name.split()
        return any(
            street_key(" ".join(words[:count])) in self._streets for count in range(1, len(words))
        )

    def _decide(
        self,
        number: int,
        street: StreetRanges,
        zip_code: str,
        city: str,
        events: Counter[str],
    ) -> GeocodeOutcome:
        holding = street.holding(number)
        if zip_code:
            confirmed = [r for r in holding if r.zip_code == zip_code]
            if confirmed:
                return _agreed(confirmed, number, exact=True)
            if zip_code[:3] not in self._index.zip_prefixes:
                events["outside_index_zip"] += 1
                return NO_MATCH
        county = county_of_city(city)
        if county is not None:
            events["city_county_fallback"] += 1
            pinned = NY_STATE_FIPS + county
            return _agreed([r for r in holding if r.county == pinned], number, exact=False)
        if city and not is_citywide(city):
            events["unknown_city"] += 1
            return NO_MATCH
        if holding and len(street.counties) > 1:
            events["street_in_several_counties"] += 1
            return TIE
        return _agreed(holding, number, exact=False)


def _agreed(candidates: list[AddressRange], number: int, *, exact: bool) -> GeocodeOutcome:
    """A match if every candidate lies in one tract, a Tie if they disagree."""
    if not candidates:
        return NO_MATCH
    first = candidates[0]
    if len(candidates) > 1:
        first = min(candidates, key=_range_order)
        face = first.face
        for other in candidates:
            if other.face is not face and (
                other.face.tract != face.tract
                or other.face.county != face.county
                or other.face.state != face.state
            ):
                return TIE
        same_block = all(other.face.block == face.block for other in candidates)
    else:
        face, same_block = first.face, True
    number_text = format_house_number(number, first.queens_style)
    zip_part = f", {first.zip_code}" if first.zip_code else ""
    return GeocodeOutcome.matched(
        TractMatch(
            state=face.state,
            county=face.county,
            tract=face.tract,
            block=face.block if same_block else "",
            exact=exact,
            matched_address=f"{number_text} {first.full_name}{zip_part}",
            tiger_line_id=str(first.tlid),
            side=first.side,
        )
    )


def _range_order(candidate: AddressRange) -> tuple[int, str]:
    return candidate.tlid, candidate.side


def _zip5(postal_code: str) -> str:
    """The 5-digit ZIP of "10036", "10036-1234" or "10036 1234"; "" for anything else."""
    text = postal_code if postal_code.isascii() else unidecode(postal_code)
    match = _ZIP.fullmatch(text.strip())
    return match[1] if match else ""


def lookups_per_second(
    matcher: TigerMatcher, addresses: Sequence[Address], seconds: float
) -> float:
    """Lookups per CPU second of this thread (one core), over `addresses`, cycled until
    `seconds` of wall time pass. CPU time, not wall time: other work on the machine
    (or other threads of the process) does not lower the figure.

    The matcher caches no whole address, only normalised street names and city and state
    spellings (a patron file repeats those anyway), so cycling the list does not flatter
    the figure; the name cache is emptied first so that warming it up is measured too."""
    if not addresses:
        raise ValueError("no addresses to look up")
    street_key.cache_clear()
    done = 0
    deadline = time.perf_counter() + seconds
    started = time.thread_time()
    while True:
        for address in addresses:
            matcher.match(address)
        done += len(addresses)
        if time.perf_counter() >= deadline:
            return done / max(time.thread_time() - started, 1e-9)
