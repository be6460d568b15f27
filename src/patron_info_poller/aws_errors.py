"""AWS errors, by tier. Named by code only: an AWS message can quote a bucket, an ARN or
an account, so it is never shown."""

from __future__ import annotations

from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotocoreConnectionError

# Errors of a service's own capacity or health; anything else (a wrong ARN, missing
# permissions) will not get better by waiting.
SERVICE_TROUBLE_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "LimitExceededException",
        "InternalFailure",
        "InternalFailureException",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "KMSThrottlingException",
        "RequestTimeout",
    }
)
CONDITION_FAILED_CODES = frozenset({"PreconditionFailed", "ConditionalRequestConflict"})
NOT_FOUND_CODES = frozenset({"NoSuchKey", "404"})


def error_code(exc: BaseException | None) -> str:
    """A ClientError's code, or the exception's type name."""
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code") or "ClientError")
    return type(exc).__name__


def http_status(exc: ClientError) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))


def is_service_trouble(exc: BaseException) -> bool:
    """Retriable: throttling, a 5xx, or a connection that failed or dropped."""
    if isinstance(exc, ClientError):
        return error_code(exc) in SERVICE_TROUBLE_CODES or http_status(exc) >= 500
    return isinstance(exc, (BotocoreConnectionError, HTTPClientError))
