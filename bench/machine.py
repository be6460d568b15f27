"""What the bench measures of the machine itself: the bcrypt rate with every core busy
(the ceiling no poller can pass), and the busy CPU seconds of every process."""

from __future__ import annotations

import os
import time
from pathlib import Path

from patron_info_poller.obfuscation import Obfuscator


def bcrypt_rate(salt: str, seconds: float = 4.0) -> float:
    """Hashes per second with every core busy, through the poller's own Obfuscator."""
    obfuscator = Obfuscator(salt)
    try:
        obfuscator.obfuscate_many([f"warmup-{i}" for i in range(cores() * 4)])
        done, started, round_number = 0, time.monotonic(), 0
        while time.monotonic() - started < seconds:
            values = [f"ceiling-{round_number}-{i}" for i in range(cores() * 50)]
            obfuscator.obfuscate_many(values)
            done += len(values)
            round_number += 1
        return done / (time.monotonic() - started)
    finally:
        obfuscator.close()


def machine_cpu_seconds() -> float:
    """Busy CPU seconds of the whole machine so far (every process, every core)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def cores() -> int:
    return os.cpu_count() or 1
