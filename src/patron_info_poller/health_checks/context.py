"""Checks of every dependency the configuration names (`patron-info-poller check`).

Each check returns a `CheckResult`: its name, whether it passed, how long it took and a
one-line reason. Nothing here prints, sends a record or changes the state: the databases
are read in read-only transactions, and the only write is a scratch object in the state
bucket, deleted at once.

A reason is built from fixed phrases, counts, variable, view and column names and error
codes: never a secret's value, a patron id or an address. An expected failure raises
`CheckFailed` (or a `PollerError`, whose messages follow the same rule); anything else is
reported by its exception type only. As a last guard, every secret value the
configuration holds is masked in the reasons.

Every check has a budget (30 s by default): the clients' connect and read timeouts are
set well inside it, and a check still running when it is spent is reported as failed
and left behind (its thread is a daemon).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.config import Config as BotocoreConfig

from ..aws_clients import aws_client
from ..config import PollerConfig, read_config_file
from ..databases.sierra import BATCH_QUERY
from ..geocoding.address import Address

CHECK_NAMES = ("kms", "sierra", "warehouse", "s3", "kinesis", "schema", "geocoder", "bcrypt")
DEFAULT_BUDGET_SECONDS = 30.0
# What the bcrypt check hashes: a fixed value that is no patron's.
CANARY = "patron-info-poller check"
# What the Census check asks about: a public address, no patron's (NYPL's Stephen A.
# Schwarzman Building).
LIBRARY_BRANCH = Address("476 5th Ave", "New York", "NY", "10018")
# The views the poller's batch query reads, taken from the query so they cannot drift.
SIERRA_VIEWS = tuple(dict.fromkeys(re.findall(r"\bsierra_view\.(\w+)", BATCH_QUERY)))
SCRATCH_BODY = b"written by `patron-info-poller check`; safe to delete\n"
# Secret values shorter than this are not masked: they would mask digits of timings.
MASKED_MIN_LENGTH = 4
MASK = "<redacted>"


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    seconds: float
    reason: str

    @property
    def status(self) -> str:
        return "ok" if self.ok else "fail"

    def row(self) -> tuple[str, str, str, str]:
        """The printed columns: name, ok/fail, seconds (two decimals), reason."""
        return (self.name, self.status, f"{self.seconds:.2f}", self.reason)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "ok": self.ok,
            "seconds": round(self.seconds, 3),
            "reason": self.reason,
        }


class CheckFailed(Exception):
    """An expected failure. Its message is the row's reason: it must hold no secret."""


def encrypted_variables(environment: str | None, config_dir: Path) -> dict[str, str] | None:
    """The config file's ENCRYPTED_VARIABLES (name -> base64 ciphertext); None without a
    file (ENVIRONMENT unset). Raises ConfigurationError like load_config."""
    if not environment:
        return None
    return read_config_file(config_dir, environment)[1]


@dataclass(frozen=True)
class CheckContext:
    config: PollerConfig
    # The config file's ciphertexts by variable name; None when there is no config file.
    encrypted: Mapping[str, str] | None = None
    budget_seconds: float = DEFAULT_BUDGET_SECONDS
    # service -> boto3 client; tests pass fakes.
    aws: Callable[[str], Any] | None = field(default=None, repr=False)

    @property
    def io_timeout(self) -> float:
        """Connect and read timeouts: a try and a retry fit in half the budget."""
        return min(10.0, max(1.0, self.budget_seconds / 4))

    def client(self, service: str) -> Any:
        if self.aws is not None:
            return self.aws(service)
        return aws_client(
            self.config,
            service,
            BotocoreConfig(
                retries={"mode": "standard", "total_max_attempts": 2},  # a try and a retry
                connect_timeout=self.io_timeout,
                read_timeout=self.io_timeout,
            ),
        )


Check = Callable[[CheckContext], str]  # returns the reason of a pass
