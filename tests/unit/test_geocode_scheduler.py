"""The adaptive geocoding scheduler: batches go out as several requests, answers come back
in order, and the number in flight grows only when the pipeline waits, up to the cap."""

from __future__ import annotations

import threading
import time

from patron_info_poller.geocode_scheduler import (
    MIN_REQUEST_ROWS,
    WIDEN_INTERVAL_SECONDS,
    AdaptiveLimit,
    GeocodeScheduler,
)
from patron_info_poller.geocoding.address import Address
from patron_info_poller.geocoding.chain import ChainResult, ProviderTally


class CountingGeocoder:
    """Geocodes an address to a GEOID made of its house number; tracks concurrency."""

    def __init__(self, delay: float = 0.0):
        self.delay = delay
        self.sizes: list[int] = []
        self.in_flight = 0
        self.peak = 0
        self._lock = threading.Lock()

    def geocode(self, addresses):
        with self._lock:
            self.sizes.append(len(addresses))
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
        time.sleep(self.delay)
        with self._lock:
            self.in_flight -= 1
        geoids = [f"36061{int(a.addr1.split()[0]):06d}" for a in addresses]
        tally = ProviderTally(len(addresses), len(addresses), 0, 0)
        return ChainResult(geoids, {"census": tally}, len(addresses), len(addresses))


def addresses(count: int) -> list[Address]:
    return [Address(f"{n} Main St", "Queens", "NY", "11354") for n in range(count)]


def test_a_batch_goes_out_as_one_request_per_slot_and_comes_back_in_order():
    geocoder = CountingGeocoder(delay=0.05)
    scheduler = GeocodeScheduler(geocoder, concurrency=3, max_concurrency=4)
    try:
        result = scheduler.submit(addresses(1000)).result(timeout=10)
    finally:
        scheduler.shutdown(wait=True)
    assert sorted(geocoder.sizes) == [333, 333, 334]
    assert result.geoids == [f"36061{n:06d}" for n in range(1000)]
    assert result.by_provider["census"].requested == result.requested == 1000
    assert geocoder.peak == 3


def test_small_batches_are_not_split_below_the_minimum_request():
    geocoder = CountingGeocoder()
    scheduler = GeocodeScheduler(geocoder, concurrency=4, max_concurrency=4)
    try:
        scheduler.submit(addresses(MIN_REQUEST_ROWS + 1)).result(timeout=10)
        assert scheduler.submit([]).result(timeout=10).geoids == []
    finally:
        scheduler.shutdown(wait=True)
    assert len(geocoder.sizes) == 2


def test_waiting_widens_at_most_once_an_interval_up_to_the_cap(monkeypatch):
    clock = [100.0]
    monkeypatch.setattr(time, "monotonic", lambda: clock[0])
    scheduler = GeocodeScheduler(CountingGeocoder(), concurrency=2, max_concurrency=4)
    try:
        scheduler.waiting_on_geocoder()
        assert scheduler.limit.limit == 2  # too soon after start
        for _ in range(5):
            clock[0] += WIDEN_INTERVAL_SECONDS
            scheduler.waiting_on_geocoder()
            scheduler.waiting_on_geocoder()  # a second report in the same interval: nothing
        assert scheduler.limit.limit == 4
    finally:
        scheduler.shutdown(wait=True)


def test_the_limit_serves_waiters_first_come_first_served():
    limit = AdaptiveLimit(start=1, cap=2)
    order: list[int] = []
    limit.acquire()
    threads = []
    for number in range(3):
        thread = threading.Thread(target=lambda n=number: (limit.acquire(), order.append(n)))
        thread.start()
        threads.append(thread)
        time.sleep(0.05)  # queue in a known order
    assert order == []
    limit.widen()  # room for one more: the first waiter
    time.sleep(0.05)
    assert order == [0]
    limit.release()
    limit.release()
    for thread in threads:
        thread.join(timeout=5)
    assert order == [0, 1, 2]
    assert limit.peak_in_use == 2
