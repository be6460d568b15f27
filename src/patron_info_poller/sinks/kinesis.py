"""Puts encoded PatronInfo records on the Kinesis stream with PutRecords.

One Avro datum per Kinesis record (no KPL aggregation): the warehouse's ingest decodes
each record as one PatronInfo. Only the records that failed are resent.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError
from tenacity import (
    RetryError,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)

from ..aws_errors import error_code, is_service_trouble
from ..errors import KinesisSendError, RetriableError
from . import EncodedRecord

logger = logging.getLogger(__name__)

MAX_RECORDS_PER_CALL = 500
MAX_BYTES_PER_CALL = 5 * 1024 * 1024
MAX_BYTES_PER_RECORD = 1024 * 1024


class _PartialFailure(RetriableError):
    pass


class RateLimiter(Protocol):
    """Waits until `records` records of `size` bytes in all may be put (a backfill
    worker's share of the stream's write capacity; see backfill/limits.py)."""

    def acquire(self, records: int, size: int) -> None: ...


class KinesisSink:
    def __init__(
        self,
        client: Any,
        stream_arn: str,
        batch_size: int = MAX_RECORDS_PER_CALL,
        max_attempts: int = 8,
        backoff_seconds: float = 0.2,
        rate_limiter: RateLimiter | None = None,
    ):
        self._client = client
        self._stream_arn = stream_arn
        self._batch_size = min(batch_size, MAX_RECORDS_PER_CALL)
        self._max_attempts = max_attempts
        self._backoff_seconds = backoff_seconds
        self.calls = 0
        self.records_retried = 0
        # Asked before every PutRecords call, resends included; None: no budget.
        self._rate_limiter = rate_limiter

    def send(self, entries: Sequence[EncodedRecord]) -> int:
        """Sends every entry or raises KinesisSendError. Returns the number sent."""
        for entry in entries:
            if entry.size > MAX_BYTES_PER_RECORD:
                raise KinesisSendError("a record exceeds Kinesis's 1 MiB limit")
        for call in self._calls(entries):
            self._send_call(call)
        return len(entries)

    def _calls(self, entries: Sequence[EncodedRecord]) -> Iterator[list[EncodedRecord]]:
        call: list[EncodedRecord] = []
        size = 0
        for entry in entries:
            if call and (len(call) == self._batch_size or size + entry.size > MAX_BYTES_PER_CALL):
                yield call
                call, size = [], 0
            call.append(entry)
            size += entry.size
        if call:
            yield call

    def _send_call(self, call: list[EncodedRecord]) -> None:
        pending = call
        retrying = Retrying(
            retry=retry_if_exception(_is_retriable),
            stop=stop_after_attempt(self._max_attempts),
            # Jittered exponential backoff spreads retries of throttled shards.
            wait=wait_random_exponential(multiplier=self._backoff_seconds, max=20),
        )
        try:
            for attempt in retrying:
                with attempt:
                    if attempt.retry_state.attempt_number > 1:
                        self.records_retried += len(pending)
                    pending, codes = self._put(pending)
                    if pending:
                        raise _PartialFailure(f"{len(pending)} failed: {', '.join(codes)}")
        except (ClientError, BotoCoreError) as exc:
            raise KinesisSendError(
                f"Kinesis refused {len(pending)} records ({_describe(exc)})"
            ) from exc
        except RetryError as exc:
            cause = exc.last_attempt.exception()
            raise KinesisSendError(
                f"{len(pending)} of {len(call)} records not accepted by Kinesis after "
                f"{self._max_attempts} tries ({_describe(cause)})"
            ) from cause

    def _put(self, pending: list[EncodedRecord]) -> tuple[list[EncodedRecord], list[str]]:
        if self._rate_limiter is not None:
            self._rate_limiter.acquire(len(pending), sum(entry.size for entry in pending))
        self.calls += 1
        response = self._client.put_records(
            StreamARN=self._stream_arn,
            Records=[{"Data": e.data, "PartitionKey": e.partition_key} for e in pending],
        )
        if not response.get("FailedRecordCount"):
            return [], []
        failed = [
            entry
            for entry, result in zip(pending, response["Records"], strict=True)
            if result.get("ErrorCode")
        ]
        codes = sorted({r["ErrorCode"] for r in response["Records"] if r.get("ErrorCode")})
        logger.warning(
            "Kinesis rejected records; resending them",
            extra={"failed": len(failed), "error_codes": codes},
        )
        return failed, codes

    def close(self) -> None:
        """Every send is synchronous: nothing is left to flush."""

    def abort(self) -> None:
        """Records Kinesis accepted stay on the stream (at-least-once delivery)."""

    def __repr__(self) -> str:
        return f"KinesisSink(batch_size={self._batch_size})"


def _is_retriable(exc: BaseException) -> bool:
    return isinstance(exc, _PartialFailure) or is_service_trouble(exc)


def _describe(exc: BaseException | None) -> str:
    return str(exc) if isinstance(exc, _PartialFailure) else error_code(exc)
