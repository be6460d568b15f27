"""Running the checks: at once, each within its budget, one row each, secrets masked."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from pydantic import SecretStr

from ..config import PollerConfig
from ..errors import PollerError
from .aws import check_kinesis, check_s3
from .context import (
    CHECK_NAMES,
    DEFAULT_BUDGET_SECONDS,
    Check,
    CheckContext,
    CheckFailed,
    CheckResult,
)
from .databases import check_sierra, check_warehouse
from .geocoder import check_geocoder
from .kms import check_kms
from .salt import check_bcrypt
from .schema import check_schema

CHECKS: dict[str, Check] = {
    "kms": check_kms,
    "sierra": check_sierra,
    "warehouse": check_warehouse,
    "s3": check_s3,
    "kinesis": check_kinesis,
    "schema": check_schema,
    "geocoder": check_geocoder,
    "bcrypt": check_bcrypt,
}
assert tuple(CHECKS) == CHECK_NAMES

# Secret values shorter than this are not masked: they would mask digits of timings.
_MASKED_MIN_LENGTH = 4
_MASK = "<redacted>"


def one_line(text: str) -> str:
    return " ".join(text.split())


def attempt(name: str, check: Check, ctx: CheckContext) -> CheckResult:
    """Runs one check where it is called; whatever it raises becomes a fail row."""
    started = time.perf_counter()
    try:
        reason, ok = check(ctx), True
    except (CheckFailed, PollerError) as exc:
        reason, ok = str(exc), False
    except Exception as exc:
        # Its message may quote a value (a connection string, a row): the type only.
        reason, ok = f"unexpected {type(exc).__name__}", False
    return CheckResult(name, ok, time.perf_counter() - started, one_line(reason))


_running_threads: set[threading.Thread] = set()


def checks_left_running() -> int:
    """How many checks ran out of budget and still run (the CLI then exits at once)."""
    return sum(thread.is_alive() for thread in _running_threads)


def run_checks(
    config: PollerConfig,
    *,
    encrypted: Mapping[str, str] | None = None,
    budget_seconds: float = DEFAULT_BUDGET_SECONDS,
    checks: Mapping[str, Check] | None = None,
    aws: Callable[[str], Any] | None = None,
) -> list[CheckResult]:
    """Every check, at once, each within `budget_seconds`; results in `checks` order.

    `encrypted` is the config file's ENCRYPTED_VARIABLES (see `encrypted_variables`)."""
    ctx = CheckContext(config, encrypted, budget_seconds, aws)
    chosen = CHECKS if checks is None else checks
    results: dict[str, CheckResult] = {}
    threads = []
    for name, check in chosen.items():

        def work(name: str = name, check: Check = check) -> None:
            results[name] = attempt(name, check, ctx)

        thread = threading.Thread(target=work, name=f"check-{name}", daemon=True)
        thread.start()
        threads.append((name, thread))
    deadline = time.monotonic() + budget_seconds
    ordered = []
    for name, thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
        if thread.is_alive():
            _running_threads.add(thread)
            ordered.append(
                CheckResult(name, False, budget_seconds, f"no answer within {budget_seconds:g} s")
            )
        else:
            ordered.append(results[name])
    return mask_secrets(ordered, secret_values(config, encrypted or {}))


def secret_values(config: PollerConfig, encrypted: Mapping[str, str]) -> set[str]:
    """Every secret the configuration holds: its SecretStr fields, and the values of the
    variables the config file keeps encrypted."""
    by_alias = {info.alias: name for name, info in PollerConfig.model_fields.items()}
    values: set[str] = set()
    for name in PollerConfig.model_fields:
        value = getattr(config, name)
        if isinstance(value, SecretStr):
            values.add(value.get_secret_value())
    for alias in encrypted:
        value = getattr(config, by_alias.get(alias, ""), None)
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        if isinstance(value, (str, int)) and not isinstance(value, bool):
            values.add(str(value))
    return {value for value in values if len(value) >= _MASKED_MIN_LENGTH}


def mask_secrets(results: Sequence[CheckResult], values: set[str]) -> list[CheckResult]:
    masked = []
    for result in results:
        reason = result.reason
        for value in sorted(values, key=len, reverse=True):
            reason = reason.replace(value, _MASK)
        masked.append(replace(result, reason=reason))
    return masked
