"""The offline geocoder as a provider: the TIGER index, loaded in memory, answers without
any address leaving the process. Its events are counts only (e.g. `usaddress`: lines the
fast path could not split)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Self

from .address import Address
from .provider import ProviderReply
from .tiger_index import IndexMeta, TigerIndex
from .tiger_matcher import TigerMatcher


class TigerGeocoder:
    name = "tiger"

    def __init__(self, index: TigerIndex):
        self._index = index
        self._matcher = TigerMatcher(index)

    @classmethod
    def from_path(cls, path: Path | str) -> Self:
        """Opens and checks the index; ConfigurationError naming the file if unusable."""
        return cls(TigerIndex.open(Path(path)))

    @property
    def meta(self) -> IndexMeta:
        return self._index.meta

    def geocode(self, addresses: Sequence[Address]) -> ProviderReply:
        events: Counter[str] = Counter()
        outcomes = [self._matcher.match(address, events) for address in addresses]
        return ProviderReply(outcomes, events)

    def close(self) -> None:
        self._index.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
