"""Webhook signing secrets: made, stored encrypted, and read back for signing.

Standard Webhooks signs with HMAC-SHA256, so the service needs the secret itself at every
delivery: it cannot be hashed like a password. It is stored encrypted (Fernet: AES-128-CBC
with an HMAC-SHA256 tag) under a key derived from SECRET_KEY by HKDF-SHA256 with a fixed
context label, so the signing key of the tokens and the key of these secrets are never the
same bytes.

If SECRET_KEY changes, the secrets stored under the old one cannot be decrypted any more
(`decrypt` raises `UndecryptableSecret`): their endpoints cannot be signed for until their
owners rotate them (POST /webhooks/{id}/rotate-secret), which stores a new one under the
new key.
"""

import base64
import functools
from datetime import datetime
from secrets import token_bytes

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from app.webhooks.models import WebhookEndpoint

PREFIX = "whsec_"
SECRET_BYTES = 32  # Standard Webhooks asks for 24 to 64
# The context label: another use of SECRET_KEY derives other bytes from another label.
_HKDF_INFO = b"checkpoint-clearance-tracker webhook signing secrets v1"


class UndecryptableSecret(ValueError):
    """The stored secret was encrypted under another SECRET_KEY (or is corrupt)."""


def new_secret() -> str:
    """`whsec_` + base64 of 32 random bytes: what `standardwebhooks.Webhook(secret)` takes."""
    return PREFIX + base64.b64encode(token_bytes(SECRET_BYTES)).decode("ascii")


@functools.lru_cache(maxsize=4)
def _fernet(key: str) -> Fernet:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_HKDF_INFO).derive(
        key.encode()
    )
    return Fernet(base64.urlsafe_b64encode(derived))


def encrypt(secret: str, key: str) -> str:
    """The secret encrypted under `key` (settings.secret_key), as text for the column."""
    return _fernet(key).encrypt(secret.encode()).decode("ascii")


def decrypt(token: str, key: str) -> str:
    try:
        return _fernet(key).decrypt(token.encode("ascii")).decode()
    except (InvalidToken, UnicodeError) as exc:
        raise UndecryptableSecret(
            "The webhook secret cannot be decrypted with this SECRET_KEY (was it changed?): "
            "rotate the endpoint's secret."
        ) from exc


def signing_secrets(endpoint: WebhookEndpoint, key: str, now: datetime) -> list[str]:
    """The secrets a message is signed with now: the current one, and the previous one
    while its 24 hours after a rotation last (one signature each, space separated, so a
    receiver still holding the old secret verifies too)."""
    secrets = [decrypt(endpoint.secret_encrypted, key)]
    if (
        endpoint.previous_secret_encrypted is not None
        and endpoint.previous_secret_expires_at is not None
        and endpoint.previous_secret_expires_at > now
    ):
        secrets.append(decrypt(endpoint.previous_secret_encrypted, key))
    return secrets
