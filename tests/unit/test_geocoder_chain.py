"""The chain's rules, with scripted providers (the real ones are tested on their own):
each provider gets only what the ones before it left unmatched; empty addresses go to
none; the tallies add up."""

from __future__ import annotations

from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from patron_info_poller.geocoding.address import Address
from patron_info_poller.geocoding.chain import GeocoderChain
from patron_info_poller.geocoding.provider import (
    NO_MATCH,
    TIE,
    GeocodeOutcome,
    ProviderReply,
    TractMatch,
)


class ScriptedProvider:
    """Answers from a table keyed by the street line; remembers what it was given."""

    def __init__(self, name: str, answers: dict[str, GeocodeOutcome]):
        self.name = name
        self.answers = answers
        self.given: list[str] = []
        self.closed = False

    def geocode(self, addresses):
        self.given += [a.addr1 for a in addresses]
        return ProviderReply(
            [self.answers.get(a.addr1, NO_MATCH) for a in addresses], Counter(calls=1)
        )

    def close(self) -> None:
        self.closed = True


def match(tract: str) -> GeocodeOutcome:
    return GeocodeOutcome.matched(TractMatch("36", "061", tract))


def test_each_provider_gets_only_what_the_ones_before_it_left_unmatched():
    tiger = ScriptedProvider("tiger", {"1 A St": match("000100"), "2 B St": TIE})
    census = ScriptedProvider("census", {"2 B St": match("000200"), "3 C St": match("000300")})
    chain = GeocoderChain([tiger, census])
    addresses = [
        Address("1 A St", "New York", "NY", "10001"),
        Address("2 B St", "New York", "NY", "10001"),
        Address.from_row(None, " ", None, None),  # empty: goes to no provider
        Address("3 C St", "New York", "NY", "10001"),
        Address("4 D St", "New York", "NY", "10001"),
    ]

    result = chain.geocode(addresses)

    assert result.geoids == ["36061000100", "36061000200", None, "36061000300", None]
    assert tiger.given == ["1 A St", "2 B St", "3 C St", "4 D St"]
    assert census.given == ["2 B St", "3 C St", "4 D St"]
    assert (result.requested, result.matched) == (4, 3)
    t, c = result.by_provider["tiger"], result.by_provider["census"]
    assert (t.requested, t.matched, t.unmatched, t.ties) == (4, 1, 2, 1)
    assert (c.requested, c.matched, c.unmatched, c.ties) == (3, 2, 1, 0)
    assert t.events["calls"] == c.events["calls"] == 1
    chain.close()
    assert tiger.closed and census.closed


def test_a_chain_that_matched_everything_asks_no_further_provider():
    first = ScriptedProvider("tiger", {"1 A St": match("000100")})
    second = ScriptedProvider("census", {})
    result = GeocoderChain([first, second]).geocode([Address("1 A St", "", "", "")])
    assert result.geoids == ["36061000100"]
    assert second.given == []
    assert result.by_provider["census"].requested == 0


@given(st.lists(st.sampled_from(["match", "tie", "miss", "empty"]), max_size=30))
def test_tallies_add_up_whatever_the_answers(kinds):
    answers = {"match": match("000100"), "tie": TIE, "miss": NO_MATCH}
    addresses = [
        Address.from_row(None, None, None, None)
        if kind == "empty"
        else Address(f"{n} {kind} St", "", "", "")
        for n, kind in enumerate(kinds)
    ]
    provider = ScriptedProvider(
        "only", {f"{n} {kind} St": answers[kind] for n, kind in enumerate(kinds) if kind != "empty"}
    )
    result = GeocoderChain([provider]).geocode(addresses)
    tally = result.by_provider["only"]
    assert tally.requested == result.requested == sum(kind != "empty" for kind in kinds)
    assert tally.requested == tally.matched + tally.unmatched + tally.ties
    assert tally.matched == result.matched == kinds.count("match")
    assert len(result.geoids) == len(addresses)
