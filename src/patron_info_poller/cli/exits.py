"""How every command ends: one line on stderr that says what to fix, and an exit code.

Exit codes: 0 done; 1 failed; 2 invalid configuration or arguments; 3 unreadable or
corrupt state; 4 a service stayed unavailable past its retries; 143 (SIGTERM) or 130
(SIGINT) stopped between batches.
"""

from __future__ import annotations

import os
import sys
from typing import NoReturn

# Re-exported: every command names an unexpected error the same way (errors.py).
from ..errors import unexpected as unexpected

PROGRAM = "patron-info-poller"


def fail(message: str, code: int) -> int:
    """Prints the one-line error and returns the exit code (for a normal return)."""
    print(f"{PROGRAM}: {message}", file=sys.stderr)
    return code


def exit_now(code: int, message: str) -> NoReturn:
    print(f"{PROGRAM}: {message}", file=sys.stderr)
    sys.stdout.flush()
    sys.stderr.flush()
    # Threads of an abandoned batch (a geocoder request in flight) are not waited for;
    # everything that matters (records, state) was written synchronously.
    os._exit(code)
