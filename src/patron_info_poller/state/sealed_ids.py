"""Sierra record ids sealed for storage outside the process (the state's cursor ids, a
backfill plan's chunk boundaries): AES-GCM under a key derived from the bcrypt salt.

A record id is a patron identifier, so it never rests in plaintext. The salt is already
the poller's one secret that every run holds, so deriving the key from it (HKDF-SHA256,
with a purpose label) needs no new secret to manage; rotating the salt means a backfill
anyway. Each token is bound to where it is stored (`context`, e.g. "creation_id"), so a
token copied to another field does not open.
"""

from __future__ import annotations

import base64
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

TOKEN_PREFIX = "v1."
_KEY_PURPOSE = b"patron-info-poller sealed record ids v1"
_NONCE_BYTES = 12


class UnsealableId(ValueError):
    """A token that is malformed, sealed under another salt, or for another field."""


class IdSealer:
    def __init__(self, salt: str):
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_KEY_PURPOSE).derive(
            salt.encode("ascii")
        )
        self._aead = AESGCM(key)

    def __repr__(self) -> str:
        return "IdSealer(<key hidden>)"

    def seal(self, record_id: int, context: str) -> str:
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, str(record_id).encode("ascii"), context.encode())
        return TOKEN_PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode("ascii")

    def open(self, token: str, context: str) -> int:
        if not token.startswith(TOKEN_PREFIX):
            raise UnsealableId(f"{context} is not a sealed id")
        try:
            raw = base64.urlsafe_b64decode(token[len(TOKEN_PREFIX) :].encode("ascii"))
            plain = self._aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], context.encode())
            return int(plain.decode("ascii"))
        except (InvalidTag, ValueError, UnicodeError) as exc:
            raise UnsealableId(
                f"{context} does not open with this BCRYPT_SALT (sealed under another salt, "
                "for another field, or damaged)"
            ) from exc


def is_sealed(value: object) -> bool:
    return isinstance(value, str) and value.startswith(TOKEN_PREFIX)
