"""The CLI as operators run it: `python main.py COMMAND ...` in its own process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def cli_environment(environment: dict[str, str]) -> dict[str, str]:
    """The test process's environment without its AWS or ENVIRONMENT settings, plus these."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k != "ENVIRONMENT"}
    env.update(environment)
    return env


def run_cli(
    arguments: list[str],
    environment: dict[str, str],
    cwd: Path,
    *,
    stdin: str | None = None,
    timeout: float = 300,
) -> subprocess.CompletedProcess:
    """Runs in `cwd`, so files it leaves can be found; reads config/ from the checkout."""
    return subprocess.run(
        [sys.executable, str(ROOT / "main.py"), *arguments],
        cwd=cwd,
        env=cli_environment(environment),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def start_cli(arguments: list[str], environment: dict[str, str], cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(ROOT / "main.py"), *arguments],
        cwd=cwd,
        env=cli_environment(environment),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
