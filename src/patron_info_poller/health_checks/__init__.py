"""Checks of every dependency the configuration names (`patron-info-poller check`): one
module per dependency, `context.py` for what they share, `running.py` to run them all."""

from .aws import check_kinesis, check_s3
from .context import (
    CANARY,
    CHECK_NAMES,
    DEFAULT_BUDGET_SECONDS,
    LIBRARY_BRANCH,
    SIERRA_VIEWS,
    Check,
    CheckContext,
    CheckFailed,
    CheckResult,
    encrypted_variables,
)
from .databases import check_sierra, check_warehouse
from .geocoder import check_geocoder
from .kms import check_kms
from .running import (
    CHECKS,
    attempt,
    checks_left_running,
    mask_secrets,
    one_line,
    run_checks,
    secret_values,
)
from .salt import check_bcrypt
from .schema import check_schema

__all__ = [
    "CANARY",
    "CHECKS",
    "CHECK_NAMES",
    "DEFAULT_BUDGET_SECONDS",
    "LIBRARY_BRANCH",
    "SIERRA_VIEWS",
    "Check",
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
    "mask_secrets",
    "one_line",
    "run_checks",
    "secret_values",
]
