"""Where the offline index lives (TIGER_INDEX): a local path, or `s3://bucket/key`, which is
downloaded once per run into a private temporary directory (removed after the run)."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from botocore.exceptions import BotoCoreError, ClientError

from patron_info_poller.errors import ConfigurationError


def is_s3(location: str) -> bool:
    return location.startswith("s3://")


def local_index(location: str, s3_client: Any | None, download_dir: Path) -> Path:
    """A local path to the index named by TIGER_INDEX; raises ConfigurationError naming it.
    An S3 index is downloaded into `download_dir`, which the caller removes."""
    if not is_s3(location):
        path = Path(location).expanduser()
        if not path.is_file():
            raise ConfigurationError(
                f"TIGER_INDEX {location} does not exist; build it with "
                "`patron-info-poller tiger-index build`"
            )
        return path
    parts = urlsplit(location)
    bucket, key = parts.netloc, parts.path.lstrip("/")
    if not bucket or not key:
        raise ConfigurationError(f"TIGER_INDEX {location} is not s3://bucket/key")
    if s3_client is None:
        raise ConfigurationError(f"TIGER_INDEX {location} needs an S3 client")
    target = download_dir / (Path(key).name or "tiger-index.sqlite")
    try:
        s3_client.download_file(bucket, key, str(target))
    except (ClientError, BotoCoreError) as exc:
        code = (
            exc.response.get("Error", {}).get("Code", "ClientError")
            if isinstance(exc, ClientError)
            else type(exc).__name__
        )
        raise ConfigurationError(
            f"TIGER_INDEX {location} could not be downloaded ({code})"
        ) from exc
    return target
