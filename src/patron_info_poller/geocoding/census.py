"""The Census batch geocoder as a provider: address parts go out, census tracts come back.

The service receives address parts and row numbers only, never a patron id. It is flaky
in three ways, each handled here:
- a request fails (5xx, an HTML page, garbled CSV, a timeout): retried with backoff, then
  split in halves, since smaller batches fail less;
- rows are missing from a reply, or a batch failed for good while other requests were
  answered: those addresses are asked again with the same text, `max_reasks` times,
  before they count as unmatched (an address that got no answer was never "No_Match");
- the service is down: when a small batch keeps failing and nothing was answered
  recently, the run stops (GeocoderUnavailableError) rather than record false misses.
Logs and exception messages carry counts and timings only.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
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

from patron_info_poller.errors import (
    ConfigurationError,
    GeocoderUnavailableError,
    RetriableError,
)

from .address import Address, reformat
from .census_format import BatchReply, build_batch_csv, parse_batch_reply
from .provider import NO_MATCH, GeocodeOutcome, ProviderReply

logger = logging.getLogger(__name__)

MAX_BATCH_ROWS = 10_000
# A failed batch is split in halves until it is this small; below, it is given up on.
MIN_SPLIT_ROWS = 50
_MAX_BACKOFF_SECONDS = 60.0
_RETRIABLE = (httpx.TransportError, RetriableError)


@dataclass(frozen=True)
class CensusSettings:
    url: str
    benchmark: str
    vintage: str
    api_key: str | None = field(default=None, repr=False)
    batch_size: int = 1000
    concurrency: int = 1  # requests at once when one call holds more than a batch
    timeout_seconds: float = 300.0
    max_attempts: int = 4
    backoff_seconds: float = 2.0
    max_reasks: int = 2

    def __post_init__(self) -> None:
        if not 1 <= self.batch_size <= MAX_BATCH_ROWS:
            raise ConfigurationError(f"geocoder batch size must be 1..{MAX_BATCH_ROWS}")
        if self.concurrency < 1 or self.max_attempts < 1 or self.max_reasks < 0:
            raise ConfigurationError(
                "geocoder concurrency and max attempts must be at least 1, re-asks at least 0"
            )
        if self.timeout_seconds <= 0 or self.backoff_seconds < 0:
            raise ConfigurationError("geocoder timeout must be positive and backoff not negative")


class _GeocoderBusy(RetriableError):
    """A reply worth another try: 5xx, 429 or something that is not the CSV asked for."""


Answers = list[GeocodeOutcome | None]  # None: no answer (yet) for that row


class CensusGeocoder:
    name = "census"

    def __init__(self, settings: CensusSettings, client: httpx.Client | None = None):
        self._settings = settings
        self._owns_client = client is None
        self._client = client or httpx.Client(timeout=settings.timeout_seconds)
        # Set once the service is judged down, so every request in flight stops retrying.
        self._down = threading.Event()
        self._last_answer: float | None = None  # time.monotonic() of the last good reply

    def geocode(self, addresses: Sequence[Address]) -> ProviderReply:
        """An outcome per address. Empty addresses should not be sent (the chain drops
        them); one that is gets No_Match from the service like any other."""
        started = time.monotonic()
        events: Counter[str] = Counter()
        cleaned = [address.cleaned() for address in addresses]
        outcomes = self._ask_until_answered(cleaned, events)

        # Patrons often type the whole address into one line or add a unit: re-split
        # what did not match and ask once more.
        resend = [
            (index, retry)
            for index, outcome in enumerate(outcomes)
            if not outcome.is_match and (retry := reformat(cleaned[index])) is not None
        ]
        if resend:
            events["reformatted_resent"] += len(resend)
            second = self._ask_until_answered([address for _, address in resend], events)
            for (index, _), outcome in zip(resend, second, strict=True):
                if outcome.is_match:
                    outcomes[index] = outcome
                    events["matched_after_reformat"] += 1

        logger.info(
            "census geocoder answered %d addresses in %.1fs: %d matched (%d after "
            "reformatting), %d asked again, %d never answered, %d requests (%d failed)",
            len(addresses),
            time.monotonic() - started,
            sum(outcome.is_match for outcome in outcomes),
            events["matched_after_reformat"],
            events["reasked"],
            events["unanswered"],
            events["requests"],
            events["failed_requests"],
        )
        return ProviderReply(outcomes, events)

    def _ask_until_answered(
        self, addresses: Sequence[Address], events: Counter[str]
    ) -> list[GeocodeOutcome]:
        """Asks, then asks again (same text) for the rows that got no answer."""
        answers: Answers = [None] * len(addresses)
        pending = list(range(len(addresses)))
        for round_number in range(self._settings.max_reasks + 1):
            if round_number == 1:
                events["reasked"] += len(pending)
            got = self._ask([addresses[index] for index in pending], events)
            for index, answer in zip(pending, got, strict=True):
                answers[index] = answer
            pending = [index for index in pending if answers[index] is None]
            if not pending:
                break
        if pending:
            events["unanswered"] += len(pending)
            logger.warning(
                "census geocoder never answered %d rows after %d re-asks; they count as unmatched",
                len(pending),
                self._settings.max_reasks,
            )
        return [answer or NO_MATCH for answer in answers]

    def _ask(self, addresses: Sequence[Address], events: Counter[str]) -> Answers:
        """One pass: requests of at most `batch_size` rows, `concurrency` at once."""
        size = self._settings.batch_size
        batches = [addresses[start : start + size] for start in range(0, len(addresses), size)]
        if len(batches) <= 1:
            return self._ask_or_split(batches[0], events) if batches else []
        with ThreadPoolExecutor(
            min(self._settings.concurrency, len(batches)), thread_name_prefix="census"
        ) as pool:
            try:
                # Each batch counts into its own Counter: Counter updates are not atomic.
                results = list(pool.map(self._ask_batch, batches))
            except BaseException:
                self._down.set()  # stop the other batches' retries early
                raise
        answers: Answers = []
        for batch_answers, batch_events in results:
            answers += batch_answers
            events.update(batch_events)
        return answers

    def _ask_batch(self, addresses: Sequence[Address]) -> tuple[Answers, Counter[str]]:
        events: Counter[str] = Counter()
        return self._ask_or_split(addresses, events), events

    def _ask_or_split(self, addresses: Sequence[Address], events: Counter[str]) -> Answers:
        try:
            reply = self._post_with_retries(addresses, events)
        except _RETRIABLE as exc:
            if len(addresses) > MIN_SPLIT_ROWS and not self._down.is_set():
                events["split_batches"] += 1
                logger.warning(
                    "census geocoder kept failing a batch of %d rows; splitting it in two",
                    len(addresses),
                )
                half = len(addresses) // 2
                return self._ask_or_split(addresses[:half], events) + self._ask_or_split(
                    addresses[half:], events
                )
            if self._down.is_set() or not self._answered_recently():
                self._down.set()
                raise GeocoderUnavailableError(
                    f"census geocoder stayed down: {events['failed_requests']} requests "
                    f"failed, the last for a batch of {len(addresses)} rows"
                ) from exc
            # The service answers other requests: these rows are asked again later.
            events["failed_rows"] += len(addresses)
            return [None] * len(addresses)
        events["ignored_reply_rows"] += reply.ignored_rows
        return [reply.outcomes.get(row_number) for row_number in range(len(addresses))]

    def _answered_recently(self) -> bool:
        last = self._last_answer
        return last is not None and time.monotonic() - last < self._settings.timeout_seconds

    def _post_with_retries(self, addresses: Sequence[Address], events: Counter[str]) -> BatchReply:
        backoff = self._settings.backoff_seconds
        retrying = Retrying(
            retry=retry_if_exception_type(_RETRIABLE),
            stop=stop_after_attempt(self._settings.max_attempts) | stop_when_event_set(self._down),
            wait=wait_exponential_jitter(
                multiplier=backoff, max=max(backoff, _MAX_BACKOFF_SECONDS), jitter=backoff / 2
            ),
            sleep=self._down.wait,  # a wait ends early once the service is known to be down
            before_sleep=_log_retry,
            reraise=True,
        )
        return retrying(self._post, addresses, events)

    def _post(self, addresses: Sequence[Address], events: Counter[str]) -> BatchReply:
        settings = self._settings
        form = {"benchmark": settings.benchmark, "vintage": settings.vintage}
        if settings.api_key:
            form["key"] = settings.api_key
        events["requests"] += 1
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
            events["failed_requests"] += 1
            raise
        self._last_answer = time.monotonic()
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
