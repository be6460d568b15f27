"""boto3 clients built from the configuration, so the same code talks to AWS or to a local
emulator (AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_<SERVICE>, as boto3 itself documents)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config as BotocoreConfig

if TYPE_CHECKING:
    from .config import PollerConfig

# botocore's own retries stay small: the poller retries by error tier around each call.
_BOTOCORE_CONFIG = BotocoreConfig(
    retries={"mode": "standard", "max_attempts": 3},
    connect_timeout=10,
    read_timeout=60,
)


def aws_client(
    config: PollerConfig, service: str, botocore_config: BotocoreConfig | None = None
) -> Any:
    """A client of `service`; `botocore_config` overrides the timeouts and retries."""
    secret = config.aws_secret_access_key
    token = config.aws_session_token
    session = boto3.session.Session(
        aws_access_key_id=config.aws_access_key_id,
        aws_secret_access_key=secret.get_secret_value() if secret else None,
        aws_session_token=token.get_secret_value() if token else None,
        region_name=config.aws_region,
    )
    return session.client(
        service,
        endpoint_url=config.endpoint_url(service),
        config=botocore_config or _BOTOCORE_CONFIG,
    )


_bootstrap_clients: dict[tuple[str | None, ...], Any] = {}


def kms_client_for_bootstrap(variables: Mapping[str, str]) -> Any:
    """A KMS client from raw variables, before the configuration can be validated."""
    key = tuple(
        variables.get(name)
        for name in (
            "AWS_REGION",
            "AWS_ENDPOINT_URL_KMS",
            "AWS_ENDPOINT_URL",
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
        )
    )
    if key not in _bootstrap_clients:
        region, kms_endpoint, endpoint, key_id, secret, token = key
        session = boto3.session.Session(
            aws_access_key_id=key_id or None,
            aws_secret_access_key=secret or None,
            aws_session_token=token or None,
            region_name=region or None,
        )
        _bootstrap_clients[key] = session.client(
            "kms", endpoint_url=kms_endpoint or endpoint or None, config=_BOTOCORE_CONFIG
        )
    return _bootstrap_clients[key]
