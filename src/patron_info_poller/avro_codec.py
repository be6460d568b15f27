"""The PatronInfo Avro schema (fetched from the Platform API) and schemaless encoding:
each Kinesis record holds exactly one datum."""

from __future__ import annotations

import io
import json
from importlib import resources
from typing import Any

import fastavro
import httpx

from .errors import FatalError
from .records import PATRON_INFO_FIELDS


def shipped_schema() -> dict[str, Any]:
    text = resources.files(__package__).joinpath("schemas/PatronInfo.avsc").read_text("utf-8")
    return json.loads(text)


def fetch_schema(url: str, client: httpx.Client) -> dict[str, Any]:
    """The schema from a Platform API envelope: {"data": {"schema": "<json string>"}}."""
    try:
        response = client.get(url)
        response.raise_for_status()
        schema = json.loads(response.json()["data"]["schema"])
    except httpx.HTTPError as exc:
        raise FatalError(f"could not fetch the PatronInfo schema ({type(exc).__name__})") from exc
    except (ValueError, KeyError, TypeError) as exc:
        raise FatalError(
            "the PatronInfo schema endpoint did not return a Platform envelope"
        ) from exc
    names = {f.get("name") for f in schema.get("fields", [])} if isinstance(schema, dict) else set()
    missing = [name for name in PATRON_INFO_FIELDS if name not in names]
    if missing:
        raise FatalError(f"the PatronInfo schema lacks fields: {', '.join(missing)}")
    return schema


class PatronInfoEncoder:
    def __init__(self, schema: dict[str, Any]):
        self._schema = fastavro.parse_schema(schema)

    def encode(self, record: dict[str, Any]) -> bytes:
        buffer = io.BytesIO()
        fastavro.schemaless_writer(buffer, self._schema, record)
        return buffer.getvalue()

    def decode(self, payload: bytes) -> dict[str, Any]:
        return fastavro.schemaless_reader(io.BytesIO(payload), self._schema, None)
