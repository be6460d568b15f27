"""`sierra` and `warehouse`: connect, read what the poller's queries read."""

from __future__ import annotations

import re
from typing import Any

import psycopg
from psycopg import sql

from .. import parts
from ..databases.connection import DatabaseSettings
from ..databases.sierra import BATCH_QUERY
from ..records import PATRON_INFO_FIELDS
from .context import (
    CheckContext,
    CheckFailed,
)

# SQLSTATEs worth a phrase; others are named by exception type and code.
_SQLSTATE_PHRASES = {
    "28P01": "password authentication failed",
    "28000": "access rejected",
    "3D000": "no such database",
    "3F000": "no such schema",
    "42P01": "no such table or view",
    "42703": "no such column",
    "42501": "permission denied",
    "53300": "too many connections",
    "57014": "statement timed out",
}
# libpq's connection messages quote the host: matched against, never shown.
_CONNECT_PHRASES = (
    ("connection refused", "connection refused"),
    ("timeout expired", "connect timed out"),
    ("could not translate host name", "host name not found"),
    ("no route to host", "no route to host"),
    ("network is unreachable", "network unreachable"),
    ("invalid response to ssl negotiation", "not a PostgreSQL server"),
    ("expected authentication request", "not a PostgreSQL server"),
    ("server does not support ssl", "the server does not offer TLS, which sslmode requires"),
    ("certificate", "TLS certificate rejected"),
    ("ssl", "TLS failed"),
)

# The views the poller's batch query reads, taken from the query so they cannot drift.
SIERRA_VIEWS = tuple(dict.fromkeys(re.findall(r"\bsierra_view\.(\w+)", BATCH_QUERY)))


def _pg_reason(exc: psycopg.Error) -> str:
    detail = type(exc).__name__ + (f", SQLSTATE {exc.sqlstate}" if exc.sqlstate else "")
    phrase = _SQLSTATE_PHRASES.get(exc.sqlstate or "")
    if phrase is None and exc.sqlstate is None:
        message = str(exc).lower()
        phrase = next((p for needle, p in _CONNECT_PHRASES if needle in message), None)
    return f"{phrase} ({detail})" if phrase else detail


def _connect(ctx: CheckContext, settings: DatabaseSettings) -> psycopg.Connection[Any]:
    """A connection as the run makes it (parts.py's settings), with the check's timeouts."""
    s = settings
    try:
        conn = psycopg.connect(
            host=s.host,
            port=s.port,
            dbname=s.dbname,
            user=s.user,
            password=s.password,
            connect_timeout=max(2, round(ctx.io_timeout)),  # libpq waits at least 2 s
            application_name="patron-info-poller check",
            autocommit=True,
            **({"sslmode": s.sslmode} if s.sslmode else {}),
            **s.options,
        )
    except psycopg.Error as exc:
        raise CheckFailed(f"cannot connect: {_pg_reason(exc)}") from None
    try:
        conn.execute(f"SET statement_timeout = {int(ctx.io_timeout * 1000)}")
        conn.read_only = True  # every transaction below is READ ONLY
    except psycopg.Error as exc:
        conn.close()
        raise CheckFailed(f"connected, but cannot set up the session: {_pg_reason(exc)}") from None
    return conn


def check_sierra(ctx: CheckContext) -> str:
    with _connect(ctx, parts.sierra_settings(ctx.config)) as conn:
        failures = []
        for view in SIERRA_VIEWS:
            query = sql.SQL("SELECT 1 FROM {} LIMIT 1").format(sql.Identifier("sierra_view", view))
            try:
                with conn.transaction():
                    conn.execute(query).fetchall()
            except psycopg.Error as exc:
                failures.append(f"sierra_view.{view}: {_pg_reason(exc)}")
    if failures:
        raise CheckFailed(f"connected; cannot read {'; '.join(failures)}")
    return f"connected; read {len(SIERRA_VIEWS)} views: {', '.join(SIERRA_VIEWS)}"


def check_warehouse(ctx: CheckContext) -> str:
    c = ctx.config
    table = sql.Identifier(*c.redshift_table.split("."))
    columns = sql.SQL(", ").join(map(sql.Identifier, PATRON_INFO_FIELDS))
    with _connect(ctx, parts.warehouse_settings(c)) as conn:
        try:
            # The poller's own projection, reading no row.
            with conn.transaction():
                conn.execute(sql.SQL("SELECT {} FROM {} LIMIT 0").format(columns, table))
        except psycopg.errors.UndefinedColumn:
            with conn.transaction():
                cursor = conn.execute(sql.SQL("SELECT * FROM {} LIMIT 0").format(table))
                present = {column.name for column in cursor.description or ()}
            missing = [name for name in PATRON_INFO_FIELDS if name not in present]
            raise CheckFailed(
                f"table {c.redshift_table} lacks columns: {', '.join(missing)}"
            ) from None
        except psycopg.Error as exc:
            raise CheckFailed(f"cannot read table {c.redshift_table}: {_pg_reason(exc)}") from None
    return f"table {c.redshift_table} has the {len(PATRON_INFO_FIELDS)} columns the poller reads"
