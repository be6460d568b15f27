"""A PostgreSQL-protocol connection (Sierra, Redshift) that reconnects and retries.

Every query the poller makes is a read, so running it again after a dropped connection,
a server restart or a statement timeout is safe; the number of tries is bounded.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import psycopg
from psycopg.rows import dict_row
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from ..errors import FatalError, SourceUnavailableError

logger = logging.getLogger(__name__)

T = TypeVar("T")
Cursor = psycopg.Cursor[dict[str, Any]]


@dataclass(frozen=True)
class DatabaseSettings:
    name: str  # "Sierra" or "warehouse", for messages
    host: str
    port: int
    dbname: str
    user: str
    password: str = field(repr=False)
    sslmode: str | None = None
    connect_timeout: int = 30
    max_attempts: int = 4
    backoff_seconds: float = 1.0
    # Extra psycopg.connect() keywords (e.g. Redshift's encoding and client-side binding).
    options: dict[str, Any] = field(default_factory=dict)


class ReconnectingDatabase:
    def __init__(self, settings: DatabaseSettings):
        self._settings = settings
        self._conn: psycopg.Connection[dict[str, Any]] | None = None

    def read(self, work: Callable[[Cursor], T]) -> T:
        """Runs `work` in a read-only transaction, reconnecting on connection errors."""
        s = self._settings
        retrying = Retrying(
            retry=retry_if_exception_type(psycopg.OperationalError),
            stop=stop_after_attempt(s.max_attempts),
            wait=wait_exponential(multiplier=s.backoff_seconds, max=30),
            before_sleep=self._reconnect_later,
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    conn = self._connection()
                    with conn.transaction(), conn.cursor() as cur:
                        return work(cur)
        except psycopg.OperationalError as exc:
            self.close()
            # psycopg's message can quote the server, which may quote a value: not shown.
            raise SourceUnavailableError(
                f"{s.name} query failed after {attempt.retry_state.attempt_number} tries "
                f"({type(exc).__name__}, SQLSTATE {exc.sqlstate or 'none'})"
            ) from exc
        except psycopg.Error as exc:
            self.close()
            # Not an outage: a permission, a schema or a value the driver cannot read.
            raise FatalError(
                f"{s.name} query failed ({type(exc).__name__}, "
                f"SQLSTATE {exc.sqlstate or 'none'}); retrying will not help"
            ) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _connection(self) -> psycopg.Connection[dict[str, Any]]:
        if self._conn is None or self._conn.closed:
            s = self._settings
            extra = {"sslmode": s.sslmode} if s.sslmode else {}
            self._conn = psycopg.connect(
                host=s.host,
                port=s.port,
                dbname=s.dbname,
                user=s.user,
                password=s.password,
                connect_timeout=s.connect_timeout,
                application_name="patron-info-poller",
                row_factory=dict_row,
                autocommit=True,
                **extra,
                **s.options,
            )
            self._conn.read_only = True
        return self._conn

    def _reconnect_later(self, retry_state: RetryCallState) -> None:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        logger.warning(
            "Database connection failed; reconnecting",
            extra={
                "database": self._settings.name,
                "attempt": retry_state.attempt_number,
                "error_type": type(exc).__name__,
                "sqlstate": getattr(exc, "sqlstate", None),
            },
        )
        self.close()

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None
