"""Limits the backfill's workers share, so that N workers do not press a service N times
as hard as one run does.

- **Kinesis**: every worker sends within its share of the stream's write capacity (1,000
  records/s and 1 MiB/s per open shard, divided by the number of workers), kept by token
  buckets asked before every PutRecords call. Throttling that still happens
  (ProvisionedThroughputExceeded) is backed off by the sink, as in every run.
- **The Census geocoder and Sierra**: `distributed.Semaphore`s kept by the scheduler: a
  lease per geocoder request (BACKFILL_GEOCODER_CONCURRENCY) and per Sierra batch read,
  which connects and disconnects inside its lease (BACKFILL_SIERRA_CONNECTIONS). A worker
  that dies loses its leases after `distributed.scheduler.locks.lease-timeout`.

Offline providers (tiger, geosupport) take no lease: they ask no one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ..aws_errors import error_code
from ..cursor import Cursor, RunBounds
from ..databases.sierra import PatronRow, SierraSource
from ..errors import RetriesExhaustedError
from ..geocoding.address import Address
from ..geocoding.chain import GeocoderChain
from ..geocoding.provider import GeocodingProvider, ProviderReply
from ..streams import StreamSpec

KINESIS_RECORDS_PER_SHARD = 1000  # records per second
KINESIS_BYTES_PER_SHARD = 1024 * 1024  # bytes per second
# Providers that send addresses to a service: only their calls take a lease.
REMOTE_PROVIDERS = frozenset({"census"})


class TokenBucket:
    """`rate` tokens a second, at most `capacity` saved up. A request larger than what is
    saved takes it all and waits for the rest, so a call bigger than the capacity still
    goes through (at the rate), and callers are served in the order they asked."""

    def __init__(
        self,
        rate: float,
        capacity: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ):
        if rate <= 0:
            raise ValueError("a token bucket needs a positive rate")
        self.rate = rate
        self.capacity = rate if capacity is None else capacity  # one second's worth
        self._clock = clock
        self._tokens = self.capacity
        self._updated = clock()
        self._lock = threading.Lock()

    def reserve(self, amount: float) -> float:
        """Takes `amount` tokens now; returns how long to wait before using them."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate)
            self._updated = now
            self._tokens -= amount
            return max(0.0, -self._tokens / self.rate)


@dataclass(frozen=True)
class KinesisShare:
    """One worker's share of the stream's write capacity (picklable: the driver works it
    out once and hands it to every chunk)."""

    records_per_second: float
    bytes_per_second: float

    @classmethod
    def of(cls, open_shards: int, workers: int) -> KinesisShare:
        workers = max(1, workers)
        return cls(
            open_shards * KINESIS_RECORDS_PER_SHARD / workers,
            open_shards * KINESIS_BYTES_PER_SHARD / workers,
        )


class KinesisBudget:
    """The KinesisSink's rate limiter: records and bytes, each in its own bucket."""

    def __init__(
        self,
        share: KinesisShare,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.share = share
        self._records = TokenBucket(share.records_per_second, clock=clock)
        self._bytes = TokenBucket(share.bytes_per_second, clock=clock)
        self._sleep = sleep
        self.waited_seconds = 0.0

    def acquire(self, records: int, size: int) -> None:
        wait = max(self._records.reserve(records), self._bytes.reserve(size))
        if wait > 0:
            self.waited_seconds += wait
            self._sleep(wait)


def open_shard_count(kinesis: Any, stream_arn: str) -> int:
    """The stream's open shards (DescribeStreamSummary)."""
    try:
        summary = kinesis.describe_stream_summary(StreamARN=stream_arn)
    except Exception as exc:
        raise RetriesExhaustedError(
            f"could not read the Kinesis stream's shard count ({error_code(exc)})"
        ) from exc
    return max(1, int(summary["StreamDescriptionSummary"].get("OpenShardCount") or 1))


class Lease(Protocol):
    """A `distributed.Semaphore`, or anything with the same two calls."""

    def acquire(self, timeout: float | None = None) -> bool: ...

    def release(self) -> bool: ...


class LeasedProvider:
    """A geocoding provider whose every request holds a lease of `lease`."""

    def __init__(self, provider: GeocodingProvider, lease: Lease):
        self.name = provider.name
        self._provider = provider
        self._lease = lease

    def geocode(self, addresses: Sequence[Address]) -> ProviderReply:
        self._lease.acquire()
        try:
            return self._provider.geocode(addresses)
        finally:
            self._lease.release()

    def close(self) -> None:
        """The provider belongs to the worker, not to one chunk: closed with the worker."""


def leased_chain(chain: GeocoderChain, lease: Lease | None) -> GeocoderChain:
    """The same providers in the same order; the remote ones' requests hold a lease."""
    if lease is None:
        return chain
    return GeocoderChain(
        [
            LeasedProvider(provider, lease) if provider.name in REMOTE_PROVIDERS else provider
            for provider in chain.providers
        ]
    )


class ChunkSource:
    """A chunk's Sierra source: the plan's frozen bound as its clock, and every batch read
    on a connection of its own, opened and closed inside a lease of `lease`."""

    def __init__(self, source: SierraSource, frozen_bound: Any, lease: Lease | None):
        self._source = source
        self._frozen_bound = frozen_bound
        self._lease = lease

    def frozen_now(self) -> Any:
        # The plan froze it (commit lag already taken off): every attempt of every chunk
        # reads up to the same bound.
        return self._frozen_bound

    def fetch_batch(
        self, stream: StreamSpec, after: Cursor, bounds: RunBounds, limit: int
    ) -> list[PatronRow]:
        if self._lease is None:
            return self._source.fetch_batch(stream, after, bounds, limit)
        self._lease.acquire()
        try:
            return self._source.fetch_batch(stream, after, bounds, limit)
        finally:
            try:
                self._source.close()  # the connection counts against the cap only while read
            finally:
                self._lease.release()

    def close(self) -> None:
        self._source.close()
