"""`schema`: the Platform envelope holds a schema with every field the poller writes."""

from __future__ import annotations

import httpx

from ..avro_codec import PatronInfoEncoder, fetch_schema
from ..records import PATRON_INFO_FIELDS
from .context import (
    CheckContext,
    CheckFailed,
)


def check_schema(ctx: CheckContext) -> str:
    timeout = httpx.Timeout(ctx.io_timeout)
    with httpx.Client(timeout=timeout) as http:
        schema = fetch_schema(ctx.config.patron_info_schema_url, http)  # FatalError if not
    try:
        PatronInfoEncoder(schema)
    except Exception as exc:  # fastavro's parse errors
        raise CheckFailed(f"the schema is not valid Avro ({type(exc).__name__})") from None
    return f"Platform envelope; schema has the {len(PATRON_INFO_FIELDS)} fields the poller writes"
