"""PLACEHOLDER until the endpoints' API lands (helper's file replaces it)."""

import base64
import secrets as random_secrets
from datetime import datetime

from app.webhooks.models import WebhookEndpoint


def new_secret() -> str:
    return "whsec_" + base64.b64encode(random_secrets.token_bytes(24)).decode()


def encrypt(secret: str, key: str) -> str:
    return secret


def decrypt(token: str, key: str) -> str:
    return token


def signing_secrets(endpoint: WebhookEndpoint, key: str, now: datetime) -> list[str]:
    found = [decrypt(endpoint.secret_encrypted, key)]
    if endpoint.previous_secret_encrypted and endpoint.previous_secret_expires_at:
        if endpoint.previous_secret_expires_at > now:
            found.append(decrypt(endpoint.previous_secret_encrypted, key))
    return found
