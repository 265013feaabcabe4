"""Syntax checks on OAuth request parameters, before authlib or the database sees them.

RFC 6749 §3.1 and §3.2: parameters MUST NOT be repeated. RFC 6749 Appendix A:
client ids, scopes, response and grant types, redirect URIs and PKCE values
are printable ASCII. Both matter beyond the letter of the RFC: authlib copies
some of these values into `error_description` and raises ValueError (a 500)
when they hold characters outside %x20-21 / %x23-5B / %x5D-7E, and
PostgreSQL refuses NUL in text and JSON (the flow stores `state` and `nonce`).
A malformed request gets `invalid_request`, never a server error.
"""

from __future__ import annotations

from itertools import chain

from django.http import HttpRequest

# Values authlib may echo in an error description: printable ASCII without `"` and `\`.
STRICT = frozenset(
    {
        "client_id",
        "response_type",
        "grant_type",
        "redirect_uri",
        "scope",
        "aud",
        "code_challenge",
        "code_challenge_method",
        "code_verifier",
        "token_type_hint",
    }
)
# Opaque values: anything printable, but no control characters (NUL, CR, LF, ...).
OPAQUE = frozenset(
    {"state", "nonce", "launch", "code", "refresh_token", "token", "client_secret", "external_id"}
)
# Long enough for any honest value (a scope listing every resource type is ~2 kB).
MAX_LENGTH = 4096


def describable(value: str) -> bool:
    """Whether `value` may appear in an `error_description` (RFC 6749 §5.2)."""
    return all(0x20 <= ord(c) <= 0x7E and c not in '"\\' for c in value)


def _opaque(value: str) -> bool:
    return not any(ord(c) < 0x20 or ord(c) == 0x7F for c in value)


def problem(request: HttpRequest) -> str | None:
    """Why the request's OAuth parameters are malformed, or None when they are fine.

    The description names only our own parameter names, never the values sent.
    """
    seen: set[str] = set()
    for name, values in chain(request.GET.lists(), request.POST.lists()):
        if name not in STRICT and name not in OPAQUE:
            continue  # unknown parameters are ignored (RFC 6749 §3.1)
        if name in seen or len(values) > 1:
            return f"Parameter '{name}' is repeated."
        seen.add(name)
        value = values[0]
        if len(value) > MAX_LENGTH:
            return f"Parameter '{name}' is too long."
        if not (describable(value) if name in STRICT else _opaque(value)):
            return f"Parameter '{name}' holds characters it may not hold."
    return None
