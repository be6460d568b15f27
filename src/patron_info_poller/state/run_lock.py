"""One run at a time: a lock object `<S3_RESOURCE>.lock` beside the state.

It is created with `If-None-Match: *`, so of two runs started together exactly one gets
it; the other stops at once (exit 5) having sent and changed nothing. The owner renews
it while it runs (each renewal conditional on the version it wrote) and deletes it at the
end, on errors and signals too. A lock past its expiry (its owner was SIGKILLed or lost
its machine) is taken over, with a warning. `state set` and `replay` take it as well.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from ..aws_errors import CONDITION_FAILED_CODES, NOT_FOUND_CODES, error_code
from ..errors import RetriesExhaustedError, RunInProgressError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LockHolder:
    owner: str  # host:pid:random, never anything about patrons
    purpose: str  # "run", "state set", "replay"
    started_at: datetime
    expires_at: datetime

    def to_json(self) -> bytes:
        return json.dumps(
            {
                "owner": self.owner,
                "purpose": self.purpose,
                "started_at": self.started_at.isoformat(),
                "expires_at": self.expires_at.isoformat(),
            }
        ).encode()

    @classmethod
    def from_json(cls, body: bytes) -> LockHolder | None:
        """None when the object is not a lock this program wrote (treated as expired)."""
        try:
            document = json.loads(body)
            return cls(
                str(document["owner"]),
                str(document.get("purpose", "run")),
                datetime.fromisoformat(document["started_at"]),
                datetime.fromisoformat(document["expires_at"]),
            )
        except (ValueError, KeyError, TypeError):
            return None


class RunLock:
    """A context manager: `with RunLock(...):` holds the lock, renewed in a thread."""

    def __init__(
        self,
        s3_client: Any,
        bucket: str,
        state_key: str,
        *,
        purpose: str = "run",
        ttl_seconds: float = 600.0,
    ):
        self._s3 = s3_client
        self._bucket = bucket
        self.key = f"{state_key}.lock"
        self._purpose = purpose
        self._ttl = timedelta(seconds=ttl_seconds)
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._etag: str | None = None
        self._stop_renewing = threading.Event()
        self._renewer: threading.Thread | None = None
        self.lost = threading.Event()  # set if a renewal found the lock taken over

    @property
    def location(self) -> str:
        return f"s3://{self._bucket}/{self.key}"

    def acquire(self) -> None:
        started = datetime.now(UTC)
        holder = LockHolder(self.owner, self._purpose, started, started + self._ttl)
        try:
            self._etag = self._put(holder.to_json(), {"IfNoneMatch": "*"})
            return
        except _LockTaken:
            pass
        current = self._read()
        if current is None:  # released between our put and our read: try once more
            try:
                self._etag = self._put(holder.to_json(), {"IfNoneMatch": "*"})
                return
            except _LockTaken:
                current = self._read()
        if current is None:
            raise RunInProgressError(
                f"another run took {self.location} just now; this one did nothing"
            )
        etag, other = current
        if other is not None and other.expires_at > started:
            raise RunInProgressError(
                f"another run is in progress: {self.location} is held by {other.owner} "
                f"({other.purpose}, started {other.started_at:%Y-%m-%dT%H:%M:%SZ}, expires "
                f"{other.expires_at:%Y-%m-%dT%H:%M:%SZ}); this one sent and changed nothing"
            )
        try:
            self._etag = self._put(holder.to_json(), {"IfMatch": etag})
        except _LockTaken:
            raise RunInProgressError(
                f"another run took over the expired lock {self.location} first; this one "
                "did nothing"
            ) from None
        logger.warning(
            "Took over an expired run lock",
            extra={
                "lock": self.location,
                "previous_owner": other.owner if other else "unreadable",
                "expired_at": other.expires_at.isoformat() if other else None,
            },
        )

    def renew(self) -> None:
        now = datetime.now(UTC)
        holder = LockHolder(self.owner, self._purpose, now, now + self._ttl)
        try:
            self._etag = self._put(holder.to_json(), {"IfMatch": self._etag})
        except _LockTaken:
            self.lost.set()
            logger.error(
                "The run lock was taken over by another run; this run's state writes will "
                "fail rather than overwrite it",
                extra={"lock": self.location},
            )

    def release(self) -> None:
        self._stop_renewing.set()
        if self._renewer is not None:
            self._renewer.join()
        if self._etag is None or self.lost.is_set():
            return
        current = self._read()
        if current is not None and current[0] == self._etag:
            try:
                self._s3.delete_object(Bucket=self._bucket, Key=self.key)
            except (ClientError, BotoCoreError):
                # It expires by itself; the next run takes it over with a warning.
                logger.warning("Could not delete the run lock", extra={"lock": self.location})
        self._etag = None

    def __enter__(self) -> RunLock:
        self.acquire()
        self._stop_renewing.clear()
        self._renewer = threading.Thread(target=self._keep_renewed, name="run-lock", daemon=True)
        self._renewer.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    def _keep_renewed(self) -> None:
        # Renewed at a third of its lifetime, so two missed renewals still leave it held.
        while not self._stop_renewing.wait(self._ttl.total_seconds() / 3):
            try:
                self.renew()
            except RetriesExhaustedError:
                logger.warning("Renewing the run lock failed; retrying at the next interval")

    def _read(self) -> tuple[str, LockHolder | None] | None:
        try:
            response = self._s3.get_object(Bucket=self._bucket, Key=self.key)
        except ClientError as exc:
            if error_code(exc) in NOT_FOUND_CODES:
                return None
            raise RetriesExhaustedError(
                f"could not read the run lock {self.location} ({error_code(exc)})"
            ) from exc
        except BotoCoreError as exc:
            raise RetriesExhaustedError(
                f"could not reach S3 for the run lock {self.location} ({error_code(exc)})"
            ) from exc
        return response["ETag"], LockHolder.from_json(response["Body"].read())

    def _put(self, body: bytes, condition: dict[str, Any]) -> str:
        try:
            response = self._s3.put_object(
                Bucket=self._bucket,
                Key=self.key,
                Body=body,
                ContentType="application/json",
                **condition,
            )
        except ClientError as exc:
            if error_code(exc) in CONDITION_FAILED_CODES:
                raise _LockTaken from exc
            raise RetriesExhaustedError(
                f"could not write the run lock {self.location} ({error_code(exc)})"
            ) from exc
        except BotoCoreError as exc:
            raise RetriesExhaustedError(
                f"could not reach S3 for the run lock {self.location} ({error_code(exc)})"
            ) from exc
        return response["ETag"]


class _LockTaken(Exception):
    """A conditional lock write lost: someone else holds or just changed the lock."""
