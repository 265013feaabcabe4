"""Secrets we hand out (client secrets, codes, tokens, states): made random, kept hashed.

They are high-entropy random strings, so a single SHA-256 is enough to make the
stored value useless to a thief while keeping lookups indexable (the same choice
GitHub and django-oauth-toolkit make for tokens); a slow password hash would
only slow every token request down.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

TOKEN_BYTES = 32


def new_secret(nbytes: int = TOKEN_BYTES) -> str:
    return secrets.token_urlsafe(nbytes)


def digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def matches(value: str, stored_digest: str) -> bool:
    return bool(stored_digest) and hmac.compare_digest(digest(value), stored_digest)
