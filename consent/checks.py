"""System checks: fail at startup, not with a 500 at the first OAuth request."""

from __future__ import annotations

from authlib.common.security import is_secure_transport
from django.conf import settings
from django.core.checks import Error, register


@register()
def public_base_url_is_secure(app_configs, **kwargs) -> list[Error]:
    """OAuth 2.0 needs TLS (RFC 6749 §3.1); authlib refuses plain http except on loopback."""
    if is_secure_transport(settings.PUBLIC_BASE_URL + "/oauth/token"):
        return []
    return [
        Error(
            f"PUBLIC_BASE_URL={settings.PUBLIC_BASE_URL} is neither https nor a loopback address",
            hint="Serve the gateway over https (or set AUTHLIB_INSECURE_TRANSPORT=1 for a lab).",
            id="consent.E001",
        )
    ]
