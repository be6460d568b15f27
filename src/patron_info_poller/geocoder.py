"""Client of the Census batch geocoder: addresses in, census tract GEOIDs out.

The geocoder receives address parts and row numbers only, never a patron id. It is
flaky, so a batch is retried with backoff, then split in halves (smaller batches fail
less); when even a small batch keeps failing the geocoder is taken to be down.
Logs and exception messages carry counts and timings only.
"""

from __future__ import annotations

import csv
import io
import logging
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Self

import httpx
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    stop_when_event_set,
    wait_exponential_jitter,
)

from patron_info_poller.address import Address, reformat
from patron_info_poller.errors import (
    ConfigurationError,
    GeocoderUnavailableError,
    RetriableError,
)

logger = logging.getLogger(__name__)

MAX_BATCH_ROWS = 10_000
# A failed batch is split in halves until it is this small; below, a failure means "down".
MIN_SPLIT_ROWS = 50
_MAX_BACKOFF_SECONDS = 60.0
_RETRIABLE = (httpx.TransportError, RetriableError)


@dataclass(frozen=True)
class GeocoderSettings:
    url: str
    benchmark: str
    vintage: str
    api_key: str | None = field(default=None, repr=False)
    batch_size: int = 1000
    concurrency: int = 1
    timeout_seconds: float = 300.0
    max_attempts: int = 4
    backoff_seconds: float = 2.0

    def __post_init__(self) -> None:
        if not 1 <= self.batch_size <= MAX_BATCH_ROWS:
            raise ConfigurationError(f"geocoder batch size must be 1..{MAX_BATCH_ROWS}")
        if self.concurrency < 1 or self.max_attempts < 1:
            raise ConfigurationError("geocoder concurrency and max attempts must be at least 1")
        if self.timeout_seconds <= 0 or self.backoff_seconds < 0:
            raise ConfigurationError("geocoder timeout must be positive and backoff not negative")


@dataclass
class GeocodeStats:
    requested: int = 0  # non-empty addresses geocoded
    matched: int = 0  # addresses that got a GEOID, on the first try or after reformatting
    no_match: int = 0  # first try only, as are tie and missing
    tie: int = 0
    missing: int = 0  # input rows absent from the reply
    reformatted_resent: int = 0
    matched_after_reformat: int = 0
    skipped_empty: int = 0
    requests: int = 0  # HTTP requests, retries included
    failed_requests: int = 0
    split_batches: int = 0
    ignored_reply_rows: int = 0  # unknown id, duplicate or malformed

    @property
    def unmatched(self) -> int:
        return self.requested - self.matched

    def __add__(self, other: GeocodeStats) -> GeocodeStats:
        return GeocodeStats(
            **{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)}
        )


class MatchStatus(StrEnum):
    MATCH = "Match"
    NO_MATCH = "No_Match"
    TIE = "Tie"


@dataclass(frozen=True)
class RowOutcome:
    status: MatchStatus
    geoid: str | None = None


@dataclass
class BatchReply:
    outcomes: dict[int, RowOutcome]  # by row number
    ignored_rows: int


class _GeocoderBusy(RetriableError):
    """A reply worth another try: 5xx, 429 or something that is not the CSV asked for."""


