"""Signing secrets: the form Standard Webhooks takes, stored encrypted under SECRET_KEY, and
the previous secret signing beside the new one for its 24 hours only."""

import base64
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks.webhooks import Webhook

from app.webhooks import secrets
from app.webhooks.models import WebhookEndpoint
from tests.conftest import TEST_SECRET

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def test_a_new_secret_is_whsec_and_32_random_bytes_standardwebhooks_accepts() -> None:
    secret = secrets.new_secret()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 32
    assert secret != secrets.new_secret()
    # The library signs with it, and verifies what it signed.
    hook = Webhook(secret)
    msg_id, body = "msg_" + uuid.uuid4().hex, '{"type": "webhook.test"}'
    signature = hook.sign(msg_id, NOW, body)
    headers = {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(datetime.now(UTC).timestamp())),
        "webhook-signature": hook.sign(msg_id, datetime.now(UTC), body),
    }
    assert hook.verify(body, headers) == {"type": "webhook.test"}
    assert signature.startswith("v1,")


def test_encrypt_then_decrypt_gives_the_secret_and_the_token_does_not_show_it() -> None:
    secret = secrets.new_secret()
    token = secrets.encrypt(secret, TEST_SECRET)
    assert secrets.decrypt(token, TEST_SECRET) == secret
    assert secret not in token
    assert secret.removeprefix("whsec_") not in token
    # A fresh IV each time: two encryptions of one secret differ.
    assert secrets.encrypt(secret, TEST_SECRET) != token
    assert len(token) <= 500  # the column's size


def test_a_secret_encrypted_under_another_secret_key_cannot_be_decrypted() -> None:
    token = secrets.encrypt(secrets.new_secret(), TEST_SECRET)
    with pytest.raises(secrets.UndecryptableSecret, match="rotate"):
        secrets.decrypt(token, TEST_SECRET + "-changed")
    with pytest.raises(secrets.UndecryptableSecret):
        secrets.decrypt("not a token", TEST_SECRET)


def endpoint_with(current: str, previous: str | None, expires: datetime | None) -> WebhookEndpoint:
    return WebhookEndpoint(
        secret_encrypted=secrets.encrypt(current, TEST_SECRET),
        previous_secret_encrypted=(
            secrets.encrypt(previous, TEST_SECRET) if previous is not None else None
        ),
        previous_secret_expires_at=expires,
    )


def test_the_previous_secret_signs_until_it_expires_and_not_at_or_after() -> None:
    new, old = secrets.new_secret(), secrets.new_secret()
    endpoint = endpoint_with(new, old, NOW + timedelta(hours=24))
    assert secrets.signing_secrets(endpoint, TEST_SECRET, NOW) == [new, old]
    almost = NOW + timedelta(hours=24) - timedelta(seconds=1)
    assert secrets.signing_secrets(endpoint, TEST_SECRET, almost) == [new, old]
    assert secrets.signing_secrets(endpoint, TEST_SECRET, NOW + timedelta(hours=24)) == [new]
    assert secrets.signing_secrets(endpoint, TEST_SECRET, NOW + timedelta(days=2)) == [new]


def test_without_a_rotation_only_the_current_secret_signs() -> None:
    secret = secrets.new_secret()
    assert secrets.signing_secrets(endpoint_with(secret, None, None), TEST_SECRET, NOW) == [secret]
