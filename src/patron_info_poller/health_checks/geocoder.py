"""`geocoder`: each provider of the chain answers (Census: a library branch's address)."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from .. import parts
from ..errors import PollerError
from ..geocoding.address import Address
from ..geocoding.census import CensusGeocoder
from ..geocoding.geosupport import GeosupportGeocoder
from ..geocoding.index_location import is_s3, local_index
from ..geocoding.tiger_index import TigerIndex
from .context import (
    Check,
    CheckContext,
    CheckFailed,
)

# What the Census check asks about: a public address, no patron's (NYPL's Stephen A.
# Schwarzman Building).
LIBRARY_BRANCH = Address("476 5th Ave", "New York", "NY", "10018")


def _census(ctx: CheckContext) -> str:
    c = ctx.config
    settings = parts.census_settings(
        c,
        batch_size=1,
        concurrency=1,
        max_reasks=0,
        max_attempts=min(2, c.geocoder_max_attempts),
        backoff_seconds=min(1.0, c.geocoder_retry_backoff_seconds),
        # Two tries and a backoff fit in the budget.
        timeout_seconds=min(c.geocoder_timeout_seconds, max(1.0, ctx.budget_seconds * 0.3)),
    )
    started = time.monotonic()
    with CensusGeocoder(settings) as geocoder:
        reply = geocoder.geocode([LIBRARY_BRANCH])  # GeocoderUnavailableError if down
    elapsed = time.monotonic() - started
    answered = 1 - min(1, reply.events["unanswered"])
    if not answered:
        raise CheckFailed(f"answered 0/1 in {elapsed:.1f} s (the reply lacked the row)")
    return f"answered 1/1 ({reply.outcomes[0].status.value}) in {elapsed:.1f} s"


def _tiger(ctx: CheckContext) -> str:
    location = ctx.config.tiger_index
    assert location  # the configuration requires it with tiger
    with tempfile.TemporaryDirectory(prefix="patron-info-poller-check-") as download_dir:
        s3 = ctx.client("s3") if is_s3(location) else None
        index = TigerIndex.open(local_index(location, s3, Path(download_dir)))
    meta = index.meta
    counties = len(meta.counties)
    listed = f" ({', '.join(meta.counties)})" if counties <= 6 else ""
    return f"index {meta.year}, {counties} count{'y' if counties == 1 else 'ies'}{listed}"


def _geosupport(ctx: CheckContext) -> str:
    GeosupportGeocoder.load().close()  # ConfigurationError naming what is missing
    return "library loads"


PROVIDER_CHECKS: dict[str, Check] = {
    "census": _census,
    "tiger": _tiger,
    "geosupport": _geosupport,
}


def check_geocoder(ctx: CheckContext) -> str:
    """Every provider of the chain, in order, each reported whatever the others did."""
    parts = []
    failed = False
    for name in ctx.config.geocoder:
        try:
            parts.append(f"{name}: {PROVIDER_CHECKS[name](ctx)}")
        except (CheckFailed, PollerError) as exc:
            failed = True
            parts.append(f"{name}: {exc}")
        except Exception as exc:
            failed = True
            parts.append(f"{name}: unexpected {type(exc).__name__}")
    reason = "; ".join(parts)
    if failed:
        raise CheckFailed(reason)
    return reason
