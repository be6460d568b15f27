"""The state object in the stack's S3, as tests read and plant it."""

from __future__ import annotations

import json

from embedded_stack.stack import S3_BUCKET, S3_RESOURCE
from patron_info_poller.state.sealed_ids import IdSealer
from patron_info_poller.state.store import PollerState


def state_document(stack) -> dict | None:
    """The state object as JSON, or None when there is none."""
    s3 = stack._clients["s3"]
    try:
        body = s3.get_object(Bucket=S3_BUCKET, Key=S3_RESOURCE)["Body"].read()
    except s3.exceptions.NoSuchKey:
        return None
    return json.loads(body)


def saved_state(stack, salt: str | None = None) -> PollerState | None:
    """The state as the poller reads it (its ids opened with the run's salt)."""
    document = state_document(stack)
    if document is None:
        return None
    return PollerState.from_json(document, IdSealer(salt or stack.salt))


def put_state(stack, document: dict) -> None:
    stack._clients["s3"].put_object(
        Bucket=S3_BUCKET, Key=S3_RESOURCE, Body=json.dumps(document).encode()
    )
