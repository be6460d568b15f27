"""`kms`: each encrypted variable of the config file decrypts."""

from __future__ import annotations

import base64
import binascii

from botocore.exceptions import BotoCoreError, ClientError

from ..aws_errors import error_code
from .context import (
    CheckContext,
    CheckFailed,
)


def check_kms(ctx: CheckContext) -> str:
    encrypted = ctx.encrypted
    if encrypted is None:
        return "no config file (ENVIRONMENT unset): nothing to decrypt"
    if not encrypted:
        return "the config file has no ENCRYPTED_VARIABLES"
    client = ctx.client("kms")
    total = sum(1 for ciphertext in encrypted.values() if ciphertext.strip())
    # load_config reads an empty value as "not set": nothing to decrypt.
    empty = f"; {len(encrypted) - total} empty" if total < len(encrypted) else ""
    failures: list[str] = []
    decrypted = 0
    for name, ciphertext in encrypted.items():
        if not ciphertext.strip():
            continue
        try:
            blob = base64.b64decode(ciphertext, validate=True)
        except (binascii.Error, ValueError):
            failures.append(f"{name} (not base64)")
            continue
        try:
            client.decrypt(CiphertextBlob=blob)["Plaintext"].decode("utf-8")
        except ClientError as exc:
            failures.append(f"{name} ({error_code(exc)})")
        except BotoCoreError as exc:
            # KMS is out of reach: every other variable would fail the same way, slowly.
            raise CheckFailed(
                f"cannot reach KMS ({type(exc).__name__}); {decrypted} of {total} encrypted "
                "variables decrypted before"
            ) from None
        except UnicodeDecodeError:
            failures.append(f"{name} (not UTF-8 text)")
        else:
            decrypted += 1
    if failures:
        raise CheckFailed(
            f"{len(failures)} of {total} encrypted variables do not decrypt: "
            + ", ".join(failures)
            + empty
        )
    return f"{decrypted} encrypted variables decrypt{empty}"
