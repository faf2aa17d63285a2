"""Human tracking codes like KRD-7Q4M-2XHC: easy to read aloud over a bad phone line."""

import secrets

# No 0/O, 1/I/L: the characters people confuse when they read a code out.
ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"


def new_tracking_code() -> str:
    chars = "".join(secrets.choice(ALPHABET) for _ in range(8))
    return f"KRD-{chars[:4]}-{chars[4:]}"


def normalize(code: str) -> str:
    return code.strip().upper()
