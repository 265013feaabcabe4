"""Registering apps (used by `createapp`, `seed_demo` and the admin)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError

from consent import scopes as scope_rules
from consent.models import App, Organization
from consent.oauth import params


@dataclass(frozen=True)
class Registered:
    app: App
    client_secret: str | None  # shown once; only its digest is stored


def validate_redirect_uri(uri: str) -> str:
    """Absolute, no fragment (RFC 6749 §3.1.2); http only for loopback hosts (RFC 8252 §7.3).

    And only what /oauth/authorize accepts in a `redirect_uri` (`consent.oauth.params`:
    printable ASCII without `"` or `\\`, not too long), so no app is registered
    with a URI it could never use.
    """
    if len(uri) > params.MAX_LENGTH or not params.describable(uri):
        raise ValidationError(
            f'redirect URI {uri!r} may hold only printable ASCII characters other than " and \\'
        )
    parts = urlsplit(uri)
    if parts.scheme not in ("https", "http") or not parts.hostname or parts.fragment:
        raise ValidationError(f"redirect URI {uri!r} must be an absolute http(s) URL without #")
    if parts.scheme == "http" and parts.hostname not in ("localhost", "127.0.0.1", "::1"):
        raise ValidationError(f"redirect URI {uri!r} must use https (http only for loopback)")
    return uri


def register_app(
    name: str,
    redirect_uris: list[str],
    *,
    mode: str = App.Mode.TEST,
    scopes: str | None = None,
    public: bool = False,
    organization: Organization | None = None,
    consent_policy: str = App.ConsentPolicy.ONE_TIME,
    purpose: str = "",
) -> Registered:
    if not redirect_uris:
        raise ValidationError("at least one redirect URI is required")
    uris = [validate_redirect_uri(u) for u in redirect_uris]
    scope = " ".join(scope_rules.split(scopes)) if scopes else scope_rules.DEFAULT_APP_SCOPES
    if scope_rules.unknown(scope):
        raise ValidationError(f"unknown scopes: {' '.join(scope_rules.unknown(scope))}")
    if mode not in App.Mode.values:
        raise ValidationError(f"mode must be one of {', '.join(App.Mode.values)}")
    app = App(
        name=name,
        client_id=secrets.token_urlsafe(16),
        redirect_uris=uris,
        mode=mode,
        scopes=scope,
        organization=organization,
        consent_policy=consent_policy,
        purpose=purpose,
    )
    secret = None if public else app.set_new_client_secret()
    app.set_new_webhook_secret()
    app.full_clean(exclude=["client_secret_hash", "webhook_secret"])
    app.save()
    return Registered(app=app, client_secret=secret)
