"""The Platform API's current-schema endpoint, serving the shipped PatronInfo schema."""

from __future__ import annotations

import json
from collections.abc import Iterable
from importlib import resources
from typing import Any

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Response

SCHEMA_PATH = "/api/v0.1/current-schemas/PatronInfo"


def shipped_schema() -> str:
    schemas = resources.files("patron_info_poller") / "schemas"
    return (schemas / "PatronInfo.avsc").read_text(encoding="utf-8")


class SchemaService:
    """WSGI app: GET SCHEMA_PATH answers the Platform API envelope, anything else 404/405."""

    def __init__(self, schema: str | None = None):
        self.schema = shipped_schema() if schema is None else schema
        self._urls = Map([Rule(SCHEMA_PATH, endpoint="schema", methods=["GET"])])

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        try:
            self._urls.bind_to_environ(environ).match()
        except HTTPException as error:
            return error(environ, start_response)
        envelope = {"data": {"schema": self.schema}}
        return Response(json.dumps(envelope), mimetype="application/json")(environ, start_response)
