"""Password hashing (argon2id via pwdlib) and the opaque secrets used for API keys."""

import hashlib
import secrets

from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

from app.config import Settings


class Passwords:
    def __init__(self, settings: Settings) -> None:
        self._hash = PasswordHash(
            (
                Argon2Hasher(
                    time_cost=settings.argon2_time_cost, memory_cost=settings.argon2_memory_kib
                ),
            )
        )
        # Verifying against this when the user does not exist keeps the response time the
        # same as for a wrong password, so timing does not reveal which emails are registered.
        self._dummy = self._hash.hash(secrets.token_urlsafe(16))

    def hash(self, password: str) -> str:
        return self._hash.hash(password)

    def verify(self, password: str, stored_hash: str | None) -> bool:
        if stored_hash is None:
            self._hash.verify(password, self._dummy)
            return False
        return self._hash.verify(password, stored_hash)


def new_secret(prefix: str) -> str:
    """A high-entropy bearer secret (256 bits) with a readable prefix saying what it is."""
    return f"{prefix}{secrets.token_urlsafe(32)}"


def digest(secret: str) -> str:
    # High-entropy secrets need no slow hash: SHA-256 cannot be brute-forced from 256 bits,
    # and a fast digest lets a request find its key by an indexed lookup.
    return hashlib.sha256(secret.encode()).hexdigest()
