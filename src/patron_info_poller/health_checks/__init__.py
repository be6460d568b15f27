"""Checks of every dependency the configuration names (`patron-info-poller check`): one
module per dependency, `context.py` for what they share, `running.py` to run them all.

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

from .aws import check_kinesis, check_s3
from .context import (
    CHECK_NAMES,
    DEFAULT_BUDGET_SECONDS,
    CheckContext,
    CheckFailed,
    CheckResult,
    encrypted_variables,
)
from .databases import SIERRA_VIEWS, check_sierra, check_warehouse
from .geocoder import check_geocoder
from .kms import check_kms
from .running import (
    CHECKS,
    attempt,
    checks_left_running,
    run_checks,
)
from .salt import check_bcrypt
from .schema import check_schema

__all__ = [
    "CHECKS",
    "CHECK_NAMES",
    "DEFAULT_BUDGET_SECONDS",
    "SIERRA_VIEWS",
    "CheckContext",
    "CheckFailed",
    "CheckResult",
    "attempt",
    "check_bcrypt",
    "check_geocoder",
    "check_kinesis",
    "check_kms",
    "check_s3",
    "check_schema",
    "check_sierra",
    "check_warehouse",
    "checks_left_running",
    "encrypted_variables",
    "run_checks",
]
