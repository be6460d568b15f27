"""A real PostgreSQL (the pgserver package's binaries) listening on TCP like production.

The admin role `postgres` connects over a private unix socket with trust; every TCP
connection must authenticate with a password (scram-sha-256), as Sierra and Redshift do.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import warnings
from importlib import resources
from pathlib import Path
from types import TracebackType

import psycopg
from psycopg import sql

with warnings.catch_warnings():
    # platformdirs warns at pgserver's import when XDG_RUNTIME_DIR is unset (containers,
    # CI); pgserver only keeps a lock file there, and tests turn warnings into errors.
    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR")
    import pgserver

logger = logging.getLogger(__name__)

HOST = "127.0.0.1"
ADMIN_USER = "postgres"
SIERRA_DB = "iii"
SIERRA_READER = "sierra_reader"
WAREHOUSE_DB = "dev"
WAREHOUSE_READER = "warehouse_reader"

PG_HBA = f"""\
# Written by embedded_stack.postgres: admin over the private socket, passwords over TCP.
local all all trust
host  all all {HOST}/32 scram-sha-256
"""

# Durability is pointless for a throwaway cluster; these make seeding fast.
SERVER_SETTINGS = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
}


def free_port(host: str = HOST) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def read_sql(name: str) -> str:
    return (resources.files("embedded_stack") / "sql" / name).read_text(encoding="utf-8")


def table_identifier(table: str) -> sql.Identifier:
    """`table` or `schema.table` (the poller's REDSHIFT_TABLE form) as a quoted identifier."""
    return sql.Identifier(*table.split("."))


class EmbeddedPostgres:
    """A throwaway cluster in its own temporary directory, removed by stop().

    The directory is private rather than under a caller's workdir: as root, postgres runs
    as the `pgserver` user, which must traverse every parent directory, and pytest resets
    its temp root to 0700 whenever another session starts.
    """

    def __init__(self) -> None:
        self.host = HOST
        self.port = 0
        self.pgdata: Path | None = None
        self._system_user: str | None = None
        self._running = False

    def admin_conninfo(self, dbname: str = "postgres") -> str:
        """Superuser over the unix socket, which lives in the data directory."""
        if self.pgdata is None:
            raise RuntimeError("postgres is not started")
        return psycopg.conninfo.make_conninfo(
            host=str(self.pgdata), port=self.port, dbname=dbname, user=ADMIN_USER
        )

    def start(self) -> EmbeddedPostgres:
        if self.pgdata is not None:
            return self
        try:
            self.pgdata = Path(tempfile.mkdtemp(prefix="embedded-pg-"))
            self._initialise(self.pgdata)
            self.port = free_port()
            self._launch()
        except BaseException:
            self.stop()
            raise
        atexit.register(self.stop)
        return self

    def stop(self) -> None:
        if self.pgdata is None:
            return
        if self._running or self._postmaster_running():
            self._shutdown()
        shutil.rmtree(self.pgdata, ignore_errors=True)
        self.pgdata = None
        atexit.unregister(self.stop)

    def restart(self, downtime_seconds: float = 0.0) -> None:
        """Stops the server (dropping every connection) and starts it on the same port."""
        self._shutdown()
        time.sleep(downtime_seconds)
        self._launch()

    def terminate_backends(self, dbname: str) -> int:
        """Kills every session on `dbname`, as a failover would; returns how many."""
        with psycopg.connect(self.admin_conninfo(), autocommit=True) as conn:
            rows = conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = %s AND pid <> pg_backend_pid()",
                (dbname,),
            ).fetchall()
        return sum(1 for (terminated,) in rows if terminated)

    def create_database(self, dbname: str, *, schema_sql: str = "") -> None:
        with psycopg.connect(self.admin_conninfo(), autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
            # Only the roles granted CONNECT below may reach each database.
            conn.execute(
                sql.SQL("REVOKE CONNECT ON DATABASE {} FROM PUBLIC").format(sql.Identifier(dbname))
            )
        if schema_sql:
            with psycopg.connect(self.admin_conninfo(dbname), autocommit=True) as conn:
                conn.execute(schema_sql)

    def create_reader(self, dbname: str, role: str, password: str, *, schema: str) -> None:
        """A login role that may only read `schema` in `dbname`, read-only by default."""
        role_id, db_id, schema_id = (sql.Identifier(n) for n in (role, dbname, schema))
        statements = [
            sql.SQL("ALTER ROLE {} SET default_transaction_read_only = on").format(role_id),
            sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(db_id, role_id),
            sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(schema_id, role_id),
            sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA {} TO {}").format(schema_id, role_id),
            sql.SQL("ALTER DEFAULT PRIVILEGES IN SCHEMA {} GRANT SELECT ON TABLES TO {}").format(
                schema_id, role_id
            ),
        ]
        with psycopg.connect(self.admin_conninfo(dbname), autocommit=True) as conn:
            # Hashed client-side, so the plaintext never reaches the server (or its log).
            verifier = conn.pgconn.encrypt_password(
                password.encode(), role.encode(), b"scram-sha-256"
            ).decode()
            conn.execute(
                sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(role_id, sql.Literal(verifier))
            )
            for statement in statements:
                conn.execute(statement)

    def _initialise(self, pgdata: Path) -> None:
        # pgserver runs initdb, and as root creates the `pgserver` system user and fixes
        # permissions; it starts a socket-only server, which is stopped for a TCP one.
        server = pgserver.PostgresServer(pgdata, cleanup_mode=None)
        self._system_user = server.system_user
        if self._postmaster_running():
            self._pg_ctl("-m", "fast", "stop")
        (pgdata / "pg_hba.conf").write_text(PG_HBA, encoding="utf-8")

    def _postmaster_running(self) -> bool:
        return self._postmaster_pid() is not None

    def _postmaster_pid(self) -> int | None:
        """The pid in postmaster.pid if that process is alive (initdb writes negative ones)."""
        if self.pgdata is None:
            return None
        try:
            pid = int((self.pgdata / "postmaster.pid").read_text().split()[0])
            if pid > 0:
                os.kill(pid, 0)
                return pid
        except (OSError, IndexError, ValueError):
            pass
        return None

    def _pg_ctl(self, *args: str) -> None:
        pgserver.pg_ctl(["-w", "-t", "30", *args], pgdata=self.pgdata, user=self._system_user)

    def _launch(self) -> None:
        assert self.pgdata is not None
        settings = " ".join(f"-c {name}={value}" for name, value in SERVER_SETTINGS.items())
        options = f"-h {self.host} -p {self.port} -k {self.pgdata} {settings}"
        logfile = self.pgdata / "server.log"
        try:
            self._pg_ctl("-o", options, "-l", str(logfile), "start")
        except subprocess.CalledProcessError:
            last_lines = logfile.read_text(errors="replace").splitlines()[-3:]
            raise RuntimeError("postgres did not start: " + " / ".join(last_lines)) from None
        self._running = True
        logger.info("postgres listening on %s:%d", self.host, self.port)

    def _shutdown(self) -> None:
        try:
            self._pg_ctl("-m", "fast", "stop")
        except subprocess.CalledProcessError:
            logger.warning("pg_ctl stop failed; postgres may already be down")
            self._kill_postmaster()
        self._running = False

    def _kill_postmaster(self) -> None:
        pid = self._postmaster_pid()
        if pid is None:
            return
        # SIGQUIT is postgres's immediate shutdown: the postmaster takes its children along.
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGQUIT)
        deadline = time.monotonic() + 10
        while self._postmaster_pid() == pid and time.monotonic() < deadline:
            time.sleep(0.1)

    def __enter__(self) -> EmbeddedPostgres:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def create_sierra(postgres: EmbeddedPostgres, reader_password: str) -> None:
    """Sierra's `iii` database with the sierra_view tables and a read-only reporting role."""
    postgres.create_database(SIERRA_DB, schema_sql=read_sql("sierra.sql"))
    postgres.create_reader(SIERRA_DB, SIERRA_READER, reader_password, schema="sierra_view")


def create_warehouse(postgres: EmbeddedPostgres, table: str, reader_password: str) -> None:
    """The warehouse `dev` database holding `table` (optionally schema-qualified)."""
    schema, _, name = table.rpartition(".")
    ddl = sql.SQL(read_sql("warehouse.sql")).format(
        table=table_identifier(table), index=sql.Identifier(f"{name}_address_hash")
    )
    postgres.create_database(WAREHOUSE_DB)
    with psycopg.connect(postgres.admin_conninfo(WAREHOUSE_DB), autocommit=True) as conn:
        if schema:
            conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
        conn.execute(ddl)
    postgres.create_reader(
        WAREHOUSE_DB, WAREHOUSE_READER, reader_password, schema=schema or "public"
    )
