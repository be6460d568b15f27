"""Providers in order (the GEOCODER setting): each gets only what the ones before it left
unmatched, so with `tiger,census` an address the offline index matched never leaves the
process. Empty addresses go to no provider at all.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from .address import Address
from .provider import GeocodeOutcome, GeocodingProvider, MatchStatus

logger = logging.getLogger(__name__)


@dataclass
class ProviderTally:
    """What one provider was asked and answered: requested = matched + unmatched + ties."""

    requested: int = 0
    matched: int = 0
    unmatched: int = 0
    ties: int = 0
    events: Counter[str] = field(default_factory=Counter)

    def add(self, other: ProviderTally) -> None:
        self.requested += other.requested
        self.matched += other.matched
        self.unmatched += other.unmatched
        self.ties += other.ties
        self.events.update(other.events)

    def as_dict(self) -> dict[str, object]:
        return {
            "requested": self.requested,
            "matched": self.matched,
            "unmatched": self.unmatched,
            "ties": self.ties,
            **{name: count for name, count in sorted(self.events.items()) if count},
        }


@dataclass
class ChainResult:
    geoids: list[str | None]  # aligned with the addresses given
    by_provider: dict[str, ProviderTally]
    requested: int  # non-empty addresses
    matched: int


class GeocoderChain:
    def __init__(self, providers: Sequence[GeocodingProvider]):
        if not providers:
            raise ValueError("a geocoder chain needs at least one provider")
        self.providers = tuple(providers)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(provider.name for provider in self.providers)

    def geocode(self, addresses: Sequence[Address]) -> ChainResult:
        cleaned = [address.cleaned() for address in addresses]
        outcomes: list[GeocodeOutcome | None] = [None] * len(addresses)
        pending = [index for index, address in enumerate(cleaned) if not address.is_empty]
        requested = len(pending)
        tallies = {provider.name: ProviderTally() for provider in self.providers}
        for provider in self.providers:
            if not pending:
                break
            reply = provider.geocode([cleaned[index] for index in pending])
            if len(reply.outcomes) != len(pending):
                raise AssertionError(f"{provider.name} answered the wrong number of addresses")
            tally = tallies[provider.name]
            tally.requested += len(pending)
            tally.events.update(reply.events)
            for index, outcome in zip(pending, reply.outcomes, strict=True):
                outcomes[index] = outcome
                if outcome.is_match:
                    tally.matched += 1
                elif outcome.status is MatchStatus.TIE:
                    tally.ties += 1
                else:
                    tally.unmatched += 1
            pending = [index for index in pending if not outcomes[index].is_match]  # type: ignore[union-attr]
        geoids = [outcome.geoid if outcome is not None else None for outcome in outcomes]
        return ChainResult(geoids, tallies, requested, sum(geoid is not None for geoid in geoids))

    def close(self) -> None:
        for provider in self.providers:
            try:
                provider.close()
            except Exception:  # closing one provider must not keep the others open
                logger.warning("closing a geocoding provider failed", exc_info=False)
