"""Runs the pipeline's geocoding: a batch's addresses go out as several requests at once,
and the number allowed in flight grows while the pipeline waits on the geocoder.

Why: the Census service's latency varies from seconds to minutes, so a fixed concurrency
suits one latency and starves the hashing threads at another. The pipeline reports when it
waits on geocoding with nothing left to hash; each such report (at most one a second)
allows one more request in flight, up to a cap. A batch is split into as many requests as
are allowed, so its answers come back sooner than one big request's would.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor
from typing import Protocol

from .geocoding.address import Address
from .geocoding.chain import ChainResult, ProviderTally

# A request this small still pays the service's fixed cost per request; no point going lower.
MIN_REQUEST_ROWS = 100
WIDEN_INTERVAL_SECONDS = 1.0


class Geocoder(Protocol):
    def geocode(self, addresses: Sequence[Address]) -> ChainResult: ...


class AdaptiveLimit:
    """A first-come, first-served semaphore whose limit can grow up to a cap."""

    def __init__(self, start: int, cap: int):
        if not 1 <= start <= cap:
            raise ValueError("the starting limit must be between 1 and the cap")
        self._limit = start
        self._cap = cap
        self._in_use = 0
        self._waiting: deque[object] = deque()
        self._changed = threading.Condition()
        self.peak_in_use = 0

    @property
    def limit(self) -> int:
        return self._limit

    def acquire(self) -> None:
        ticket = object()
        with self._changed:
            self._waiting.append(ticket)
            while self._waiting[0] is not ticket or self._in_use >= self._limit:
                self._changed.wait()
            self._waiting.popleft()
            self._in_use += 1
            self.peak_in_use = max(self.peak_in_use, self._in_use)
            self._changed.notify_all()  # the next ticket may fit too

    def release(self) -> None:
        with self._changed:
            self._in_use -= 1
            self._changed.notify_all()

    def widen(self) -> bool:
        with self._changed:
            if self._limit >= self._cap:
                return False
            self._limit += 1
            self._changed.notify_all()
            return True


class GeocodeScheduler:
    def __init__(self, geocoder: Geocoder, concurrency: int, max_concurrency: int):
        self._geocoder = geocoder
        self.limit = AdaptiveLimit(concurrency, max(concurrency, max_concurrency))
        self._pool = ThreadPoolExecutor(
            max(concurrency, max_concurrency), thread_name_prefix="geocode"
        )
        self._last_widened = time.monotonic()

    def submit(self, addresses: Sequence[Address]) -> Future[ChainResult]:
        """Geocodes `addresses` as up to `limit` requests run side by side."""
        parts = max(1, min(self.limit.limit, math.ceil(len(addresses) / MIN_REQUEST_ROWS)))
        # Sizes differ by at most one row, so no request is the straggler.
        n = len(addresses)
        pieces = (
            [addresses[i * n // parts : (i + 1) * n // parts] for i in range(parts)] if n else []
        )
        futures = [self._pool.submit(self._geocode_piece, piece) for piece in pieces]
        return _combined(futures)

    def waiting_on_geocoder(self) -> None:
        """The pipeline waits on geocoding with nothing left to hash: allow one more."""
        now = time.monotonic()
        if now - self._last_widened >= WIDEN_INTERVAL_SECONDS and self.limit.widen():
            self._last_widened = now

    def _geocode_piece(self, piece: Sequence[Address]) -> ChainResult:
        self.limit.acquire()
        try:
            return self._geocoder.geocode(piece)
        finally:
            self.limit.release()

    def shutdown(self, wait: bool) -> None:
        # After a failure or a signal, requests in flight are left to finish alone.
        self._pool.shutdown(wait=wait, cancel_futures=True)


def _combined(futures: list[Future[ChainResult]]) -> Future[ChainResult]:
    """One future for the pieces of a batch: their results joined in order."""
    combined: Future[ChainResult] = Future()
    if not futures:
        combined.set_result(ChainResult([], {}, 0, 0))
        return combined
    remaining = [len(futures)]
    lock = threading.Lock()

    def piece_done(_: Future[ChainResult]) -> None:
        with lock:
            remaining[0] -= 1
            if remaining[0]:
                return
        try:
            combined.set_result(_joined([future.result() for future in futures]))
        except CancelledError:
            combined.cancel()
            combined.set_running_or_notify_cancel()
        except BaseException as exc:
            combined.set_exception(exc)

    for future in futures:
        future.add_done_callback(piece_done)
    return combined


def _joined(results: list[ChainResult]) -> ChainResult:
    by_provider: dict[str, ProviderTally] = {}
    for result in results:
        for name, tally in result.by_provider.items():
            by_provider.setdefault(name, ProviderTally()).add(tally)
    return ChainResult(
        geoids=[geoid for result in results for geoid in result.geoids],
        by_provider=by_provider,
        requested=sum(result.requested for result in results),
        matched=sum(result.matched for result in results),
    )
