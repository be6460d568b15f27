"""The one interface every geocoding provider implements: addresses in, outcomes out.

A provider receives address parts only, never a patron id, and answers every address it
was given with an outcome: a match (with its census tract), no match, or a tie. Its
`events` count what happened on the way (requests, rows asked again, ...); they carry
counts only, never address text.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from .address import Address


class MatchStatus(StrEnum):
    """The Census batch geocoder's three answers, spelled as it spells them."""

    MATCH = "Match"
    NO_MATCH = "No_Match"
    TIE = "Tie"


@dataclass(frozen=True, slots=True)
class TractMatch:
    """Where a matched address lies. `geoid` is what PatronInfo records carry."""

    state: str  # 2-digit FIPS
    county: str  # 3-digit FIPS
    tract: str  # 6 digits
    block: str = ""  # 4 digits, when the provider knows it
    exact: bool = True
    matched_address: str = ""  # the reference data's spelling, never the patron's text
    tiger_line_id: str = ""
    side: str = ""  # "L" or "R" of the TIGER edge

    @property
    def geoid(self) -> str:
        return self.state + self.county + self.tract

    @property
    def is_well_formed(self) -> bool:
        return (
            len(self.state) == 2
            and len(self.county) == 3
            and len(self.tract) == 6
            and self.geoid.isdigit()
        )


@dataclass(frozen=True, slots=True)
class GeocodeOutcome:
    status: MatchStatus
    match: TractMatch | None = None

    @property
    def geoid(self) -> str | None:
        return self.match.geoid if self.match is not None else None

    @property
    def is_match(self) -> bool:
        return self.status is MatchStatus.MATCH and self.match is not None

    @classmethod
    def matched(cls, match: TractMatch) -> GeocodeOutcome:
        return cls(MatchStatus.MATCH, match)


NO_MATCH = GeocodeOutcome(MatchStatus.NO_MATCH)
TIE = GeocodeOutcome(MatchStatus.TIE)


@dataclass
class ProviderReply:
    outcomes: list[GeocodeOutcome]  # one per address given, in the same order
    events: Counter[str] = field(default_factory=Counter)


class GeocodingProvider(Protocol):
    name: str  # as written in the GEOCODER setting: "census", "tiger", "geosupport"

    def geocode(self, addresses: Sequence[Address]) -> ProviderReply: ...

    def close(self) -> None: ...