def build_batch_csv(addresses: Sequence[Address]) -> bytes:
    """The header-less `id,street,city,state,zip` file; ids are row numbers."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for row_number, address in enumerate(addresses):
        cleaned = address.cleaned()
        writer.writerow(
            [row_number, cleaned.addr1, cleaned.city, cleaned.region, cleaned.postal_code]
        )
    return buffer.getvalue().encode("utf-8")


def parse_batch_reply(text: str, row_count: int) -> BatchReply:
    """Reads the reply rows (in any order); rows that make no sense are only counted."""
    outcomes: dict[int, RowOutcome] = {}
    ignored = 0
    try:
        for row in csv.reader(io.StringIO(text, newline="")):
            if not row:
                continue
            parsed = _parse_reply_row([value.strip() for value in row], row_count)
            if parsed is None or parsed[0] in outcomes:
                ignored += 1
            else:
                outcomes[parsed[0]] = parsed[1]
    except csv.Error:
        ignored += 1
    return BatchReply(outcomes, ignored)


def _parse_reply_row(row: list[str], row_count: int) -> tuple[int, RowOutcome] | None:
    if not row[0].isdigit() or int(row[0]) >= row_count:
        return None
    row_number = int(row[0])
    if len(row) == 3 and row[2] in (MatchStatus.NO_MATCH, MatchStatus.TIE):
        return row_number, RowOutcome(MatchStatus(row[2]))
    if len(row) == 12 and row[2] == MatchStatus.MATCH:
        state, county, tract = row[8], row[9], row[10]
        geoid = state + county + tract
        if len(state) == 2 and len(county) == 3 and len(tract) == 6 and geoid.isdigit():
            return row_number, RowOutcome(MatchStatus.MATCH, geoid)
    return None


class CensusGeocoder:
    def __init__(self, settings: GeocoderSettings, client: httpx.Client | None = None):
        self._settings = settings
        self._owns_client = client is None
        self._client = client or httpx.Client(
            timeout=settings.timeout_seconds,
            limits=httpx.Limits(max_connections=settings.concurrency),
        )

    def geocode(self, addresses: Sequence[Address]) -> tuple[list[str | None], GeocodeStats]:
        """GEOIDs (state + county + tract, 11 digits) aligned with `addresses`, or None."""
        started = time.monotonic()
        geoids: list[str | None] = [None] * len(addresses)
        cleaned = [address.cleaned() for address in addresses]
        pending = [index for index, address in enumerate(cleaned) if not address.is_empty]
        stats = GeocodeStats(requested=len(pending), skipped_empty=len(addresses) - len(pending))

        outcomes, transport = self._geocode_pass([cleaned[index] for index in pending])
        stats += transport
        resend: list[tuple[int, Address]] = []
        for index, outcome in zip(pending, outcomes, strict=True):
            if outcome is not None and outcome.geoid:
                geoids[index] = outcome.geoid
                stats.matched += 1
                continue
            if outcome is None:
                stats.missing += 1
            elif outcome.status is MatchStatus.TIE:
                stats.tie += 1
            else:
                stats.no_match += 1
            reformatted = reformat(cleaned[index])
            if reformatted is not None:
                resend.append((index, reformatted))

        if resend:
            stats.reformatted_resent = len(resend)
            outcomes, transport = self._geocode_pass([address for _, address in resend])
            stats += transport
            for (index, _), outcome in zip(resend, outcomes, strict=True):
                if outcome is not None and outcome.geoid:
                    geoids[index] = outcome.geoid
                    stats.matched += 1
                    stats.matched_after_reformat += 1

        logger.info(
            "geocoded %d addresses in %.1fs: %d matched (%d after reformatting), "
            "%d unmatched, %d empty, %d requests (%d failed)",
            stats.requested,
            time.monotonic() - started,
            stats.matched,
            stats.matched_after_reformat,
            stats.unmatched,
            stats.skipped_empty,
            stats.requests,
            stats.failed_requests,
        )
        return geoids, stats

    def _geocode_pass(
        self, addresses: Sequence[Address]
    ) -> tuple[list[RowOutcome | None], GeocodeStats]:
        size = self._settings.batch_size
        batches = [addresses[start : start + size] for start in range(0, len(addresses), size)]
        if not batches:
            return [], GeocodeStats()
        # Set when one batch finds the geocoder down, so the others stop retrying.
        down = threading.Event()
        results: dict[int, tuple[list[RowOutcome | None], GeocodeStats]] = {}
        pool = ThreadPoolExecutor(
            max_workers=min(self._settings.concurrency, len(batches)),
            thread_name_prefix="geocoder",
        )
        try:
            futures = {
                pool.submit(self._geocode_batch, batch, down): number
                for number, batch in enumerate(batches)
            }
            for future in as_completed(futures):
                results[futures[future]] = future.result()
        except BaseException:
            down.set()
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        outcomes: list[RowOutcome | None] = []
        stats = GeocodeStats()
        for number in range(len(batches)):
            outcomes += results[number][0]
            stats += results[number][1]
        return outcomes, stats

    def _geocode_batch(
        self, addresses: Sequence[Address], down: threading.Event
    ) -> tuple[list[RowOutcome | None], GeocodeStats]:
        stats = GeocodeStats()
        started = time.monotonic()
        outcomes = self._geocode_or_split(addresses, down, stats)
        logger.debug(
            "geocoder batch of %d rows took %.2fs and %d requests",
            len(addresses),
            time.monotonic() - started,
            stats.requests,
        )
        return outcomes, stats

    def _geocode_or_split(
        self, addresses: Sequence[Address], down: threading.Event, stats: GeocodeStats
    ) -> list[RowOutcome | None]:
        try:
            reply = self._post_with_retries(addresses, down, stats)
        except _RETRIABLE as exc:
            if down.is_set() or len(addresses) <= MIN_SPLIT_ROWS:
                down.set()
                raise GeocoderUnavailableError(
                    f"census geocoder stayed down: {stats.failed_requests} requests failed, "
                    f"the last for a batch of {len(addresses)} rows"
                ) from exc
            stats.split_batches += 1
            half = len(addresses) // 2
            logger.warning(
                "census geocoder kept failing a batch of %d rows; splitting it in two",
                len(addresses),
            )
            return self._geocode_or_split(addresses[:half], down, stats) + self._geocode_or_split(
                addresses[half:], down, stats
            )
        stats.ignored_reply_rows += reply.ignored_rows
        return [reply.outcomes.get(row_number) for row_number in range(len(addresses))]

    def _post_with_retries(
        self, addresses: Sequence[Address], down: threading.Event, stats: GeocodeStats
    ) -> BatchReply:
        backoff = self._settings.backoff_seconds
        retrying = Retrying(
            retry=retry_if_exception_type(_RETRIABLE),
            stop=stop_after_attempt(self._settings.max_attempts) | stop_when_event_set(down),
            wait=wait_exponential_jitter(
                multiplier=backoff, max=max(backoff, _MAX_BACKOFF_SECONDS), jitter=backoff / 2
            ),
            sleep=down.wait,  # a wait ends early once the geocoder is known to be down
            before_sleep=_log_retry,
            reraise=True,
        )
        return retrying(self._post, addresses, stats)

    def _post(self, addresses: Sequence[Address], stats: GeocodeStats) -> BatchReply:
        settings = self._settings
        form = {"benchmark": settings.benchmark, "vintage": settings.vintage}
        if settings.api_key:
            form["key"] = settings.api_key
        stats.requests += 1
        try:
            response = self._client.post(
                settings.url,
                data=form,
                files={"addressFile": ("addresses.csv", build_batch_csv(addresses), "text/csv")},
                timeout=settings.timeout_seconds,
            )
            if response.status_code == 429 or response.status_code >= 500:
                raise _GeocoderBusy(f"census geocoder answered HTTP {response.status_code}")
            if not response.is_success:
                raise GeocoderUnavailableError(
                    f"census geocoder refused a batch of {len(addresses)} rows "
                    f"with HTTP {response.status_code}"
                )
            reply = parse_batch_reply(response.text, len(addresses))
            if not reply.outcomes:
                raise _GeocoderBusy("census geocoder reply held no result rows")
        except _RETRIABLE:
            stats.failed_requests += 1
            raise
        return reply

    def close(self) -> None:
        if self._owns_client:
            self._client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _log_retry(state: RetryCallState) -> None:
    exc = state.outcome.exception() if state.outcome else None
    # Our own messages are fixed phrases; an httpx error is named by its type only.
    reason = str(exc) if isinstance(exc, RetriableError) else type(exc).__name__
    logger.warning(
        "census geocoder request failed (%s), attempt %d; retrying in %.2fs",
        reason,
        state.attempt_number,
        state.upcoming_sleep,
    )
