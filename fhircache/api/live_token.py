"""The bearer-token lookup of the read path, compiled once per process.

`consent.bearer.authenticate` is the one definition of a live token
(`IssuedToken.objects.live_access()`), but building that ORM query and four
models' instances costs more per request than the read itself. This module
compiles the very same queryset once — with a sentinel digest — and then only
executes its SQL with the request's digest and the current time, building the
token, its app and its consent with `Model.from_db` from the few columns the API uses
(other fields load on first access, as deferred fields do). If the definition
ever holds a parameter this cannot re-bind (anything but the digest and "now"),
it falls back to `consent.bearer.authenticate`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache

from django.db import connection
from django.utils import timezone

from consent import bearer
from consent.models import App, Consent, IssuedToken
from consent.secrets import digest

TOKEN_FIELDS = ("id", "app_id", "consent_id", "grant_type", "scope", "access_expires_at")
CONSENT_FIELDS = ("id", "app_id", "payer_id", "patient_id", "status", "data_state", "expires_at")
APP_FIELDS = ("id", "client_id", "is_active")  # the rate limit keys on client_id
_CONSENT_LOOKUPS = (
    "consent__id",
    "consent__app",
    "consent__payer",
    *(f"consent__{f}" for f in CONSENT_FIELDS[3:]),
)
_SENTINEL = "sentinel-digest-never-a-sha256-hex"  # not 64 hex digits: matches no row


@dataclass(frozen=True)
class _Compiled:
    sql: str
    params: tuple
    digest_at: int
    now_at: tuple[int, ...]


@cache
def _compiled() -> _Compiled | None:
    built_at = timezone.now()
    query = (
        IssuedToken.objects.live_access()
        .filter(access_token_hash=_SENTINEL)
        .values_list(
            *TOKEN_FIELDS[:2],
            "consent",
            *TOKEN_FIELDS[3:],
            "app__client_id",
            "app__is_active",
            *_CONSENT_LOOKUPS,
        )[:1]
    )
    sql, params = query.query.sql_with_params()
    digest_at = [i for i, p in enumerate(params) if p == _SENTINEL]
    now_at = tuple(i for i, p in enumerate(params) if isinstance(p, datetime))
    recent = all(abs((params[i] - built_at).total_seconds()) < 60 for i in now_at)
    if len(digest_at) != 1 or not now_at or not recent:
        return None  # a definition this cannot re-bind: use the ORM every time
    return _Compiled(sql, tuple(params), digest_at[0], now_at)


def authenticate(access_token: str) -> IssuedToken | None:
    """What `consent.bearer.authenticate` answers, with `token.consent` preloaded."""
    if not access_token:
        return None
    compiled = _compiled()
    if compiled is None:
        return bearer.authenticate(access_token)
    params = list(compiled.params)
    params[compiled.digest_at] = digest(access_token)
    now = timezone.now()
    for i in compiled.now_at:
        params[i] = now
    with connection.cursor() as cursor:
        cursor.execute(compiled.sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    width = len(TOKEN_FIELDS)
    token = IssuedToken.from_db(connection.alias, TOKEN_FIELDS, row[:width])
    token.app = App.from_db(connection.alias, APP_FIELDS, (token.app_id, *row[width : width + 2]))
    consent = row[width + 2 :]
    if consent[0] is not None:
        token.consent = Consent.from_db(connection.alias, CONSENT_FIELDS, consent)
    return token
