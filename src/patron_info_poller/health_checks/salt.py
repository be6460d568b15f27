"""`bcrypt`: the salt parses, and a canary value hashes."""

from __future__ import annotations

import time

from ..config import BCRYPT_SALT_PATTERN
from ..obfuscation import obfuscate
from .context import (
    CheckContext,
    CheckFailed,
)

# What the bcrypt check hashes: a fixed value that is no patron's.
CANARY = "patron-info-poller check"


def check_bcrypt(ctx: CheckContext) -> str:
    salt = ctx.config.bcrypt_salt.get_secret_value()
    parsed = BCRYPT_SALT_PATTERN.match(salt)
    if parsed is None:  # the configuration checks it; a check does not assume it
        raise CheckFailed("BCRYPT_SALT is not a bcrypt salt")
    cost = int(parsed.group(1))
    try:
        # This thread's CPU time: the other checks running at once do not inflate it.
        started = time.thread_time()
        first = obfuscate(CANARY, salt.encode("ascii"))
        second = obfuscate(CANARY, salt.encode("ascii"))
        per_hash = (time.thread_time() - started) / 2
    except ValueError as exc:
        raise CheckFailed(f"bcrypt rejects the salt ({type(exc).__name__})") from None
    if first != second or len(first) != 31:
        raise CheckFailed("the canary does not hash to the same 31 characters twice")
    return f"cost {cost}; {per_hash * 1000:.1f} ms per hash (CPU)"
