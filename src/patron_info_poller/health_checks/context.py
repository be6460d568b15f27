"""What the checks share: the context they run in, their result, their failure."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.config import Config as BotocoreConfig

from ..aws_clients import aws_client
from ..config import PollerConfig, read_config_file

CHECK_NAMES = ("kms", "sierra", "warehouse", "s3", "kinesis", "schema", "geocoder", "bcrypt")
DEFAULT_BUDGET_SECONDS = 30.0


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
